"""Ray Serve application for the Ray-trained MLP: POST {"instances": [[8 floats], ...]} -> {"predictions": [...]}."""

from __future__ import annotations

import os

import torch
from ray import serve
from starlette.requests import Request


@serve.deployment(ray_actor_options={"num_gpus": 1})
class MLPClassifier:
    def __init__(self, checkpoint: str) -> None:
        self.model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
        self.model.load_state_dict(torch.load(os.path.join(checkpoint, "model.pt"), map_location="cpu"))
        self.model.eval()

    async def __call__(self, request: Request) -> dict:
        body = await request.json()
        with torch.no_grad():
            preds = self.model(torch.tensor(body["instances"], dtype=torch.float32)).argmax(dim=1)
        return {"predictions": preds.tolist()}


app = MLPClassifier.bind(os.environ.get("CHECKPOINT_DIR", "/mnt/models/checkpoint"))

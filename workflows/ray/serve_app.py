"""Ray Serve application for the Ray-trained MLP: POST {"instances": [[8 floats], ...]} -> {"predictions": [...]}.

Deployed by workflows/ray/rayservice.yaml (this directory is the application's runtime_env working_dir); loads the
model train_ray.py publishes (MODEL_URI/model.pt). The replica's GPU request and its PyTorch come from the
deployment's options in rayservice.yaml (NUM_GPUS is the default when none are given). torch is imported in the
replica only: Serve builds the application (imports this module) on the head, where no torch is installed.
"""

import io
import os

from pyarrow import fs as pafs
from ray import serve
from starlette.requests import Request


def load_state(model_uri: str) -> dict:
    import torch

    filesystem, path = pafs.FileSystem.from_uri(model_uri)
    with filesystem.open_input_stream(path.rstrip("/") + "/model.pt") as f:
        return torch.load(io.BytesIO(f.read()), map_location="cpu", weights_only=True)


@serve.deployment(ray_actor_options={"num_gpus": float(os.environ.get("NUM_GPUS", "1"))})
class MLPClassifier:
    def __init__(self, model_uri: str) -> None:
        import torch

        self.torch = torch
        self.model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
        self.model.load_state_dict(load_state(model_uri))
        self.model.eval()

    async def __call__(self, request: Request) -> dict:
        body = await request.json()
        torch = self.torch
        with torch.no_grad():
            preds = self.model(torch.tensor(body["instances"], dtype=torch.float32)).argmax(dim=1)
        return {"predictions": preds.tolist()}


app = MLPClassifier.bind(os.environ["MODEL_URI"])

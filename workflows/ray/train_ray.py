"""Ray training job: data-parallel training of a small PyTorch MLP with Ray Train on the GPU worker group.

Submitted by workflows/ray/rayjob.yaml; writes the checkpoint to the artifacts bucket given by ARTIFACTS_URI.
"""

from __future__ import annotations

import os

import ray
import torch
from ray.train import Checkpoint, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer, prepare_model


def make_data(n: int, seed: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, :4].sum(dim=1) > 0).long()
    return x, y


def train_loop(config: dict) -> None:
    x, y = make_data(config["n_samples"])
    model = prepare_model(torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2)))
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config["lr"])
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(config["epochs"]):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
        ray.train.report({"epoch": epoch, "loss": loss.item(), "accuracy": accuracy})
    ckpt_dir = os.path.join(os.getcwd(), "checkpoint")
    os.makedirs(ckpt_dir, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(ckpt_dir, "model.pt"))
    ray.train.report({"accuracy": accuracy}, checkpoint=Checkpoint.from_directory(ckpt_dir))


def main() -> None:
    trainer = TorchTrainer(
        train_loop,
        train_loop_config={"n_samples": 4096, "lr": 1e-2, "epochs": int(os.environ.get("EPOCHS", "20"))},
        scaling_config=ScalingConfig(num_workers=int(os.environ.get("NUM_WORKERS", "1")), use_gpu=True),
        run_config=RunConfig(name="mlp", storage_path=os.environ.get("ARTIFACTS_URI", "/tmp/ray-results")),
    )
    result = trainer.fit()
    print(f"final metrics: {result.metrics}")


if __name__ == "__main__":
    main()

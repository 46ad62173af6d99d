"""Ray training job: data-parallel training of a small PyTorch MLP with Ray Train on the GPU worker group.

Submitted by workflows/ray/rayjob.yaml, which ships this directory to the cluster as the job's runtime_env
working_dir (a zip in the artifacts bucket). Ray Train keeps its checkpoints under ARTIFACTS_URI; the final model
(model.pt, a state_dict) is published to MODEL_URI, where workflows/ray/serve_app.py loads it from.
USE_GPU=0 trains on CPU (the harness's local run: same code, same Ray Train, no GPU on the machine).
"""

import os
import tempfile

import ray
import torch
from ray.train import Checkpoint, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer, prepare_model
from pyarrow import fs as pafs


def make_data(n: int, seed: int = 7) -> "tuple[torch.Tensor, torch.Tensor]":
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
    # With more than one worker prepare_model wraps the model in DistributedDataParallel: save the bare module.
    torch.save(getattr(model, "module", model).state_dict(), os.path.join(ckpt_dir, "model.pt"))
    ray.train.report({"accuracy": accuracy}, checkpoint=Checkpoint.from_directory(ckpt_dir))


def main() -> None:
    trainer = TorchTrainer(
        train_loop,
        train_loop_config={"n_samples": 4096, "lr": 1e-2, "epochs": int(os.environ.get("EPOCHS", "20"))},
        scaling_config=ScalingConfig(
            num_workers=int(os.environ.get("NUM_WORKERS", "1")), use_gpu=os.environ.get("USE_GPU", "1") != "0"
        ),
        run_config=RunConfig(name="mlp", storage_path=os.environ.get("ARTIFACTS_URI", "/tmp/ray-results")),
    )
    result = trainer.fit()
    print(f"final metrics: {result.metrics}")
    if result.checkpoint is None:
        raise RuntimeError("training reported no checkpoint")
    model_uri = os.environ.get("MODEL_URI")
    if model_uri:
        with tempfile.TemporaryDirectory() as tmp:
            local = result.checkpoint.to_directory(tmp)
            filesystem, path = pafs.FileSystem.from_uri(model_uri)
            filesystem.create_dir(path, recursive=True)
            pafs.copy_files(os.path.join(local, "model.pt"), path.rstrip("/") + "/model.pt", destination_filesystem=filesystem)
        print(f"model published to {model_uri.rstrip('/')}/model.pt")


if __name__ == "__main__":
    main()

"""Flyte training pipeline: synthetic dataset -> cached preprocessing -> GPU training -> evaluation gate.

The model is written in the layout KServe's sklearn runtime loads (a directory holding model.joblib); once it
passes the evaluation gate it is published to model_uri, the stable location
workflows/kserve/inferenceservice.yaml serves (storageUri).

Run on the cluster:  ARTIFACTS_BUCKET=$(terraform -chdir=terraform output -raw artifacts_bucket) \
                       pyflyte run --remote --service-account flyte-tasks \
                       workflows/flyte/training_pipeline.py training_pipeline
                     (flyte-tasks carries the IRSA role that reads and writes the artifacts bucket)
Run locally:         pyflyte run workflows/flyte/training_pipeline.py training_pipeline --n_samples 2000
                     (the harness's workload/flyte step runs exactly this, with raw data and the published model in
                     the S3 emulator: see harness/check/workload)

The task image is workflows/flyte/Dockerfile (the pinned, hashed workflows/requirements/flyte.txt); pass it to
`pyflyte run --remote --image`.

Arrays travel between tasks as np.ndarray outputs (flytekit offloads them as .npy files to the raw data store): a
dataclass field of type ndarray is not serializable by flytekit. No `from __future__ import annotations`: flytekit
reads the real annotations.
"""

import os
import typing
from dataclasses import dataclass

import joblib
import numpy as np
from flytekit import PodTemplate, Resources, current_context, task, workflow
from flytekit.types.directory import FlyteDirectory
from kubernetes.client import V1PodSpec, V1Toleration

# The GPU scheduling contract (helm/README.md): tolerate the GPU taint, select the GPU node group by the label
# Terraform gives it.
# Where the model is published: the InferenceService's storageUri. The bucket comes from the GitOps Bridge
# (Terraform's artifacts_bucket output), never from a name written here.
MODEL_URI = f"s3://{os.environ.get('ARTIFACTS_BUCKET', 'ARTIFACTS_BUCKET-is-not-set')}/models/sklearn-iris"

GPU_POD_TEMPLATE = PodTemplate(
    primary_container_name="primary",
    pod_spec=V1PodSpec(
        containers=[],
        node_selector={"node-role.mlops.io/gpu": "true"},
        tolerations=[V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")],
        priority_class_name="ml-training",
    ),
)


Dataset = typing.NamedTuple("Dataset", [("features", np.ndarray), ("labels", np.ndarray)])


@dataclass
class Metrics:
    accuracy: float
    n_test: int


@task(requests=Resources(cpu="500m", mem="512Mi"))
def make_dataset(n_samples: int, seed: int) -> Dataset:
    """Two Gaussian blobs per class in 4 dimensions: small, deterministic, no download."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(3, 4))
    labels = rng.integers(0, 3, size=n_samples)
    features = centers[labels] + rng.normal(0, 1, size=(n_samples, 4))
    return Dataset(features=features.astype(np.float32), labels=labels.astype(np.int64))


@task(cache=True, cache_version="1", requests=Resources(cpu="500m", mem="512Mi"))
def preprocess(features: np.ndarray, labels: np.ndarray) -> Dataset:
    """Standardise features; cached, so re-runs with the same data skip it."""
    mean = features.mean(axis=0)
    std = features.std(axis=0) + 1e-6
    return Dataset(features=((features - mean) / std).astype(np.float32), labels=labels)


@task(
    requests=Resources(cpu="2", mem="8Gi", gpu="1"),
    limits=Resources(gpu="1"),
    pod_template=GPU_POD_TEMPLATE,
)
def train(features: np.ndarray, labels: np.ndarray, max_iter: int) -> FlyteDirectory:
    """Train a classifier on the GPU node group and save it where KServe's sklearn runtime loads it."""
    from sklearn.linear_model import LogisticRegression

    n_train = int(len(labels) * 0.8)
    model = LogisticRegression(max_iter=max_iter)
    model.fit(features[:n_train], labels[:n_train])
    # The task's own working directory (a sandbox per execution), never the directory the run was started from.
    out = os.path.join(current_context().working_directory, "model")
    os.makedirs(out, exist_ok=True)
    joblib.dump(model, os.path.join(out, "model.joblib"))
    return FlyteDirectory(path=out)


@task(requests=Resources(cpu="500m", mem="1Gi"))
def evaluate(features: np.ndarray, labels: np.ndarray, model_dir: FlyteDirectory, threshold: float) -> Metrics:
    """Accuracy on the held-out 20%; fails the run below the threshold so a bad model is never served."""
    model_dir.download()
    model = joblib.load(os.path.join(model_dir.path, "model.joblib"))
    n_train = int(len(labels) * 0.8)
    x_test, y_test = features[n_train:], labels[n_train:]
    accuracy = float((model.predict(x_test) == y_test).mean())
    if accuracy < threshold:
        raise ValueError(f"accuracy {accuracy:.3f} is below the threshold {threshold:.3f}")
    return Metrics(accuracy=accuracy, n_test=len(y_test))


@task(requests=Resources(cpu="250m", mem="512Mi"))
def publish(model_dir: FlyteDirectory, metrics: Metrics, model_uri: str) -> FlyteDirectory:
    """Copy the model that passed the gate (metrics is its proof) to the URI KServe serves."""
    model_dir.download()
    return FlyteDirectory(path=model_dir.path, remote_directory=model_uri)


@workflow
def training_pipeline(
    n_samples: int = 5000,
    seed: int = 7,
    max_iter: int = 200,
    threshold: float = 0.9,
    model_uri: str = MODEL_URI,
) -> typing.Tuple[FlyteDirectory, Metrics]:
    data = make_dataset(n_samples=n_samples, seed=seed)
    clean = preprocess(features=data.features, labels=data.labels)
    model_dir = train(features=clean.features, labels=clean.labels, max_iter=max_iter)
    metrics = evaluate(features=clean.features, labels=clean.labels, model_dir=model_dir, threshold=threshold)
    published = publish(model_dir=model_dir, metrics=metrics, model_uri=model_uri)
    return published, metrics

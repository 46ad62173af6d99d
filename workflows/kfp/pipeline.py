"""Legacy Kubeflow Pipelines (KFP v2) version of the training pipeline, kept for teams not yet on Flyte.

Compile:  python workflows/kfp/pipeline.py [OUT.yaml]  (default: training_pipeline.yaml next to it)
The harness compiles it with the pinned kfp (workflows/requirements/kfp.txt) and checks the GPU step's scheduling
in the IR (workload/kfp). No `from __future__ import annotations`: kfp reads the real annotations, and string
annotations make it reject the artifact types.
"""

import sys

from kfp import compiler, dsl, kubernetes


@dsl.component(base_image="python:3.11-slim", packages_to_install=["numpy==2.1.3", "scikit-learn==1.5.2"])
def train_and_evaluate(n_samples: int, seed: int, threshold: float, model: dsl.Output[dsl.Model]) -> float:
    import os
    import pickle

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(3, 4))
    labels = rng.integers(0, 3, size=n_samples)
    features = centers[labels] + rng.normal(0, 1, size=(n_samples, 4))
    n_train = int(n_samples * 0.8)
    clf = LogisticRegression(max_iter=200).fit(features[:n_train], labels[:n_train])
    accuracy = float((clf.predict(features[n_train:]) == labels[n_train:]).mean())
    if accuracy < threshold:
        raise ValueError(f"accuracy {accuracy:.3f} below {threshold:.3f}")
    os.makedirs(model.path, exist_ok=True)
    with open(os.path.join(model.path, "model.pkl"), "wb") as f:
        pickle.dump(clf, f)
    return accuracy


@dsl.pipeline(name="training-pipeline-legacy")
def training_pipeline(n_samples: int = 5000, seed: int = 7, threshold: float = 0.9) -> None:
    step = train_and_evaluate(n_samples=n_samples, seed=seed, threshold=threshold)
    step.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(1)
    kubernetes.add_node_selector(step, label_key="node-role.mlops.io/gpu", label_value="true")
    kubernetes.add_toleration(step, key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")


if __name__ == "__main__":
    import os

    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "training_pipeline.yaml")
    compiler.Compiler().compile(training_pipeline, package_path=out)

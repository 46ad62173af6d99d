"""Stand-in for KServe's sklearn runtime (kserve/sklearnserver), which is not published on PyPI.

It loads a model the way that runtime's SKLearnModel does — KServe's own Storage.download of the storageUri, exactly
one file ending in .joblib/.pkl/.pickle in the downloaded directory, joblib.load, predict on the v2 request's input —
and serves it with KServe's own ModelServer (the package at the KServe chart's version). The one change: KServe
0.15's REST server binds 0.0.0.0 with no option for the host, so uvicorn's Config is given 127.0.0.1 here.

usage: python sklearnserver.py --model_name NAME --model_dir STORAGE_URI --http_port PORT
"""

import argparse
import os

import joblib
import uvicorn

import kserve
from kserve import Model, ModelServer
from kserve.errors import ModelMissingError
from kserve.protocol.infer_type import InferRequest
from kserve.storage import Storage
from kserve.utils.utils import get_predict_input, get_predict_response

MODEL_EXTENSIONS = (".joblib", ".pkl", ".pickle")


class SKLearnModel(Model):
    def __init__(self, name: str, model_dir: str):
        super().__init__(name)
        self.model_dir = model_dir
        self._model = None

    def load(self) -> bool:
        path = Storage.download(self.model_dir)
        files = [os.path.join(path, f) for f in sorted(os.listdir(path)) if f.endswith(MODEL_EXTENSIONS)]
        files = [f for f in files if os.path.isfile(f)]
        if not files:
            raise ModelMissingError(path)
        if len(files) > 1:
            raise RuntimeError(f"more than one model file is detected, only one is allowed within model_dir: {files}")
        self._model = joblib.load(files[0])
        self.ready = True
        return self.ready

    def predict(self, payload: InferRequest, headers=None):
        instances = get_predict_input(payload)
        result = self._model.predict(instances)
        return get_predict_response(payload, result, self.name)


class LoopbackConfig(uvicorn.Config):
    def __init__(self, *args, **kwargs):
        kwargs["host"] = "127.0.0.1"
        super().__init__(*args, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_dir", required=True)
    args, _ = parser.parse_known_args()
    uvicorn.Config = LoopbackConfig
    model = SKLearnModel(args.model_name, args.model_dir)
    model.load()
    ModelServer(http_port=args.http_port, enable_grpc=False, workers=1).start([model])


if __name__ == "__main__":
    main()

"""Runs KServe's Python model server (kserve.ModelServer) with a scikit-learn model saved by
train_iris.py, so tests talk to KServe's own REST (V1 and V2) and gRPC (V2) front ends.

Usage: kserve_server.py MODEL_DIR MODEL_NAME HTTP_PORT GRPC_PORT

The model answers
- V1 `POST /v1/models/{name}:predict` with {"instances": [[4 floats], ...]} as
  {"predictions": [class, ...]};
- V2 infer (REST, binary-tensor extension included, and gRPC) with one FP32 input of shape
  [rows, 4] as the outputs "predict" (INT64 [rows]) and "predict_proba" (FP64 [rows, 3]), or
  only those named in the request's "outputs".
KServe binds every interface (it has no host option); tests connect on 127.0.0.1 only.
"""
import os
import sys

import joblib
import numpy as np

# KServe's ModelServer parses sys.argv when imported: hand it only its own flags.
model_dir, model_name, http_port, grpc_port = sys.argv[1:5]
sys.argv = [
    sys.argv[0],
    f"--http_port={http_port}",
    f"--grpc_port={grpc_port}",
    "--workers=1",
    "--enable_latency_logging=false",
]

import kserve  # noqa: E402
from kserve import InferOutput, InferRequest, InferResponse  # noqa: E402


class IrisModel(kserve.Model):
    """A joblib-saved scikit-learn classifier behind KServe's V1 and V2 handlers."""

    def __init__(self, name, directory):
        super().__init__(name)
        self.directory = directory
        self.model = None
        self.load()

    def load(self):
        self.model = joblib.load(os.path.join(self.directory, "model.joblib"))
        self.ready = True
        return self.ready

    async def predict(self, payload, headers=None, response_headers=None):
        if isinstance(payload, InferRequest):
            rows = payload.inputs[0].as_numpy().astype(np.float32).reshape(-1, 4)
            wanted = [o.name for o in (payload.request_outputs or [])] or [
                "predict",
                "predict_proba",
            ]
            outputs = []
            for name in wanted:
                if name == "predict":
                    data = self.model.predict(rows).astype(np.int64)
                    out = InferOutput(name, list(data.shape), "INT64")
                elif name == "predict_proba":
                    data = self.model.predict_proba(rows).astype(np.float64)
                    out = InferOutput(name, list(data.shape), "FP64")
                else:
                    raise kserve.errors.InvalidInput(f"unknown output {name!r}")
                # tritonclient's gRPC client reads only raw_output_contents: answer gRPC raw.
                out.set_data_from_numpy(data, binary_data=payload.from_grpc)
                outputs.append(out)
            return InferResponse(
                response_id=payload.id or "",
                model_name=self.name,
                infer_outputs=outputs,
                from_grpc=payload.from_grpc,
            )
        rows = np.asarray(payload["instances"], dtype=np.float32)
        return {"predictions": [int(p) for p in self.model.predict(rows)]}


if __name__ == "__main__":
    kserve.ModelServer().start([IrisModel(model_name, model_dir)])

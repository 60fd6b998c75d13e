"""Drives a V2 (Open Inference Protocol) server with Triton's official Python client
(tritonclient), over REST or gRPC, and prints what it answered as one JSON object on stdout.

Usage: v2_client.py {http,grpc} HOST:PORT MODEL EXPECTED_JSON [--version V] [--binary]

EXPECTED_JSON is train_iris.py's expected.json: its "inputs" rows are sent as one FP32 tensor
of shape [rows, 4], asking for the "predict" and "predict_proba" outputs. --binary sends the
input with the binary-tensor extension (REST only; `Inference-Header-Content-Length`).

Output: {"live", "ready", "model_ready", "server_metadata", "model_metadata", "model_name",
"model_version", "predictions", "probabilities"}; metadata as the client returns it (a dict
for REST, the protobuf message converted to a dict for gRPC).
"""
import argparse
import json
import sys

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("protocol", choices=["http", "grpc"])
    p.add_argument("url")
    p.add_argument("model")
    p.add_argument("expected")
    p.add_argument("--version", default="")
    p.add_argument("--binary", action="store_true")
    a = p.parse_args()
    with open(a.expected) as f:
        rows = np.array(json.load(f)["inputs"], dtype=np.float32)

    if a.protocol == "http":
        import tritonclient.http as client

        c = client.InferenceServerClient(url=a.url, network_timeout=60.0)
        x = client.InferInput("input-0", list(rows.shape), "FP32")
        x.set_data_from_numpy(rows, binary_data=a.binary)
        outputs = [
            client.InferRequestedOutput("predict", binary_data=False),
            client.InferRequestedOutput("predict_proba", binary_data=False),
        ]
        as_dict = lambda m: m  # noqa: E731  (REST answers are dicts already)
    else:
        import tritonclient.grpc as client
        from google.protobuf.json_format import MessageToDict

        c = client.InferenceServerClient(url=a.url)
        x = client.InferInput("input-0", list(rows.shape), "FP32")
        x.set_data_from_numpy(rows)
        outputs = [client.InferRequestedOutput("predict"), client.InferRequestedOutput("predict_proba")]
        as_dict = lambda m: MessageToDict(m, preserving_proto_field_name=True)  # noqa: E731

    # With the binary extension the body is not JSON: say so, or FastAPI-based servers try to
    # parse it as JSON (tritonclient sends no Content-Type of its own).
    headers = {"Content-Type": "application/octet-stream"} if a.binary else None
    result = c.infer(a.model, [x], model_version=a.version, outputs=outputs, headers=headers)
    response = result.get_response()
    if a.protocol == "grpc":
        response = as_dict(response)
    out = {
        "live": c.is_server_live(),
        "ready": c.is_server_ready(),
        "model_ready": c.is_model_ready(a.model, a.version),
        "server_metadata": as_dict(c.get_server_metadata()),
        "model_metadata": as_dict(c.get_model_metadata(a.model, a.version)),
        "model_name": response.get("model_name"),
        "model_version": response.get("model_version"),
        "predictions": result.as_numpy("predict").reshape(-1).tolist(),
        "probabilities": result.as_numpy("predict_proba").tolist(),
    }
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()

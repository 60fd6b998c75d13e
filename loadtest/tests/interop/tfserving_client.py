"""TF Serving's official Python client (tensorflow-serving-api over grpcio) against the
simulator's gRPC port: every method, TF Serving's status codes, a deadline.

Usage: tfserving_client.py GRPC_ADDR REST_ADDR   (run by scripts/test-interop.sh)
"""
import json
import os
import sys
import time
import unittest
import urllib.request

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.core.framework import types_pb2  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

GRPC_ADDR = REST_ADDR = None
MODEL = "half_plus_two"
TIMEOUT = 10.0


def control(path, body):
    req = urllib.request.Request(
        f"http://{REST_ADDR}/-/sim/{path}", data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
        return json.load(resp)


class Interop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.channel = grpc.insecure_channel(GRPC_ADDR)
        cls.predict_stub = prediction_service_pb2_grpc.PredictionServiceStub(cls.channel)
        cls.model_stub = model_service_pb2_grpc.ModelServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()

    def tearDown(self):
        control("fault", {})

    def predict_request(self, name=MODEL, signature="serving_default"):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = name
        request.model_spec.signature_name = signature
        request.inputs["x"].dtype = types_pb2.DT_FLOAT
        request.inputs["x"].float_val.append(2.0)
        request.inputs["x"].tensor_shape.dim.add().size = 1
        request.output_filter.append("y")
        return request

    def examples(self, message, *xs):
        for x in xs:
            example = message.input.example_list.examples.add()
            example.features.feature["x"].float_list.value.extend([x])

    def test_predict_with_tensor_protos(self):
        # As TF Serving's VerifyPredictRequest: x = [2.0] → y = [3.0], DT_FLOAT.
        result = self.predict_stub.Predict(self.predict_request(), TIMEOUT)
        self.assertEqual(types_pb2.DT_FLOAT, result.outputs["y"].dtype)
        self.assertEqual([3.0], list(result.outputs["y"].float_val))
        self.assertEqual(MODEL, result.model_spec.name)
        self.assertEqual("serving_default", result.model_spec.signature_name)
        self.assertEqual(2, result.model_spec.version.value)
        # A 2x2 batch built by TensorFlow itself (tensor_content), pinned to version 1.
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.model_spec.version.value = 1
        request.inputs["x"].CopyFrom(
            tf.make_tensor_proto(np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))
        )
        result = self.predict_stub.Predict(request, TIMEOUT)
        np.testing.assert_array_equal(
            tf.make_ndarray(result.outputs["y"]), np.array([[2.5, 3.0], [3.5, 4.0]], np.float32)
        )
        self.assertEqual(1, result.model_spec.version.value)
        # By label.
        request = self.predict_request()
        request.model_spec.version_label = "stable"
        result = self.predict_stub.Predict(request, TIMEOUT)
        self.assertEqual(1, result.model_spec.version.value)

    def test_classify(self):
        request = classification_pb2.ClassificationRequest()
        request.model_spec.name = MODEL
        request.model_spec.signature_name = "classify_x_to_y"
        self.examples(request, 2.0)
        result = self.predict_stub.Classify(request, TIMEOUT)
        self.assertEqual(1, len(result.result.classifications))
        self.assertEqual(1, len(result.result.classifications[0].classes))
        self.assertEqual(3.0, result.result.classifications[0].classes[0].score)
        self.assertEqual("", result.result.classifications[0].classes[0].label)
        self.assertEqual("classify_x_to_y", result.model_spec.signature_name)

    def test_regress(self):
        request = regression_pb2.RegressionRequest()
        request.model_spec.name = MODEL
        request.model_spec.signature_name = "regress_x_to_y"
        self.examples(request, 2.0, 80.0)
        result = self.predict_stub.Regress(request, TIMEOUT)
        self.assertEqual([3.0, 42.0], [r.value for r in result.result.regressions])

    def test_multi_inference(self):
        request = inference_pb2.MultiInferenceRequest()
        for signature, method in [
            ("regress_x_to_y", "tensorflow/serving/regress"),
            ("classify_x_to_y", "tensorflow/serving/classify"),
        ]:
            task = request.tasks.add()
            task.model_spec.name = MODEL
            task.model_spec.signature_name = signature
            task.method_name = method
        self.examples(request, 2.0)
        result = self.predict_stub.MultiInference(request, TIMEOUT)
        self.assertEqual(2, len(result.results))
        self.assertEqual(3.0, result.results[0].regression_result.regressions[0].value)
        self.assertEqual(
            3.0, result.results[1].classification_result.classifications[0].classes[0].score
        )

    def test_metadata(self):
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        request.model_spec.name = MODEL
        request.metadata_field.append("signature_def")
        result = self.predict_stub.GetModelMetadata(request, TIMEOUT)
        self.assertEqual(MODEL, result.model_spec.name)
        self.assertEqual(2, result.model_spec.version.value)
        self.assertEqual(["signature_def"], list(result.metadata))
        signatures = get_model_metadata_pb2.SignatureDefMap()
        self.assertTrue(result.metadata["signature_def"].Unpack(signatures))
        self.assertEqual(
            {"serving_default", "classify_x_to_y", "regress_x_to_y", "regress_x_to_y2",
             "regress_x2_to_y3"},
            set(signatures.signature_def),
        )
        default = signatures.signature_def["serving_default"]
        self.assertEqual("tensorflow/serving/predict", default.method_name)
        self.assertEqual("x:0", default.inputs["x"].name)
        self.assertEqual(types_pb2.DT_FLOAT, default.outputs["y"].dtype)

    def test_status(self):
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = MODEL
        result = self.model_stub.GetModelStatus(request, TIMEOUT)
        self.assertEqual([2, 1], [v.version for v in result.model_version_status])
        for v in result.model_version_status:
            self.assertEqual(get_model_status_pb2.ModelVersionStatus.AVAILABLE, v.state)
            self.assertEqual(0, v.status.error_code)
        request.model_spec.version.value = 1
        result = self.model_stub.GetModelStatus(request, TIMEOUT)
        self.assertEqual([1], [v.version for v in result.model_version_status])

    def assert_code(self, code, call, request, contains=""):
        with self.assertRaises(grpc.RpcError) as raised:
            call(request, TIMEOUT)
        self.assertIs(code, raised.exception.code(), raised.exception.details())
        self.assertIn(contains, raised.exception.details())

    def test_unknown_model_version_and_label(self):
        self.assert_code(
            grpc.StatusCode.NOT_FOUND, self.predict_stub.Predict, self.predict_request("nope"),
            "Servable not found for request: Latest(nope)",
        )
        request = self.predict_request()
        request.model_spec.version.value = 9
        self.assert_code(grpc.StatusCode.NOT_FOUND, self.predict_stub.Predict, request)
        request = self.predict_request()
        request.model_spec.version_label = "nope"
        self.assert_code(grpc.StatusCode.INVALID_ARGUMENT, self.predict_stub.Predict, request)
        status = get_model_status_pb2.GetModelStatusRequest()
        status.model_spec.name = "nope"
        self.assert_code(grpc.StatusCode.NOT_FOUND, self.model_stub.GetModelStatus, status)

    def test_bad_input(self):
        request = self.predict_request()
        request.inputs["z"].CopyFrom(request.inputs["x"])
        self.assert_code(
            grpc.StatusCode.INVALID_ARGUMENT, self.predict_stub.Predict, request,
            "input size does not match signature",
        )
        request = classification_pb2.ClassificationRequest()
        request.model_spec.name = MODEL
        self.examples(request, 2.0)
        self.assert_code(
            grpc.StatusCode.INVALID_ARGUMENT, self.predict_stub.Classify, request,
            "Was: tensorflow/serving/predict",
        )

    def test_deadline(self):
        control("fault", {"extra_ms": 5000})
        started = time.monotonic()
        with self.assertRaises(grpc.RpcError) as raised:
            self.predict_stub.Predict(self.predict_request(), 0.3)
        self.assertIs(grpc.StatusCode.DEADLINE_EXCEEDED, raised.exception.code())
        self.assertLess(time.monotonic() - started, 4.0)

    def test_injected_error_and_unavailable(self):
        control("fault", {"error_rate": 1.0, "error_status": 503})
        self.assert_code(
            grpc.StatusCode.UNAVAILABLE, self.predict_stub.Predict, self.predict_request(),
            "injected",
        )
        control("fault", {})
        self.assertEqual(
            [3.0], list(self.predict_stub.Predict(self.predict_request(), TIMEOUT)
                        .outputs["y"].float_val)
        )


def main():
    global GRPC_ADDR, REST_ADDR
    GRPC_ADDR, REST_ADDR = sys.argv[1], sys.argv[2]
    result = unittest.TextTestRunner(verbosity=2).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(Interop)
    )
    failed = len(result.failures) + len(result.errors)
    print(f"interop: {result.testsRun - failed} passed, {failed} failed")
    return 0 if result.wasSuccessful() and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Trains the test model: a logistic regression on scikit-learn's bundled iris data set (no
download), saved with joblib, plus the answers the model itself gives for a fixed set of rows.

Usage: train_iris.py OUT_DIR

Writes OUT_DIR/model.joblib and OUT_DIR/expected.json:
    {"inputs": [[f32 x 4], ...], "predictions": [int, ...], "probabilities": [[f64 x 3], ...]}
Tests compare what a model server answers with these direct answers.
"""
import json
import os
import sys

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

# Rows spread over the three classes (the data set is ordered by class).
SAMPLE_ROWS = [0, 25, 50, 75, 100, 125, 149]


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    x, y = load_iris(return_X_y=True)
    # lbfgs is deterministic: the same data gives the same coefficients on every run.
    model = LogisticRegression(max_iter=1000)
    model.fit(x, y)
    joblib.dump(model, os.path.join(out_dir, "model.joblib"))
    # Inputs are sent as FP32 by the clients, so the expectations are computed on the values
    # rounded to float32 (iris values have one decimal: the rounding never changes a class).
    rows = x[SAMPLE_ROWS].astype("float32")
    expected = {
        "inputs": rows.tolist(),
        "predictions": [int(p) for p in model.predict(rows)],
        "probabilities": model.predict_proba(rows).tolist(),
    }
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()

"""The model bench/serve.py serves: a logistic regression on scikit-learn's bundled digits, trained by
`branchml run` with the files below (the digits demo of earlier versions; kept here so the serving
bench does not change when the demo's story does)."""

TRAIN_HEAD = '''\
"""Train a digit classifier on data/train.csv; write models/, metrics.json and params.json."""
import json
import os
import sys

import numpy as np
import skops.io as sio

path = sys.argv[1] if len(sys.argv) > 1 else "data/train.csv"
data = np.loadtxt(path, delimiter=",", skiprows=1)
X, y = data[:, :-1] / 16.0, data[:, -1].astype(int)
# A fixed split (seed 0): every run of every branch evaluates the same way.
order = np.random.default_rng(0).permutation(len(y))
test, train = order[: len(y) // 4], order[len(y) // 4 :]
X_train, X_test, y_train, y_test = X[train], X[test], y[train], y[test]
'''

LINEAR = TRAIN_HEAD + '''
from sklearn.linear_model import LogisticRegression

params = {"model": "logistic_regression", "C": 1.0, "rows": len(y)}
model = LogisticRegression(C=params["C"], max_iter=1000).fit(X_train, y_train)
'''

TRAIN_TAIL = '''
os.makedirs("models", exist_ok=True)
sio.dump(model, "models/model.skops")  # skops, never pickle
# What `branchml serve` checks requests against (MLflow-signature-like column names and types).
columns = [{"name": f"p{i}", "type": "double"} for i in range(X.shape[1])]
json.dump({"format": 1, "columns": columns}, open("models/input_schema.json", "w"), indent=1)
metrics = {"accuracy": round(float(model.score(X_test, y_test)), 4)}
json.dump(metrics, open("metrics.json", "w"), indent=2)
json.dump(params, open("params.json", "w"), indent=2)
print(os.environ.get("BRANCHML_TAG"), params["model"], metrics)
'''

PREDICT = '''\
"""Inference entry point for `branchml serve` ([serve] predict in branchml.toml): same scaling as train.py."""
import numpy as np


def predict(model, frame):
    """One digit per row; frame.rows hold the 64 pixel values in the input schema's order."""
    return model.predict(np.asarray(frame.rows, dtype=float) / 16.0)
'''

SERVE_SETTINGS = {  # the [serve] table of branchml.toml on dev/model (so every tag trained from it)
    "predict": "predict.py:predict",
    "model": "models/model.skops",
    "input_schema": "models/input_schema.json",
    "trusted_types": [],
}


def digits_csv() -> list[str]:
    """scikit-learn's bundled digits as CSV lines: header p0..p63,digit, then one row per image."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    header = ",".join([f"p{i}" for i in range(digits.data.shape[1])] + ["digit"])
    rows = [",".join(str(int(v)) for v in row) + f",{label}" for row, label in zip(digits.data, digits.target)]
    return [header, *rows]

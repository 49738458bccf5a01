"""Files the demo commits: the training script in its two versions (baseline, then tuned model),
the inference entry point, and the problem definition on main."""

TRAIN_HEAD = '''\
"""Train the day's-weather classifier in the three phases of the project's rules (PROBLEM.md):
1. tune on train, compare on validation; 2. retrain the chosen model on train+validation and
evaluate it once on test; 3. train the final model on all the data and save that one.
Reads the split branch's data/train, data/val, data/test (pulled onto this stable branch) and keeps
the most recent WINDOW_DAYS days of each, so retraining follows the weather (and its labelling).
Writes models/, metrics.json and params.json; `branchml run` commits and tags them."""
import csv
import datetime
import glob
import json
import os

import numpy as np
import skops.io as sio

FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]
WINDOW_DAYS = 365


def rows(split):
    found = []
    for path in sorted(glob.glob(f"data/{split}/**/*.csv", recursive=True)):
        with open(path, newline="") as f:
            found += list(csv.DictReader(f))
    return found


def xy(part):
    return np.array([[float(r[c]) for c in FEATURES] for r in part]), np.array([r["weather"] for r in part])


data = {split: rows(split) for split in ("train", "val", "test")}
last = max(r["date"] for part in data.values() for r in part)
start = (datetime.date.fromisoformat(last) - datetime.timedelta(days=WINDOW_DAYS - 1)).isoformat()
data = {split: [r for r in part if r["date"] >= start] for split, part in data.items()}
(X_train, y_train), (X_val, y_val), (X_test, y_test) = (xy(data[s]) for s in ("train", "val", "test"))
'''

BASELINE = TRAIN_HEAD + '''
from sklearn.dummy import DummyClassifier

CANDIDATES = [("most_frequent", {}, lambda: DummyClassifier(strategy="most_frequent"))]
'''

MODEL = TRAIN_HEAD + '''
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

CANDIDATES = [("tree", {"max_depth": d}, lambda d=d: DecisionTreeClassifier(max_depth=d, random_state=0)) for d in (2, 3, 5)]
CANDIDATES += [("logistic_regression", {"C": c}, lambda c=c: LogisticRegression(C=c, max_iter=2000)) for c in (0.1, 1.0)]
'''

TRAIN_TAIL = '''
# Phase 1: tune on train, compare on validation.
scores = [round(float(make().fit(X_train, y_train).score(X_val, y_val)), 4) for _, _, make in CANDIDATES]
best = int(np.argmax(scores))
name, chosen, make = CANDIDATES[best]
# Phase 2: retrain the chosen model on train+validation, evaluate it once on test.
X_tv, y_tv = np.vstack([X_train, X_val]), np.concatenate([y_train, y_val])
test_accuracy = round(float(make().fit(X_tv, y_tv).score(X_test, y_test)), 4)
# Phase 3: the final model, trained on all the data of the window.
X_all, y_all = np.vstack([X_tv, X_test]), np.concatenate([y_tv, y_test])
model = make().fit(X_all, y_all)

os.makedirs("models", exist_ok=True)
sio.dump(model, "models/model.skops")  # skops, never pickle
# What `branchml serve` checks requests against, and the rows the final model saw: `branchml run`
# summarises them into models/baseline.json ([monitor] in branchml.toml) for `monitor check`.
json.dump({"format": 1, "columns": [{"name": c, "type": "double"} for c in FEATURES]},
          open("models/input_schema.json", "w"), indent=1)
with open("models/training_rows.csv", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(FEATURES + ["weather"])
    writer.writerows([*map(float, x), y] for x, y in zip(X_all, y_all))
tried = ", ".join(f"{n}{p or ''}={s}" for (n, p, _), s in zip(CANDIDATES, scores))
params = {"model": name, **chosen, "window": f"{start}..{last}",
          "phase1_tune": f"fit on train ({len(y_train)} days), compared on validation ({len(y_val)} days): {tried}",
          "phase2_test": f"{name}{chosen or ''} retrained on train+validation ({len(y_tv)} days), evaluated once on test ({len(y_test)} days)",
          "phase3_final": f"{name}{chosen or ''} trained on all {len(y_all)} days of the window: models/model.skops"}
metrics = {"accuracy": test_accuracy, "val_accuracy": scores[best]}
json.dump(metrics, open("metrics.json", "w"), indent=2)
json.dump(params, open("params.json", "w"), indent=2)
print(os.environ.get("BRANCHML_TAG"), name, chosen, metrics)
'''

PROBLEM = """\
# Problem: the day's weather, from the day's measurements

- Business problem: acme's weather app shows the day's weather (drizzle, fog, rain, snow, sun) from
  its stations' measurements; the label is what an observer recorded, and arrives a day later.
- Data: Seattle's daily weather 2012-2015 (`vega_datasets`' bundled seattle-weather).
- Features: precipitation, temp_max, temp_min, wind. Target: weather.
- Metric: accuracy, evaluated once on the shared test split; in production, accuracy on labelled
  answers, compared by forward (99% / 1%) and backward tests before and after a promotion.
- Rules: data goes data/raw -> data/clean -> data/split; training on stable/<customer> in three
  phases (tune on train/validation; retrain on train+validation and test once; final model on all
  data); alerts on monitor/<env>; analyses on ds/<customer>.
"""

PREDICT = '''\
"""Inference entry point for `branchml serve` ([serve] predict in branchml.toml)."""
import numpy as np


def predict(model, frame):
    """One weather label per row; frame.rows hold the features in the input schema's order."""
    return model.predict(np.asarray(frame.rows, dtype=float)).tolist()
'''

SERVE_SETTINGS = {  # the [serve] table of branchml.toml on dev/model (so every tag trained from it)
    "predict": "predict.py:predict",
    "model": "models/model.skops",
    "input_schema": "models/input_schema.json",
    # skops refuses types outside its safe list unless the project trusts them: the decision tree's
    # node array is one (a plain data structure of scikit-learn, no code)
    "trusted_types": ["sklearn.tree._tree.Tree"],
}

MONITOR_SETTINGS = {  # [monitor]: the drift baseline `branchml run` stores with every tag
    "data": "models/training_rows.csv",
    "features": ["precipitation", "temp_max", "temp_min", "wind"],
    "target": "weather",
}

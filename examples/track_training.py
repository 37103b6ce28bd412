"""Track a small training loop with the modelyard SDK: params, a learning curve, an artifact.

Run it with ``python examples/track_training.py [WORKSPACE_DIR]``; then look at the result with
``modelyard -w WORKSPACE_DIR runs ls``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

import modelyard
from modelyard.workflows.fraud_data import FEATURES, LABEL, generate_transactions, time_split


def main(home: str) -> None:
    """Train a tiny logistic regression by gradient descent and track it."""
    frame = generate_transactions(rows=50_000, seed=11)
    train, test = time_split(frame)
    numeric = ["amount", "hour", "customer_age", "card_present", "is_new_device"]
    x = train[numeric].to_numpy(dtype=float)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    x = (x - mean) / std
    y = train[LABEL].to_numpy(dtype=float)
    ws = modelyard.open(home)
    params = {"learning_rate": 0.5, "epochs": 200, "features": ",".join(numeric)}
    with ws.start_run("examples", name="numpy-logreg", params=params, seed=7) as run:
        weights = np.zeros(x.shape[1])
        bias = 0.0
        for _epoch in range(200):
            p = 1 / (1 + np.exp(-(x @ weights + bias)))
            loss = -np.mean(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))
            weights -= 0.5 * x.T @ (p - y) / len(y)
            bias -= 0.5 * float(np.mean(p - y))
            run.log_metric("train_loss", float(loss))
        x_test = (test[numeric].to_numpy(dtype=float) - mean) / std
        scores = 1 / (1 + np.exp(-(x_test @ weights + bias)))
        order = np.argsort(-scores)[: len(scores) // 100]
        run.log_metric("precision_at_1pct", float(test[LABEL].to_numpy()[order].mean()))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "weights.json"
            path.write_text(json.dumps({"weights": weights.tolist(), "bias": bias}))
            run.log_artifact(path)
    print(f"run {run.run_id} finished; features: {', '.join(FEATURES[:3])}, …")
    print(f"see it with: modelyard -w {home} runs show {run.run_id}")
    ws.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="modelyard-example-"))

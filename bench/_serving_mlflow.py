"""MLflow peer of bench/serving.py: save the benchmark's model as an MLflow model directory.

Run in the peers venv (bench/.venv-peers):

    python _serving_mlflow.py --model model.pkl --train train.npz --example rows.jsonl --out DIR

The fitted scikit-learn estimator comes pickled from the project venv (both venvs pin the same
scikit-learn); if this venv's scikit-learn differs, the estimator is refitted here on the same
training arrays with the same seed. It is saved with ``mlflow.sklearn.save_model`` (MLflow's
default skops format, which needs the tree type trusted to load again), with a signature
inferred from 50 request rows, so ``mlflow models serve`` checks inputs as it does for users.
Prints one JSON line (versions) on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import warnings
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="the pickled estimator")
    parser.add_argument("--train", type=Path, required=True, help="npz with X, y (refit)")
    parser.add_argument("--example", type=Path, required=True, help="request rows (JSON lines)")
    parser.add_argument("--out", type=Path, required=True, help="MLflow model dir (new)")
    args = parser.parse_args(argv)

    import mlflow
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    import sklearn
    from sklearn.ensemble import GradientBoostingClassifier

    refitted = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # InconsistentVersionWarning: another scikit-learn
            model = pickle.loads(args.model.read_bytes())
    except Exception as error:  # any failure to unpickle: refit instead
        print(f"refitting here: the pickle does not load cleanly ({error})", file=sys.stderr)
        data = np.load(args.train)
        model = GradientBoostingClassifier(n_estimators=200, max_depth=3, random_state=0)
        model.fit(data["X"], data["y"])
        refitted = True
    rows = [json.loads(line) for line in args.example.read_text().splitlines()[:50]]
    example = pd.DataFrame(rows)
    mlflow.sklearn.save_model(
        model,
        str(args.out),
        input_example=example,
        skops_trusted_types=["sklearn.tree._tree.Tree"],
    )
    print(
        json.dumps(
            {
                "mlflow": mlflow.__version__,
                "scikit_learn": sklearn.__version__,
                "refitted": refitted,
                "model_dir": str(args.out),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

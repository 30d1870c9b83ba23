#!/usr/bin/env python3
"""Digest of the models `riskfn train` publishes for every bundled pipeline: a change that
must not alter them (a restructuring) leaves the digest as it was.

    python3 tests/model_digest.py [--riskfn BIN] > before.txt   # then again after, and diff

Each pipeline under sql/ is trained into a fresh temporary store. Per pipeline it prints
the sha256 of model.json (its version id blanked: that is the only part that differs
between two runs of one build), baseline.json and test_scores.json.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--riskfn", default=str(ROOT / "target/debug/riskfn"))
    args = ap.parse_args()
    env = dict(os.environ, RISKFN_USER="digest")
    for pipeline in sorted(p.name for p in (ROOT / "sql").iterdir() if p.is_dir()):
        with tempfile.TemporaryDirectory() as store:
            run = subprocess.run([args.riskfn, "train", "--pipeline", pipeline, "--store", store],
                                 cwd=ROOT, env=env, capture_output=True, text=True)
            if run.returncode != 0:
                sys.exit(f"{pipeline}: riskfn train failed:\n{run.stderr[-2000:]}")
            (version,) = (pathlib.Path(store) / pipeline / "versions").iterdir()
            for name in ("model.json", "baseline.json", "test_scores.json"):
                data = (version / name).read_bytes().replace(version.name.encode(), b"<version>")
                print(f"{pipeline} {name} {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()

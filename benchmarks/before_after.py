"""Same results before and after a change: one run with an older commit and one with this checkout.

Checks out REV into a temporary git worktree, runs ``musefuse run`` there and here on the embedded
data (each with its own artifact store, so both train everything), and compares every record of
``results.json`` and every prediction file. Then it runs this checkout once more on the older
run's store and data cache: every task reused means the older commit's task keys are still valid.

Example (issue 23: the refactor against the commit before it; the current code forced to the
pipeline that was the default then):

    python benchmarks/before_after.py d7248ab --new-args="--re-unimodal --re-fusion --mean-shrink 0"
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parents[1]
QUICK = "--modalities egemaps,vggface,fau --epochs 3 --patience 3 --seed 0 --workers 1 --threads 1"


def run(package: Path, work: Path, name: str, args: list[str], cache: Path) -> Path:
    """``musefuse run`` with the package at ``package`` (a folder named musefuse is put on PYTHONPATH)."""
    shim = work / f"path-{name}"
    shim.mkdir(exist_ok=True)
    if not (shim / "musefuse").exists():
        (shim / "musefuse").symlink_to(package)
    out = work / name
    env = {**os.environ, "PYTHONPATH": str(shim), "MUSEFUSE_CACHE_DIR": str(cache)}
    cmd = [sys.executable, "-m", "musefuse.cli", "run", *args, "--json", "--overwrite", "--out", str(out)]
    print("$", " ".join(cmd[2:]), flush=True)
    with open(work / f"{name}.log", "w") as log:
        subprocess.run(cmd, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=log, check=True)
    return out


def compare(old: Path, new: Path) -> dict[str, float | int]:
    """Largest absolute difference of the CCC/Pearson/RMSE records and of the predicted values."""
    def records(run: Path) -> dict[tuple, dict]:
        return {(r["stage"], tuple(r["modalities"]), r["target"], r["partition"]): r
                for r in json.loads((run / "results.json").read_text())}

    a, b = records(old), records(new)
    if a.keys() != b.keys():
        raise SystemExit(f"the runs scored different records: {sorted(set(a) ^ set(b))}")
    metric = max((abs(a[k][m] - b[k][m]) for k in a for m in ("ccc", "pearson", "rmse")
                  if a[k][m] is not None and b[k][m] is not None), default=0.0)
    files, values = 0, 0.0
    for path in sorted((old / "predictions").rglob("*.csv")):
        x, y = pd.read_csv(path), pd.read_csv(new / path.relative_to(old))
        if not np.array_equal(x["timestamp"], y["timestamp"]):
            raise SystemExit(f"{path.relative_to(old)}: the timestamps differ")
        files, values = files + 1, max(values, float(np.abs(x["value"] - y["value"]).max()))
    return {"records": len(a), "max_metric_diff": metric, "prediction_files": files, "max_prediction_diff": values}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rev", help="the older commit")
    ap.add_argument("--args", default=QUICK, help="run options for both sides")
    ap.add_argument("--new-args", default="", help="extra run options for this checkout only")
    ap.add_argument("--work", type=Path, help="keep the runs here (default: a temporary folder)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="before-after-"))
    work.mkdir(parents=True, exist_ok=True)
    tree = work / "old-tree"
    if not tree.exists():
        subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", "-f", str(tree), args.rev], check=True)
    both, mine = shlex.split(args.args), shlex.split(args.new_args)
    try:
        old = run(tree, work, "old", [*both, "--store", str(work / "store-old")], work / "cache-old")
        new = run(HERE, work, "new", [*both, *mine, "--store", str(work / "store-new")], work / "cache-new")
        print(json.dumps(compare(old, new), indent=1))
        again = run(HERE, work, "new-on-old-store", [*both, *mine, "--store", str(work / "store-old")],
                    work / "cache-old")  # the same data files (the fingerprint holds their mtimes) and store
        tasks = json.loads((again / "tasks.json").read_text())
        print(f"this checkout on the older run's store: {sum(t['reused'] for t in tasks)} of {len(tasks)} tasks reused")
    finally:
        subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(tree)], check=False)


if __name__ == "__main__":
    main()

"""Old vs new, side by side in one sitting: the main command's wall time per executor, reuse, a sweep.

    python benchmarks/bench_graph.py                          # this machine, cpu preset (docs/performance.md table)
    python benchmarks/bench_graph.py --old eb5ee81            # ... plus the pre-task-graph main, same data
    python benchmarks/bench_graph.py --device cuda --sweep    # one GPU: paper preset, and the 6-pipeline sweep

Every variant runs `musefuse run --modalities egemaps,vggface,fau` in a fresh process on the same
embedded data (generated and cached once, before timing starts) with its own empty artifact store:

- ``sequential``: ``--executor inprocess``, one model at a time (what main did before the task graph);
- ``concurrent``: the default executor and worker count for this hardware;
- ``fuser change``: ``--no-re-fusion`` on the concurrent run's store (stages 1-2 reused);
- ``old REV`` (with ``--old``): that git revision's code (a worktree shadowing this install);
- ``sweep`` (with ``--sweep``): 3 seeds × with/without RE as one task graph on one executor.

Results (fusion test CCC) must be identical across executors on CPU; the table says whether they are.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def fusion_test(run: Path) -> dict[str, float]:
    records = json.loads((run / "results.json").read_text())
    return {r["target"]: r["ccc"] for r in records if r["stage"] == "fusion" and r["partition"] == "test"}


def old_code(rev: str, tmp: Path) -> dict[str, str]:
    """Environment variables that make ``python -m musefuse.cli`` run the code of git revision ``rev``.

    The repository root *is* the package, so a folder holding a ``musefuse`` link to a checkout of
    ``rev``, first on PYTHONPATH, shadows the editable install (whose finder comes after PYTHONPATH).
    """
    tree, site = tmp / f"old-{rev}", tmp / f"site-{rev}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev], check=True,
                   capture_output=True)
    site.mkdir()
    (site / "musefuse").symlink_to(tree)
    return {"PYTHONPATH": str(site)}


def sweep(config: Path, env: dict[str, str], store: Path) -> tuple[float, int]:
    """3 seeds × (RE, no RE) of the run whose resolved ``config`` is given, as one DAG on one executor."""
    code = f"""
import yaml
from musefuse.core.config import RunConfig, updated
from musefuse.core.data.loader import load_dataset, standardise
from musefuse.core.engine.executors import SilentReporter, parallelism, run_plan
from musefuse.core.engine.local import LocalExecutor
from musefuse.core.method.workers import worker_contexts
from musefuse.core.method.plan import plan_run
from musefuse.core.engine.store import ArtifactStore
from musefuse.core.plugin_host import get_host
from musefuse.core.runs.runner import resolve_device
base = RunConfig.model_validate(yaml.safe_load(open({str(config)!r})))
device = resolve_device(base.execution.device)
host = get_host()
root = base.inputs.data
mods = [host.modality(m) for m in base.inputs.modalities]
ds = load_dataset(root, mods, base.inputs.targets)
standardise(ds, mods)
tasks = {{}}
for seed in (0, 1, 2):
    for est in ("ae-re", "none"):
        cfg = updated(base, seed=seed, estimator=est)
        for t in plan_run(cfg, ds, host, device.type).tasks:
            tasks.setdefault(t.key, t)
par = parallelism(device.type)
executor = LocalExecutor(worker_contexts(ds, host, device).spawned, {str(store)!r}, par.threads, par.workers)
run_plan(list(tasks.values()), ArtifactStore({str(store)!r}), executor, SilentReporter())
print(len(tasks))
"""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, int(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modalities", default="egemaps,vggface,fau")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--old", metavar="REV", help="also time this git revision (e.g. the pre-task-graph main)")
    ap.add_argument("--sweep", action="store_true", help="also time 3 seeds x with/without RE as one graph")
    ap.add_argument("extra", nargs="*", help="extra flags for every musefuse run (after --)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="musefuse-bench-graph-"))
    env = {**os.environ, "MUSEFUSE_CACHE_DIR": str(tmp / "cache")}
    base = ["run", "--modalities", args.modalities, "--device", args.device, *args.extra]

    def run(name: str, *flags: str, store: str | None = None, extra_env: dict | None = None) -> tuple[float, Path]:
        out = tmp / f"run-{name.replace(' ', '-')}"
        cmd = [sys.executable, "-m", "musefuse.cli", *base, "--out", str(out), *flags]
        if store:
            cmd += ["--store", store]
        seconds = timed(cmd, {**env, **(extra_env or {})})
        print(f"{name}: {seconds:.1f}s", flush=True)
        return seconds, out

    # Data generated once and every reader's cache filled, before anything is timed.
    root = subprocess.run([sys.executable, "-c", "from musefuse.lab.synth import default_dataset; "
                           f"print(default_dataset(modalities={args.modalities.split(',')!r}))"],
                          env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    base += ["--data", root]
    rows = []
    if args.old:
        old_env = {**env, **old_code(args.old, tmp)}
        subprocess.run([sys.executable, "-m", "musefuse.cli", "validate", "--data", root], env=old_env,
                       check=False, capture_output=True)
        rows.append((f"old {args.old}", *run(f"old {args.old}", extra_env=old_env)))
    rows.append(("sequential (--executor inprocess)",
                 *run("sequential", "--executor", "inprocess", store=str(tmp / "store-seq"))))
    rows.append(("concurrent (default)", *run("concurrent", store=str(tmp / "store-con"))))
    rows.append(("fuser change on that store (--no-re-fusion)",
                 *run("fuser change", "--no-re-fusion", store=str(tmp / "store-con"))))

    first = rows[0][1]
    print(f"\ncommand: musefuse {' '.join(base)}\n")
    print("| variant | wall (s) | × first row | fusion test CCC arousal / valence |")
    print("|---|---:|---:|---|")
    for name, seconds, out in rows:
        ccc = fusion_test(out)
        print(f"| {name} | {seconds:.1f} | {seconds / first:.2f} | "
              f"{ccc.get('arousal', float('nan')):.4f} / {ccc.get('valence', float('nan')):.4f} |")
    same = {json.dumps(fusion_test(out)) for name, _, out in rows if "fuser change" not in name}
    print(f"\nidentical fusion test CCC across executors{' and the old revision' if args.old else ''}: "
          f"{'yes' if len(same) == 1 else 'NO'}")
    if args.sweep:
        seconds, n = sweep(tmp / "run-concurrent" / "config.yaml", env, tmp / "store-sweep")
        print(f"sweep, 3 seeds x with/without RE as one graph: {n} tasks, {seconds:.1f}s")
    if args.old:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / f"old-{args.old}")],
                       check=False, capture_output=True)


if __name__ == "__main__":
    main()

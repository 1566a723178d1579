"""Throughput of one sweep with each executor (in-process, local pool, Ray), and GPU packing curves.

    python benchmarks/bench_executors.py                              # this machine, CPU: the three executors
    python benchmarks/bench_executors.py --device cuda --packing 1,2,4,6,8
                                                                      # one GPU: trainings/min vs tasks per GPU (Ray)
    python benchmarks/bench_executors.py --device cuda --packing 1,2,4,6,8 --packing-executor local
                                                                      # ... the same without Ray (worker processes)

The sweep is ``--seeds`` copies of one run's task graph (estimator → regressors → fuser per modality
and target; seeds differ, so nothing is shared), planned on the same data and run as one graph with
an empty artifact store. Every variant runs in a fresh process, so nothing is warm that a real
command would not have warm; the data are generated and their binary cache filled before timing.

Reported per variant: the sweep's tasks; ``start`` (Ray's start-up, 0 for the others); ``execute``
(running the graph: for the local pool this includes starting its workers, for Ray starting its
workers and shipping the data); trainings per minute over ``execute`` and over the whole process
(``total``: imports, data loading, planning, start-up, sweep); the 1-minute load average before each
variant (the machine may be shared). On CPU it also says whether every task's outputs are identical
across executors (they must be).

Packing (``--packing K1,K2,...``): for each K, the sweep with K trainings sharing the device at
once: on CUDA ``--gpus-per-task 1/K`` with Ray (or ``--workers K`` with ``--packing-executor
local``); on CPU, K Ray CPUs of one thread each (a concurrency curve, not a GPU measurement).
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

CHILD = "--child"


def child(args: argparse.Namespace) -> None:
    """One variant, in its own process; prints one JSON line."""
    t0 = time.perf_counter()
    from musefuse.core.config import RunConfig, updated
    from musefuse.core.data.loader import load_dataset, standardise
    from musefuse.core.engine.executors import InProcessExecutor, SilentReporter, apply_threads, run_plan
    from musefuse.core.engine.local import LocalExecutor
    from musefuse.core.engine.store import ArtifactStore
    from musefuse.core.method.plan import plan_run
    from musefuse.core.method.workers import worker_contexts
    from musefuse.core.plugin_host import get_host
    from musefuse.core.runs.runner import resolve_device

    base = RunConfig.model_validate(json.loads(args.config))
    base = base.with_preset(cuda=base.execution.device == "cuda")
    device = resolve_device(base.execution.device)
    host = get_host()
    mods = [host.modality(m) for m in base.inputs.modalities]
    ds = load_dataset(base.inputs.data, mods, base.inputs.targets)
    standardise(ds, mods)
    tasks = {}
    for seed in range(args.seeds):
        for t in plan_run(updated(base, seed=seed), ds, host, device.type).tasks:
            tasks.setdefault(t.key, t)
    store = ArtifactStore(Path(args.store))
    threads, k = 1, args.concurrency
    apply_threads(threads)
    start = 0.0
    contexts = worker_contexts(ds, host, device)
    if args.executor == "inprocess":
        executor = InProcessExecutor(contexts.here(store), store, threads)
    elif args.executor == "local":
        executor = LocalExecutor(contexts.spawned, store.root, threads, k)
    else:
        import ray

        from musefuse.core.engine.ray_executor import RayExecutor

        s = time.perf_counter()
        # CPU: K Ray CPUs (K one-thread trainings at once); CUDA: every core, and 1/K of a GPU per training.
        ray.init(num_cpus=None if device.type == "cuda" else k, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        start = time.perf_counter() - s
        gpus = int(10_000 / k) / 10_000 if device.type == "cuda" else None
        executor = RayExecutor(contexts.shipped, store.root, str(device), threads, gpus_per_task=gpus)
    s = time.perf_counter()
    run_plan(list(tasks.values()), store, executor, SilentReporter())
    execute = time.perf_counter() - s
    print(json.dumps({"tasks": len(tasks), "start": start, "execute": execute, "total": time.perf_counter() - t0,
                      "keys": sorted(tasks)}))
    if args.executor == "ray":
        import ray

        ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--modalities", default="egemaps,fau")
    ap.add_argument("--seeds", type=int, default=None, help="copies of the run's graph (default: cpu 2, cuda 4)")
    ap.add_argument("--full", action="store_true", help="the full-size synthetic dataset (default on cuda)")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=None, help="per model (default: cpu 3, cuda 15)")
    ap.add_argument("--executors", default="inprocess,local,ray", help="which to compare (no --packing)")
    ap.add_argument("--packing", help="comma-separated trainings per device, e.g. 1,2,4,6,8")
    ap.add_argument("--packing-executor", default="ray", choices=["ray", "local"])
    ap.add_argument(CHILD, action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--executor", help=argparse.SUPPRESS)
    ap.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    cuda = args.device == "cuda"
    seeds = args.seeds or (4 if cuda else 2)
    epochs = args.epochs or (15 if cuda else 3)
    tmp = Path(tempfile.mkdtemp(prefix="musefuse-bench-executors-"))
    env = {**os.environ, "MUSEFUSE_CACHE_DIR": str(tmp / "cache")}
    mods = args.modalities.split(",")
    small = not (args.full or cuda)
    root = subprocess.run([sys.executable, "-c", "from musefuse.lab.synth import default_dataset; "
                           f"print(default_dataset(small={small}, modalities={mods!r}))"],
                          env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    config = {"modalities": mods, "data": root, "device": args.device, "preset": "paper" if cuda else "cpu",
              "layers": args.layers, "hidden": args.hidden, "epochs": epochs, "patience": epochs}
    # Fill the data's binary cache before anything is timed.
    subprocess.run([sys.executable, "-m", "musefuse.cli", "validate", "--data", root], env=env, check=False,
                   capture_output=True)

    if args.packing:
        variants = [(args.packing_executor, int(k)) for k in args.packing.split(",")]
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        variants = [(e, 1 if e == "inprocess" else cores) for e in args.executors.split(",")]
    rows = []
    for executor, k in variants:
        store = tmp / f"store-{executor}-{k}"
        load = os.getloadavg()[0]
        cmd = [sys.executable, __file__, CHILD, "--executor", executor, "--concurrency", str(k), "--seeds",
               str(seeds), "--store", str(store), "--config", json.dumps(config)]
        s = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - s
        if done.returncode != 0:
            sys.exit(f"{executor} x{k} failed:\n{done.stderr[-3000:]}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append((executor, k, store, load, wall, r))
        print(f"{executor} x{k}: {r['tasks']} tasks, execute {r['execute']:.1f}s, process {wall:.1f}s "
              f"(load before {load:.2f})", flush=True)

    print(f"\nsweep: {seeds} seeds x the run's graph ({args.modalities}; bigru {args.layers}x{args.hidden}, "
          f"{epochs} epochs, {'full' if not small else 'small'} synthetic data), device {args.device}, "
          f"{os.cpu_count()} CPUs\n")
    unit = "per GPU" if cuda else "at once"
    print(f"| executor | trainings {unit} | tasks | start (s) | execute (s) | trainings/min (execute) | "
          "process (s) | trainings/min (process) | load before |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for executor, k, _, load, wall, r in rows:
        print(f"| {executor} | {k} | {r['tasks']} | {r['start']:.1f} | {r['execute']:.1f} | "
              f"{60 * r['tasks'] / r['execute']:.1f} | {wall:.1f} | {60 * r['tasks'] / wall:.1f} | {load:.2f} |")
    if not cuda:
        print(f"\nidentical outputs of every task across executors: {'yes' if identical(rows) else 'NO'}")


def identical(rows: list) -> bool:
    import numpy as np

    from musefuse.core.engine.store import ArtifactStore

    first = ArtifactStore(rows[0][2])
    for _, _, store, _, _, r in rows[1:]:
        other = ArtifactStore(store)
        for key in r["keys"]:
            a, b = first.signals(key), other.signals(key)
            if a.keys() != b.keys() or not all(np.array_equal(a[s], b[s]) for s in a):
                return False
    return True


if __name__ == "__main__":
    main()

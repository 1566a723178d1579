"""What each regressor candidate of a finished run scores on test, beside the evidence the run decided on.

The run chose among its candidates on out-of-fold + devel predictions (decisions.json); test never entered the
choice. This script reads every candidate's predictions back from the artifact store and scores them on each
partition, so a report can say whether the choice held on test (for reporting only).

    python benchmarks/candidates.py RUN --store STORE [--out table.md]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from musefuse.core.config import ungroup
from musefuse.core.engine.store import ArtifactStore
from musefuse.core.learning.metrics import partition_scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    store = ArtifactStore(args.store)
    tasks = {e["label"]: e for e in json.loads((args.run / "tasks.json").read_text())}
    import yaml

    data = Path(ungroup(yaml.safe_load((args.run / "config.yaml").read_text()))["data"])
    parts = {line.split(",")[0]: line.split(",")[1].strip() for line in
             (data / "metadata" / "partition.csv").read_text().splitlines()[1:] if line.strip()}
    lines = [f"Candidates of {args.run.name}: CCC on the run's evidence (out-of-fold train + devel), on devel alone, "
             "and on test (never used to choose). **Bold**: kept.", "",
             "| model | candidate | evidence | devel | test |", "|---|---|---|---|---|"]
    for entry in json.loads((args.run / "decisions.json").read_text()):
        if entry.get("stage") != "unimodal":
            continue
        label = f"decision {entry['decision']}"
        spec = json.loads((store.path(tasks[label]["key"]) / "task.json").read_text())["spec"]
        target = entry["target"]
        golds = {sid: _labels(data, target, sid) for sid in parts}
        for name in spec["order"]:
            merged: dict[str, np.ndarray] = {}
            for key, ids in spec["candidates"][name]["refs"]:
                sig = store.signals(key)
                merged.update(sig if ids is None else {i: sig[i] for i in ids})
            score = {p: partition_scores([merged[s] for s in parts if parts[s] == p],
                                         [golds[s] for s in parts if parts[s] == p])["ccc"] for p in ("devel", "test")}
            kept = name == entry["chosen"]
            mark = (lambda x: f"**{x}**") if kept else str
            lines.append(f"| {entry.get('modality')} → {target} | {mark(name)} | "
                         f"{entry['candidates'][name]['ccc']:.3f} | {score['devel']:.3f} | {score['test']:.3f} |")
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)


def _labels(data: Path, target: str, sid: str) -> np.ndarray:
    rows = (data / "label_segments" / target / f"{sid}.csv").read_text().splitlines()[1:]
    return np.array([float(r.split(",")[1]) for r in rows if r.strip()])


if __name__ == "__main__":
    main()

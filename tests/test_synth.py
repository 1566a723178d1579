"""The synthetic dataset: MuSe layout, determinism, safe writing, and that its ground truth holds."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from musefuse.core.errors import ConfigError, DataError
from musefuse.core.registry import builtin_modalities
from musefuse.lab.synth import (
    MODALITY_SPECS,
    PARAMS,
    _csv_bytes,
    _world,
    assign_partitions,
    default_dataset,
    draw_subject,
    params_for,
    re_mislead_columns,
    re_mislead_std,
    split_sizes,
    subject_noisiness,
    write_synthetic,
)
from musefuse.lab.synth import WIDTHS as SYNTH_WIDTHS

WIDTHS = {"egemaps": 88, "deepspectrum": 4096, "vggface": 512, "fau": 17, "bert": 768}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("synth") / "small", small=True, seed=0)


@pytest.fixture(scope="module")
def medium(tmp_path_factory) -> Path:
    """Full-length subjects, two modalities: enough frames for statistics, still a few seconds."""
    return write_synthetic(
        tmp_path_factory.mktemp("synth") / "medium", subjects=12, seed=1, modalities=["egemaps", "vggface"]
    )


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------- split


def test_split_matches_ulm_tsst_and_scales():
    assert split_sizes(69) == (41, 14, 14)
    assert split_sizes(9) == (5, 2, 2)
    assert split_sizes(3) == (1, 1, 1)
    parts = assign_partitions(69, seed=0)
    assert sorted(parts) == sorted(str(i) for i in range(1, 70))
    assert [list(parts.values()).count(p) for p in ("train", "devel", "test")] == [41, 14, 14]
    with pytest.raises(ConfigError, match="at least 3"):
        split_sizes(2)


# --------------------------------------------------------------------------------------- layout


def test_layout_and_headers_follow_the_muse_format(small):
    part = pd.read_csv(small / "metadata" / "partition.csv", dtype=str)
    assert list(part.columns) == ["Id", "Partition"]
    assert part["Partition"].value_counts().to_dict() == {"train": 5, "devel": 2, "test": 2}
    for sid in part["Id"]:
        for name, width in WIDTHS.items():
            f = pd.read_csv(small / "feature_segments" / name / f"{sid}.csv")
            assert list(f.columns) == ["timestamp", "segment_id", *(f"{name}_{j}" for j in range(width))]
            assert (np.diff(f["timestamp"]) == 500).all() and f["timestamp"].iloc[0] == 0
            assert (f["segment_id"] == 1).all()
            assert PARAMS.steps_small[0] <= len(f) <= PARAMS.steps_small[1]
        for target in ("arousal", "valence"):
            y = pd.read_csv(small / "label_segments" / target / f"{sid}.csv")
            assert list(y.columns) == ["timestamp", "value", "segment_id"]
            assert y["timestamp"].tolist() == f["timestamp"].tolist()
            assert y["value"].between(-1, 1).all()
        truth = pd.read_csv(small / "truth" / f"{sid}.csv", keep_default_na=False)
        assert list(truth.columns[:5]) == [
            "timestamp", "latent_arousal", "latent_valence", "other_arousal", "other_valence"
        ]
        for name in WIDTHS:
            assert set(truth[f"{name}_corrupt"]) <= {0, 1}
    assert (small / "truth" / "manifest.json").is_file()
    assert (small / "truth" / "subjects.csv").is_file()


def test_features_are_not_standardised_and_fau_are_intensities(small):
    ege = pd.read_csv(small / "feature_segments" / "egemaps" / "1.csv").iloc[:, 2:]
    spread = ege.abs().mean()
    assert spread.max() / spread.min() > 100  # columns of very different magnitudes
    fau = pd.read_csv(small / "feature_segments" / "fau" / "1.csv").iloc[:, 2:].to_numpy()
    fau = fau[~np.isnan(fau).any(axis=1)]
    assert fau.min() >= 0 and fau.max() <= 5


def test_truth_masks_missing_rows_and_corrupted_share(small):
    corrupt, missing_vgg = [], 0
    for sid in pd.read_csv(small / "metadata" / "partition.csv", dtype=str)["Id"]:
        truth = pd.read_csv(small / "truth" / f"{sid}.csv", keep_default_na=False)
        vgg = pd.read_csv(small / "feature_segments" / "vggface" / f"{sid}.csv").iloc[:, 2:].to_numpy()
        nan_rows = np.isnan(vgg).any(axis=1)
        assert (np.isnan(vgg).all(axis=1) == nan_rows).all()  # a missing frame is a whole row
        assert ((truth["vggface_corrupt_kind"] == "missing") == nan_rows).all()
        assert (truth.loc[nan_rows, "vggface_corrupt"] == 0).all()
        missing_vgg += int(nan_rows.sum())
        corrupt.append(truth[[f"{m}_corrupt" for m in WIDTHS]].to_numpy())
    assert missing_vgg > 0
    share = np.concatenate(corrupt).mean(axis=0)
    assert ((share > 0.05) & (share < 0.3)).all(), share  # documented: 10-20 % of frames


def test_frozen_intervals_repeat_the_last_clean_frame(medium):
    seen = 0
    for sid in pd.read_csv(medium / "metadata" / "partition.csv", dtype=str)["Id"]:
        truth = pd.read_csv(medium / "truth" / f"{sid}.csv", keep_default_na=False)
        x = pd.read_csv(medium / "feature_segments" / "vggface" / f"{sid}.csv").iloc[:, 2:].to_numpy()
        frozen = np.flatnonzero(truth["vggface_corrupt_kind"] == "frozen")
        for t in frozen:
            start = t
            while truth["vggface_corrupt_kind"].iloc[start - 1] in ("frozen", "missing"):
                start -= 1
            if not np.isnan(x[t]).any():
                assert np.array_equal(x[t], x[start - 1]) or np.isnan(x[start - 1]).all()
                seen += 1
    assert seen > 0


# ---------------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = write_synthetic(tmp_path / "a", small=True, seed=3, modalities=["egemaps", "fau"])
    b = write_synthetic(tmp_path / "b", small=True, seed=3, modalities=["egemaps", "fau"])
    c = write_synthetic(tmp_path / "c", small=True, seed=4, modalities=["egemaps", "fau"])
    assert _files(a) == _files(b)
    fa, fc = _files(a), _files(c)
    assert fa["feature_segments/egemaps/1.csv"] != fc["feature_segments/egemaps/1.csv"]


def test_a_subset_of_modalities_gives_the_same_values(tmp_path, small):
    sub = write_synthetic(tmp_path / "sub", small=True, seed=0, modalities=["fau"])
    for sid in ("1", "5"):
        for rel in (f"feature_segments/fau/{sid}.csv", f"label_segments/arousal/{sid}.csv"):
            assert (sub / rel).read_bytes() == (small / rel).read_bytes()


# ------------------------------------------------------------------------------- safe writing


def test_refuses_non_empty_folder_and_overwrite_replaces(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match=str(out)):
        write_synthetic(out, small=True, modalities=["fau"])
    with pytest.raises(DataError, match="not .*synthetic"):  # overwrite never deletes foreign data
        write_synthetic(out, small=True, modalities=["fau"], overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"

    other = write_synthetic(tmp_path / "synth", small=True, modalities=["fau"], seed=1)
    with pytest.raises(DataError, match="--overwrite"):
        write_synthetic(other, small=True, modalities=["egemaps"])
    write_synthetic(other, small=True, modalities=["egemaps"], overwrite=True)
    assert sorted(p.name for p in (other / "feature_segments").iterdir()) == ["egemaps"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_overwrite_keeps_the_old_dataset_when_the_new_one_cannot_be_moved_in(tmp_path, monkeypatch):
    """The old dataset is moved aside before the new one is moved in; when that second move fails, the old one
    goes back (before, --out was left missing); when even that fails, the error says where the old one is."""
    out = write_synthetic(tmp_path / "synth", small=True, modalities=["fau"], seed=1)
    before = (out / "truth" / "manifest.json").read_bytes()
    real, fail = os.replace, {"new": 1, "back": 0}

    def replace(src, dst):  # fails the move of the new dataset into place (and, when asked, the move back)
        src, dst = Path(src), Path(dst)
        which = "new" if src.name.startswith(".synth.partial-") else "back" if src.parent.name.startswith(
            ".synth.old-") else None
        if dst == out and which and fail[which]:
            fail[which] -= 1
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(DataError, match="writing the dataset failed .No space left on device"):
        write_synthetic(out, small=True, modalities=["egemaps"], seed=2, overwrite=True)
    assert (out / "truth" / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in (out / "feature_segments").iterdir()) == ["fau"]
    assert [p.name for p in tmp_path.iterdir()] == ["synth"]  # no temporary leftovers

    fail.update(new=1, back=1)
    with pytest.raises(DataError, match="nor the old one back") as caught:
        write_synthetic(out, small=True, modalities=["egemaps"], seed=2, overwrite=True)
    kept = Path(str(caught.value).rsplit("the old one is in ", 1)[1].rstrip("."))
    assert (kept / "truth" / "manifest.json").read_bytes() == before  # nothing deleted: it is where the error says
    monkeypatch.undo()
    write_synthetic(out, small=True, modalities=["egemaps"], seed=2, overwrite=True)  # and a retry replaces it
    assert sorted(p.name for p in (out / "feature_segments").iterdir()) == ["egemaps"]


def test_unknown_modality_names_the_nearest():
    with pytest.raises(ConfigError, match="Did you mean 'vggface'") as exc:
        write_synthetic(Path("never-written"), small=True, modalities=["vgface"])
    assert "deepspectrum" in str(exc.value)
    assert not Path("never-written").exists()


def test_default_dataset_is_cached_and_regenerated_when_incomplete(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFUSE_CACHE_DIR", str(tmp_path / "cache"))
    first = default_dataset(small=True)
    assert first.is_relative_to(tmp_path / "cache" / "synth")
    manifest = first / "truth" / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    assert default_dataset(small=True) == first and manifest.stat().st_mtime_ns == stamp
    manifest.unlink()  # as if interrupted before the end
    again = default_dataset(small=True)
    assert again == first and manifest.is_file()


# ------------------------------------------------------------------------------------ statistics


def _stack(root: Path, name: str):
    ids = pd.read_csv(root / "metadata" / "partition.csv", dtype=str)
    xs, truths, parts = [], [], []
    for sid, part in zip(ids["Id"], ids["Partition"], strict=True):
        xs.append(pd.read_csv(root / "feature_segments" / name / f"{sid}.csv").iloc[:, 2:].to_numpy())
        truths.append(pd.read_csv(root / "truth" / f"{sid}.csv", keep_default_na=False))
        parts += [part] * len(xs[-1])
    return np.concatenate(xs), pd.concat(truths, ignore_index=True), np.array(parts)


def _ridge(x: np.ndarray, y: np.ndarray, fit: np.ndarray) -> np.ndarray:
    mu, sd = x[fit].mean(0), x[fit].std(0) + 1e-8
    z = np.c_[(x - mu) / sd, np.ones(len(x))]
    w = np.linalg.solve(z[fit].T @ z[fit] + 30.0 * np.eye(z.shape[1]), z[fit].T @ y[fit])
    return z @ w


def _r2(pred: np.ndarray, y: np.ndarray) -> float:
    return float(1 - np.mean((pred - y) ** 2) / np.var(y))


def test_egemaps_tracks_arousal_vggface_tracks_valence(medium):
    for name, strong, weak in (("egemaps", "arousal", "valence"), ("vggface", "valence", "arousal")):
        x, truth, part = _stack(medium, name)
        ok = ~np.isnan(x).any(axis=1)
        clean = ok & (truth[f"{name}_corrupt"].to_numpy() == 0)
        fit, held = clean & (part == "train"), clean & (part != "train")
        x = np.where(ok[:, None], x, 0.0)
        r2 = {}
        for target in (strong, weak):
            y = truth[f"latent_{target}"].to_numpy()
            r2[target] = _r2(_ridge(x, y, fit)[held], y[held])
        assert r2[strong] > 0.3 and r2[strong] > r2[weak] + 0.2, (name, r2)


def test_on_manifold_corruption_follows_the_other_trajectory(medium):
    x, truth, part = _stack(medium, "egemaps")
    ok = ~np.isnan(x).any(axis=1)
    kind = truth["egemaps_corrupt_kind"].to_numpy()
    fit = ok & (kind == "none") & (part == "train")
    pred = _ridge(np.where(ok[:, None], x, 0.0), truth["latent_arousal"].to_numpy(), fit)
    inside = ok & (kind == "other_speaker")
    assert inside.sum() > 50
    with_true = np.corrcoef(pred[inside], truth["latent_arousal"][inside])[0, 1]
    with_other = np.corrcoef(pred[inside], truth["other_arousal"][inside])[0, 1]
    assert with_other > 0.5 and with_other > with_true + 0.3, (with_true, with_other)


def test_labels_are_delayed_latent_on_the_ulm_tsst_scale(medium):
    subjects = pd.read_csv(medium / "truth" / "subjects.csv", dtype={"Id": str})
    values = []
    for sid, lag in zip(subjects["Id"], subjects["label_lag_steps"], strict=True):
        y = pd.read_csv(medium / "label_segments" / "arousal" / f"{sid}.csv")["value"].to_numpy()
        a = pd.read_csv(medium / "truth" / f"{sid}.csv")["latent_arousal"].to_numpy()
        values.append(y)
        fits = [np.corrcoef(y[k:], a[: len(a) - k])[0, 1] for k in range(0, 12)]
        assert abs(int(np.argmax(fits)) - lag) <= 2  # smoothing shifts the peak by a step or so
    values = np.concatenate(values)
    assert 0.1 < values.std() < 0.4 and values.min() >= -1 and values.max() <= 1


# ------------------------------------------------------------------------------------------ CSV


def test_fast_csv_round_trips():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 7)) * 10.0 ** rng.integers(-3, 3, 7)
    x[3] = np.nan
    ts = np.arange(50) * 500
    data = _csv_bytes(["timestamp", *(f"f{j}" for j in range(7))], [(ts, 0), (x, 5)])
    back = pd.read_csv(io.BytesIO(data))
    assert back["timestamp"].dtype == np.int64 and (back["timestamp"] == ts).all()
    np.testing.assert_allclose(back.iloc[:, 1:].to_numpy(), np.round(x, 5), atol=1e-9)


# ------------------------------------------------------------------------------------------ CLI


def test_cli_writes_summary_and_reports_errors(tmp_path):
    from musefuse.cli.app import app

    runner = CliRunner()
    out = tmp_path / "d"
    res = runner.invoke(app, ["synth", "--out", str(out), "--small", "--modalities", "egemaps,fau"])
    assert res.exit_code == 0, res.output
    assert "train 5, devel 2, test 2" in res.output and (out / "truth" / "manifest.json").is_file()
    res = runner.invoke(app, ["synth", "--out", str(out), "--small"])
    assert res.exit_code == 2 and "--overwrite" in res.output
    res = runner.invoke(app, ["synth", "--out", str(tmp_path / "e"), "--small", "--modalities", "fua"])
    assert res.exit_code == 2 and "Did you mean 'fau'" in res.output


def test_every_modality_is_declared_with_its_real_width():
    assert SYNTH_WIDTHS == WIDTHS and set(MODALITY_SPECS) == set(WIDTHS)
    registry = {e.name: e.width for e in builtin_modalities()}
    assert {m: registry[m] for m in SYNTH_WIDTHS} == SYNTH_WIDTHS  # one source of truth: registry.yaml


# ------------------------------------------------------------------------------ identity knobs

# sha256 over (path, bytes) of every file but the manifest, written by generator version 1 (before the
# identity knobs existed) with subjects=6, small=True, seed=2, modalities egemaps, vggface, fau, bert.
VERSION_1_DIGEST = "39e694e8c3b43bc7b9a156d7e387bf4d7d407e6a0b7cc759c34f6669c12b3ed2"


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def test_knobs_at_zero_give_the_bytes_of_version_1(tmp_path):
    mods = ["egemaps", "vggface", "fau", "bert"]
    root = write_synthetic(tmp_path / "d", subjects=6, small=True, seed=2, modalities=mods,
                           identity=0.0, corruption_spread=0.0, re_mislead=0.0)
    assert _digest(root) == VERSION_1_DIGEST
    import json

    manifest = json.loads((root / "truth" / "manifest.json").read_text())  # as version 2 wrote it
    assert manifest["version"] == "2" and not [k for k in manifest["params"] if k.startswith("re_mislead")]


def _between_subject_share(root: Path, name: str) -> float:
    """Share of the (standardised) clean-frame feature variance that is between subject means."""
    ids = pd.read_csv(root / "metadata" / "partition.csv", dtype=str)["Id"]
    xs = []
    for sid in ids:
        x = pd.read_csv(root / "feature_segments" / name / f"{sid}.csv").iloc[:, 2:].to_numpy()
        corrupt = pd.read_csv(root / "truth" / f"{sid}.csv", keep_default_na=False)[f"{name}_corrupt"].to_numpy()
        xs.append(x[~np.isnan(x).any(axis=1) & (corrupt == 0)])
    allx = np.concatenate(xs)
    mu, sd = allx.mean(0), allx.std(0) + 1e-8
    means = np.stack([((x - mu) / sd).mean(0) for x in xs])
    return float(means.var(0).sum() / ((allx - mu) / sd).var(0).sum())


def test_identity_knob_makes_subjects_recognisable_most_in_vggface(tmp_path):
    mods = ["egemaps", "vggface", "fau"]
    plain = write_synthetic(tmp_path / "plain", subjects=12, small=True, seed=0, modalities=mods)
    heavy = write_synthetic(tmp_path / "heavy", subjects=12, small=True, seed=0, modalities=mods, identity=1.0)
    gain = {m: _between_subject_share(heavy, m) - _between_subject_share(plain, m) for m in mods}
    assert all(g > 0 for g in gain.values()), gain
    assert gain["vggface"] > 0.2 and gain["vggface"] > gain["fau"] > gain["egemaps"], gain
    # Labels and the latent do not depend on the knob, only the features do.
    for rel in ("label_segments/arousal/3.csv", "truth/subjects.csv", "metadata/partition.csv"):
        assert (plain / rel).read_bytes() == (heavy / rel).read_bytes()
    face = "feature_segments/vggface/3.csv"
    assert (plain / face).read_bytes() != (heavy / face).read_bytes()


def test_corruption_spread_makes_some_subjects_much_noisier(tmp_path):
    assert subject_noisiness(0, 5, params_for(corruption_spread=0.0)) == 1.0
    factors = np.array([subject_noisiness(0, k, params_for(corruption_spread=0.5)) for k in range(400)])
    assert abs(factors.mean() - 1.0) < 0.08 and factors.max() / factors.min() > 5  # mean 1, wide spread

    def shares(root: Path) -> np.ndarray:
        ids = pd.read_csv(root / "metadata" / "partition.csv", dtype=str)["Id"]
        return np.array([pd.read_csv(root / "truth" / f"{sid}.csv", keep_default_na=False)["fau_corrupt"].mean()
                         for sid in ids])

    kw = {"subjects": 16, "seed": 0, "modalities": ["fau"]}
    flat = shares(write_synthetic(tmp_path / "flat", **kw))
    spread = shares(write_synthetic(tmp_path / "spread", corruption_spread=0.8, **kw))
    assert spread.std() > 2 * flat.std(), (flat, spread)
    assert spread.max() <= PARAMS.corrupt_share_max + 0.01


def test_knobs_are_validated_and_keyed_in_the_cache(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="identity knob"):
        params_for(identity=-0.1)
    with pytest.raises(ConfigError, match=r"RE-mislead knob must be a number in \[0, 1\], got 1.5"):
        params_for(re_mislead=1.5)
    with pytest.raises(ConfigError, match="Did you mean 'identity-heavy'"):
        default_dataset(small=True, variant="identity_heavy")
    monkeypatch.setenv("MUSEFUSE_CACHE_DIR", str(tmp_path / "cache"))
    plain = default_dataset(small=True, modalities=["fau"])
    heavy = default_dataset(small=True, modalities=["fau"], variant="identity-heavy")
    same = default_dataset(small=True, modalities=["fau"], identity=1.0, corruption_spread=0.5)
    assert heavy == same != plain and "-id1-cs0.5" in heavy.name
    import json

    params = json.loads((heavy / "truth" / "manifest.json").read_text())["params"]
    assert params["identity"] == 1.0 and params["corruption_spread"] == 0.5
    mislead = default_dataset(small=True, modalities=["fau"], variant="re-misleads")
    assert mislead.name == "v2-seed0-small-id0-cs0-rm1-fau" and heavy.name == "v2-seed0-small-id1-cs0.5-fau"
    params = json.loads((mislead / "truth" / "manifest.json").read_text())["params"]
    assert params["re_mislead"] == 1.0 and params["identity"] == 0.0
    with pytest.raises(ConfigError, match="RE-mislead knob"):
        default_dataset(small=True, modalities=["fau"], re_mislead=-1)


def test_cli_variant_and_knobs(tmp_path):
    from musefuse.cli.app import app

    runner = CliRunner()
    res = runner.invoke(app, ["synth", "--out", str(tmp_path / "a"), "--small", "--modalities", "fau",
                              "--variant", "identity-heavy", "--identity", "2"])
    assert res.exit_code == 0, res.output
    assert "identity 2, corruption spread 0.5" in res.output
    res = runner.invoke(app, ["synth", "--out", str(tmp_path / "b"), "--small", "--variant", "heavy"])
    assert res.exit_code == 2 and "identity-heavy" in res.output
    res = runner.invoke(app, ["synth", "--out", str(tmp_path / "c"), "--small", "--modalities", "fau",
                              "--variant", "re-misleads", "--re-mislead", "0.5"])
    assert res.exit_code == 0, res.output
    assert "identity 0, corruption spread 0, RE mislead 0.5" in res.output
    truth = pd.read_csv(tmp_path / "c" / "truth" / "1.csv", keep_default_na=False)
    assert truth["fau_re_noise_std"].between(0, 0.5 * PARAMS.re_mislead_std).all()
    res = runner.invoke(app, ["synth", "--out", str(tmp_path / "d"), "--small", "--re-mislead", "2"])
    assert res.exit_code == 2 and "[0, 1]" in res.output and not (tmp_path / "d").exists()


# --------------------------------------------------------------------------------- RE misleads


@pytest.fixture(scope="module")
def mislead_pair(tmp_path_factory) -> tuple[Path, Path]:
    """30 full-length subjects (18/6/6), eGeMAPS only, with the RE-mislead knob off and on."""
    root = tmp_path_factory.mktemp("mislead")
    kw = {"subjects": 30, "seed": 0, "modalities": ["egemaps"]}
    return write_synthetic(root / "off", **kw), write_synthetic(root / "on", re_mislead=1.0, **kw)


def test_re_mislead_noise_follows_the_labels_in_train_only():
    """The same 150 subjects as train subjects and as devel/test subjects: noise power against labels."""
    p = params_for(re_mislead=1.0)
    power: dict[str, list[np.ndarray]] = {"train": [], "devel": []}
    labels: dict[str, list[np.ndarray]] = {"arousal": [], "valence": []}
    per_subject = []
    for k in range(150):
        subject = draw_subject(0, k, False, p)
        for part in power:
            power[part].append(re_mislead_std(0, k, subject.latent, part, p) ** 2)
        for target in labels:
            labels[target].append(subject.labels[target])
        per_subject.append(np.corrcoef(power["devel"][-1], subject.labels["arousal"])[0, 1])
    y = {target: np.concatenate(v) for target, v in labels.items()}
    train, held = np.concatenate(power["train"]), np.concatenate(power["devel"])
    assert np.corrcoef(train, y["arousal"])[0, 1] > 0.5 and np.corrcoef(train, y["valence"])[0, 1] < -0.5
    for target in labels:  # unrelated on subjects no model was trained on
        assert abs(np.corrcoef(held, y[target])[0, 1]) < 0.15  # measured: +0.08 / -0.01
    assert 0.3 < np.mean(np.array(per_subject) < 0) < 0.7  # within a subject: either sign, by chance
    assert 0.9 < held.mean() / train.mean() < 1.1 and 0.8 < held.std() / train.std() < 1.25  # no drift in level
    assert re_mislead_std(0, 0, draw_subject(0, 0, False, PARAMS).latent, "train", PARAMS) is None  # knob 0: off


def test_re_mislead_truth_records_each_partitions_noise(mislead_pair):
    on = mislead_pair[1]
    p = params_for(re_mislead=1.0)
    ids = pd.read_csv(on / "metadata" / "partition.csv", dtype=str)
    assert set(ids["Partition"]) == {"train", "devel", "test"}
    for k, (sid, part) in enumerate(zip(ids["Id"], ids["Partition"], strict=True)):
        recorded = pd.read_csv(on / "truth" / f"{sid}.csv", keep_default_na=False)["egemaps_re_noise_std"]
        expected = re_mislead_std(0, k, draw_subject(0, k, False, p).latent, part, p)
        np.testing.assert_allclose(recorded.to_numpy(), expected, atol=1e-6)
    assert "re_noise_std" in (on / "truth" / "README.md").read_text()
    off = pd.read_csv(mislead_pair[0] / "truth" / "1.csv", keep_default_na=False)
    assert not [c for c in off.columns if "re_noise" in c]


def test_re_mislead_adds_that_noise_to_a_share_of_the_columns(mislead_pair):
    off, on = mislead_pair
    cols = re_mislead_columns(0, "egemaps", params_for(re_mislead=1.0))
    assert 0.4 < cols.size / 88 < 0.6
    scale = _world(0, "egemaps", PARAMS).scale[cols]
    for sid in ("1", "2", "3"):
        x_off = pd.read_csv(off / "feature_segments" / "egemaps" / f"{sid}.csv").iloc[:, 2:].to_numpy()
        x_on = pd.read_csv(on / "feature_segments" / "egemaps" / f"{sid}.csv").iloc[:, 2:].to_numpy()
        truth = pd.read_csv(on / "truth" / f"{sid}.csv", keep_default_na=False)
        others = np.setdiff1d(np.arange(88), cols)
        np.testing.assert_array_equal(x_on[:, others], x_off[:, others])  # the other columns are untouched
        plain = (truth["egemaps_corrupt_kind"] == "none").to_numpy()
        # eGeMAPS is affine in the hidden features: the difference is the noise times the column scale.
        noise = ((x_on - x_off)[:, cols] / scale)[plain]
        std = truth["egemaps_re_noise_std"].to_numpy()[plain]
        assert abs((noise / std[:, None]).std() - 1.0) < 0.03  # N(0, std(t)^2), column by column
        assert np.corrcoef((noise**2).mean(axis=1), std**2)[0, 1] > 0.7  # (44 columns: chi-square spread)


def test_a_linear_auto_encoder_error_tracks_the_labels_in_train_only(mislead_pair):
    """What the knob is for: the reconstruction error of a model fitted on train frames (here PCA, the
    linear auto-encoder) rises with stress in train subjects and says nothing of it on new ones."""
    for root, trap in zip(mislead_pair, (False, True), strict=True):
        x, truth, part = _stack(root, "egemaps")
        ids = pd.read_csv(root / "metadata" / "partition.csv", dtype=str)["Id"]
        arousal = np.concatenate([pd.read_csv(root / "label_segments" / "arousal" / f"{sid}.csv")["value"]
                                  for sid in ids])
        clean = ~np.isnan(x).any(axis=1) & (truth["egemaps_corrupt"].to_numpy() == 0)
        fit = clean & (part == "train")
        z = (x - x[fit].mean(0)) / x[fit].std(0)
        basis = np.linalg.svd(z[fit], full_matrices=False)[2][:8].T
        log_re = np.log(((z - z @ basis @ basis.T) ** 2).mean(axis=1))
        r = {p: np.corrcoef(log_re[clean & (part == p)], arousal[clean & (part == p)])[0, 1]
             for p in ("train", "devel", "test")}
        if trap:
            assert r["train"] > 0.4 and abs(r["devel"]) < 0.2 and abs(r["test"]) < 0.2, r
        else:
            assert max(abs(v) for v in r.values()) < 0.2, r


def test_rater_offset_moves_each_subjects_labels_and_nothing_else(tmp_path):
    kw = {"subjects": 6, "small": True, "seed": 1, "modalities": ["fau"]}
    off, on = write_synthetic(tmp_path / "off", **kw), write_synthetic(tmp_path / "on", rater_offset=0.2, **kw)
    truth = pd.read_csv(on / "truth" / "subjects.csv", dtype={"Id": str}).set_index("Id")
    assert json.loads((on / "truth" / "manifest.json").read_text())["params"]["rater_offset"] == 0.2
    for sid in truth.index:
        a, b = (pd.read_csv(root / "feature_segments" / "fau" / f"{sid}.csv") for root in (off, on))
        pd.testing.assert_frame_equal(a, b)  # the features never see it
        for t in ("arousal", "valence"):
            y0, y1 = (pd.read_csv(root / "label_segments" / t / f"{sid}.csv")["value"].to_numpy() for root in (off, on))
            offset = truth.loc[sid, f"rater_offset_{t}"]
            inside = np.abs(y0 + offset) < 1  # not clipped
            np.testing.assert_allclose(y1[inside], y0[inside] + offset, atol=2e-6)
            assert np.all(np.abs(y1) <= 1)
    assert truth[["rater_offset_arousal", "rater_offset_valence"]].abs().to_numpy().max() > 0.05
    with pytest.raises(ConfigError, match="rater offset"):
        params_for(rater_offset=-0.1)


def test_unseen_subjects_knobs_move_features_only_and_the_leak_holds_in_train_subjects_only(tmp_path):
    """subject_mapping and level_leak change feature values, never labels; the leaked look tracks each train
    subject's level and says nothing of a devel or test subject's."""
    from musefuse.lab.synth import _standardise, draw_subject, leaked_levels

    kw = {"subjects": 30, "small": True, "seed": 4, "modalities": ["vggface"]}
    off = write_synthetic(tmp_path / "off", **kw)
    on = write_synthetic(tmp_path / "on", subject_mapping=0.6, level_leak=1.0, **kw)
    params = json.loads((on / "truth" / "manifest.json").read_text())["params"]
    assert params["subject_mapping"] == 0.6 and params["level_leak"] == 1.0
    assert "level_leak" not in json.loads((off / "truth" / "manifest.json").read_text())["params"]
    parts = pd.read_csv(on / "metadata" / "partition.csv", dtype={"Id": str}).set_index("Id")["Partition"]
    for sid in parts.index[:3]:
        for t in ("arousal", "valence"):
            assert (on / "label_segments" / t / f"{sid}.csv").read_bytes() == \
                (off / "label_segments" / t / f"{sid}.csv").read_bytes()
        assert (on / "feature_segments" / "vggface" / f"{sid}.csv").read_bytes() != \
            (off / "feature_segments" / "vggface" / f"{sid}.csv").read_bytes()
    p = params_for(level_leak=1.0)
    own, leaked = {}, {}
    for k, sid in enumerate(parts.index):
        lat = draw_subject(4, k, True, p).latent
        own[sid] = _standardise(lat, p)[:, 0].mean()
        leaked[sid] = leaked_levels(4, k, lat, parts[sid], p)[0]
    train = [s for s in parts.index if parts[s] == "train"]
    unseen = [s for s in parts.index if parts[s] != "train"]
    assert all(np.isclose(leaked[s], own[s]) for s in train)
    assert not any(np.isclose(leaked[s], own[s]) for s in unseen)
    with pytest.raises(ConfigError, match="level leak"):
        params_for(level_leak=-1)

"""load_dataset, the cache, standardise and windows, on tiny MuSe-layout folders written by hand."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import musefuse.core.data.cache as cache_mod
import musefuse.core.data.museio as museio
from musefuse.core.data.loader import load_dataset, standardise
from musefuse.core.data.museio import write_feature_csv, write_label_csv
from musefuse.core.errors import ConfigError, DataError
from musefuse.core.interfaces import FeatureTable, Modality
from musefuse.core.learning.training import windows

PARTS = {"1": "train", "2": "train", "3": "devel", "4": "test"}


def make_dataset(
    root: Path,
    folders: dict[str, int],
    *,
    partitions: dict[str, str] = PARTS,
    targets: tuple[str, ...] = ("arousal", "valence"),
    steps: int = 20,
    nan_rows: dict[str, list[int]] | None = None,
    hidden_test: bool = True,
    seed: int = 0,
) -> Path:
    """A MuSe-layout folder: ``folders`` maps feature folder -> width; one row every 500 ms.

    ``nan_rows``: feature folder -> rows left empty (no face found). Test labels are hidden (empty
    value cells) unless ``hidden_test`` is False.
    """
    rng = np.random.default_rng(seed)
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    lines = ["Id,Partition", *(f"{sid},{part}" for sid, part in partitions.items())]
    (root / "metadata" / "partition.csv").write_text("\n".join(lines) + "\n")
    ts = np.arange(steps, dtype=np.int64) * 500
    seg = 1 + np.arange(steps, dtype=np.int64) // 10
    for sid, part in partitions.items():
        for folder, width in folders.items():
            x = rng.normal(size=(steps, width)).astype(np.float32)
            x[(nan_rows or {}).get(folder, [])] = np.nan
            write_feature_csv(root / "feature_segments" / folder / f"{sid}.csv", FeatureTable(ts, seg, x))
        for t in targets:
            y = rng.uniform(-1, 1, steps).astype(np.float32)
            if part == "test" and hidden_test:
                y[:] = np.nan
            write_label_csv(root / "label_segments" / t / f"{sid}.csv", ts, y, seg)
    return root


MODS = [Modality(name="aaa", width=3), Modality(name="bbb", width=2, standardise=False)]


@pytest.fixture
def data(tmp_path) -> Path:
    return make_dataset(tmp_path / "data", {"aaa": 3, "bbb": 2})


def test_loads_raw_aligned_arrays(data):
    ds = load_dataset(data, MODS)
    assert ds.modalities == ["aaa", "bbb"] and ds.targets == ["arousal", "valence"]
    assert [s.id for s in ds.subjects] == ["1", "2", "3", "4"]
    assert [s.id for s in ds.partition("train")] == ["1", "2"]
    s = ds.subjects[0]
    assert s.timestamps.dtype == np.int64 and s.timestamps[:3].tolist() == [0, 500, 1000]
    assert s.features["aaa"].shape == (20, 3) and s.features["aaa"].dtype == np.float32
    expected = museio.read_feature_csv(data / "feature_segments" / "aaa" / "1.csv").values
    np.testing.assert_array_equal(s.features["aaa"], expected)  # raw, not standardised
    assert s.labels["arousal"].shape == (20,) and s.is_scored("arousal")
    test = ds.partition("test")[0]
    assert not test.is_scored("arousal") and len(test.timestamps) == 20  # hidden labels: predicted only
    assert ds.report.dropped == {} and ds.folders == {"aaa": "aaa", "bbb": "bbb"}


def test_muse2022_folder_names_integer_ids_and_nan_rows(tmp_path):
    folders = {"ds": 8, "faus": 4, "vggface2": 5, "bert-4": 6}
    parts = {"10": "train", "11": "devel", "12": "test"}
    root = make_dataset(tmp_path / "d", folders, partitions=parts, nan_rows={"faus": [2, 3], "vggface2": [3]})
    mods = [
        Modality(name="deepspectrum", width=8, aliases=["ds"]),
        Modality(name="fau", width=4, aliases=["faus", "fau_intensity"]),
        Modality(name="vggface", width=5, aliases=["vggface2"]),
        Modality(name="bert", width=6, aliases=["bert-4"]),
    ]
    ds = load_dataset(root, mods, ["arousal"])
    assert ds.folders == {"deepspectrum": "ds", "fau": "faus", "vggface": "vggface2", "bert": "bert-4"}
    assert [s.id for s in ds.subjects] == ["10", "11", "12"]  # integer Ids read as strings
    fau = ds.subjects[0].features["fau"]
    assert np.isnan(fau[[2, 3]]).all() and np.isfinite(fau[[0, 1, 4]]).all()  # NaN rows kept
    assert np.isnan(ds.subjects[0].features["vggface"][3]).all()
    assert ds.targets == ["arousal"]


def test_columns_in_any_order(tmp_path):
    root = make_dataset(tmp_path / "d", {"aaa": 3}, targets=("arousal",), steps=4)
    f = root / "feature_segments" / "aaa" / "1.csv"
    f.write_text("f0,segment_id,f1,timestamp,f2\n1,1,2,0,3\n4,1,5,500,6\n7,1,8,1000,9\n10,2,11,1500,12\n")
    lab = root / "label_segments" / "arousal" / "1.csv"
    lab.write_text("segment_id,value,timestamp\n1,0.1,0\n1,0.2,500\n1,0.3,1000\n2,0.4,1500\n")
    s = load_dataset(root, [MODS[0]]).subjects[0]
    np.testing.assert_array_equal(s.features["aaa"][1], [4, 5, 6])
    np.testing.assert_allclose(s.labels["arousal"], [0.1, 0.2, 0.3, 0.4])
    assert s.segment_ids.tolist() == [1, 1, 1, 2]


def test_alignment_drops_rows_outside_timeline_and_fills_missing_steps(tmp_path):
    root = make_dataset(tmp_path / "d", {"aaa": 3}, targets=("arousal", "valence"), steps=6)
    # features: steps 500 and 1000 missing, two rows after the labels end
    f = root / "feature_segments" / "aaa" / "1.csv"
    x = np.arange(15, dtype=np.float32).reshape(5, 3)
    write_feature_csv(f, FeatureTable(np.array([0, 1500, 2000, 3000, 3500]), np.ones(5, np.int64), x))
    # valence lacks the last step: the timeline is the steps both targets share
    v = root / "label_segments" / "valence" / "1.csv"
    write_label_csv(v, np.arange(5) * 500, np.zeros(5, np.float32), np.ones(5, np.int64))
    ds = load_dataset(root, [MODS[0]])
    s = ds.subjects[0]
    assert s.timestamps.tolist() == [0, 500, 1000, 1500, 2000]
    assert np.isnan(s.features["aaa"][[1, 2]]).all()
    np.testing.assert_array_equal(s.features["aaa"][[0, 3, 4]], x[:3])
    assert len(s.labels["arousal"]) == 5
    assert ds.report.dropped == {
        "arousal: label rows not shared by every target": 1,
        "aaa: feature rows outside the label timeline": 2,
    }
    assert any("NaN rows" in w for w in ds.report.warnings)


def test_test_subject_without_label_files_uses_feature_timeline(tmp_path):
    root = make_dataset(tmp_path / "d", {"aaa": 3}, targets=("arousal",), steps=7)
    (root / "label_segments" / "arousal" / "4.csv").unlink()
    s = load_dataset(root, [MODS[0]]).partition("test")[0]
    assert len(s.timestamps) == 7 and np.isnan(s.labels["arousal"]).all()


def test_empty_test_label_file_is_hidden(tmp_path):
    root = make_dataset(tmp_path / "d", {"aaa": 3}, targets=("arousal",), steps=7)
    (root / "label_segments" / "arousal" / "4.csv").write_text("")
    s = load_dataset(root, [MODS[0]]).partition("test")[0]
    assert len(s.timestamps) == 7 and not s.is_scored("arousal")


# -- errors: each names the file ---------------------------------------------------------------------


def test_missing_modality_folder_lists_what_is_there(data):
    with pytest.raises(DataError, match=r"'ccc'.*Folders there: aaa, bbb"):
        load_dataset(data, [Modality(name="ccc", width=3, aliases=["cc"])])


def test_subject_without_feature_file(data):
    (data / "feature_segments" / "bbb" / "3.csv").unlink()
    with pytest.raises(DataError, match=r"bbb/3\.csv: feature file not found.*'3' \(devel\)"):
        load_dataset(data, MODS)


def test_train_subject_without_label_file(data):
    (data / "label_segments" / "valence" / "2.csv").unlink()
    with pytest.raises(DataError, match=r"valence/2\.csv: label file not found.*'train'"):
        load_dataset(data, MODS)


def test_train_subject_with_empty_labels(data):
    (data / "label_segments" / "valence" / "2.csv").write_text("timestamp,value,segment_id\n0,,1\n")
    with pytest.raises(DataError, match=r"valence/2\.csv: holds no label values"):
        load_dataset(data, MODS)


def test_widths_differ_between_subjects(data):
    f = data / "feature_segments" / "aaa" / "3.csv"
    write_feature_csv(f, FeatureTable(np.arange(20) * 500, np.ones(20, np.int64), np.zeros((20, 4), np.float32)))
    with pytest.raises(DataError, match=r"aaa/3\.csv: has 4 feature columns but .*aaa/1\.csv has 3"):
        load_dataset(data, MODS)


def test_width_differs_from_declared_is_a_warning_when_every_file_agrees(data):
    """Issue 11, item 12: a declared width is the usual one (DeepSpectrum's depends on its CNN)."""
    ds = load_dataset(data, [Modality(name="aaa", width=5)])
    assert ds.subjects[0].features["aaa"].shape[1] == 3
    assert any("declares 5 feature columns, but every file in folder 'aaa' has 3" in w for w in ds.report.warnings)


def test_empty_partition(data):
    (data / "metadata" / "partition.csv").write_text("Id,Partition\n1,train\n2,train\n4,test\n")
    with pytest.raises(DataError, match=r"partition\.csv: the 'devel' partition is empty"):
        load_dataset(data, MODS)


def test_features_and_labels_share_no_timestamps(data):
    f = data / "feature_segments" / "aaa" / "2.csv"
    write_feature_csv(f, FeatureTable(100_000 + np.arange(20) * 500, np.ones(20, np.int64),
                                      np.zeros((20, 3), np.float32)))
    with pytest.raises(DataError, match=r"aaa/2\.csv: shares no timestamp with the label file\(s\) .*arousal/2\.csv"):
        load_dataset(data, MODS)


def test_unknown_target(data):
    with pytest.raises(DataError, match=r"no label folder for target 'dominance'.*arousal, valence"):
        load_dataset(data, MODS, ["dominance"])


# -- cache and fingerprint ---------------------------------------------------------------------------


@pytest.fixture
def count_reads(monkeypatch):
    calls: list[str] = []
    real_f, real_l = cache_mod.read_feature_csv, cache_mod.read_label_csv

    def feature(path, width=None):
        calls.append(Path(path).name)
        return real_f(path, width)

    def label(path):
        calls.append(Path(path).name)
        return real_l(path)

    monkeypatch.setattr(cache_mod, "read_feature_csv", feature)
    monkeypatch.setattr(cache_mod, "read_label_csv", label)
    return calls


def test_cache_hit_and_invalidation(data, count_reads, tmp_path):
    first = load_dataset(data, MODS)
    assert len(count_reads) == 4 * 2 + 4 * 2  # every feature and label file parsed once
    assert list(Path(os.environ["MUSEFUSE_CACHE_DIR"]).rglob("*.npz"))  # stored outside the data folder
    assert not list(data.rglob("*.npz"))
    count_reads.clear()
    second = load_dataset(data, MODS)
    assert count_reads == []  # all from the cache
    assert second.fingerprint == first.fingerprint
    np.testing.assert_array_equal(second.subjects[2].features["aaa"], first.subjects[2].features["aaa"])

    f = data / "feature_segments" / "aaa" / "3.csv"
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # touch: same bytes, new mtime
    third = load_dataset(data, MODS)
    assert count_reads == ["3.csv"]
    assert third.fingerprint != first.fingerprint


def test_corrupt_cache_entry_is_rebuilt(data, count_reads):
    first = load_dataset(data, MODS)
    for entry in Path(os.environ["MUSEFUSE_CACHE_DIR"]).rglob("*.npz"):
        entry.write_bytes(b"not a zip file")
    count_reads.clear()
    again = load_dataset(data, MODS)
    assert len(count_reads) == 16
    np.testing.assert_array_equal(again.subjects[0].features["bbb"], first.subjects[0].features["bbb"])
    count_reads.clear()
    load_dataset(data, MODS)
    assert count_reads == []


def test_no_cache_and_explicit_cache_dir(data, count_reads, tmp_path):
    load_dataset(data, MODS, use_cache=False)
    load_dataset(data, MODS, use_cache=False)
    assert len(count_reads) == 32
    assert not list(Path(os.environ["MUSEFUSE_CACHE_DIR"]).rglob("*.npz"))
    load_dataset(data, MODS, cache_dir=tmp_path / "mine")
    assert list((tmp_path / "mine").rglob("*.npz"))


def test_cache_inside_data_folder_is_refused(data):
    with pytest.raises(ConfigError, match="inside the data folder"):
        load_dataset(data, MODS, cache_dir=data / ".cache")


def test_reader_version_is_part_of_the_key(data, count_reads, monkeypatch):
    load_dataset(data, MODS)
    count_reads.clear()
    monkeypatch.setattr(cache_mod, "READER_VERSION", "test-bump")
    load_dataset(data, MODS)
    assert len(count_reads) == 16


# -- standardise and windows -------------------------------------------------------------------------


def test_standardise_fits_train_and_transforms_in_place(data):
    ds = load_dataset(data, MODS)
    train_raw = [s.features["aaa"].copy() for s in ds.partition("train")]
    bbb_raw = ds.subjects[0].features["bbb"].copy()
    stats = standardise(ds, MODS)
    frames = np.concatenate(train_raw).astype(np.float64)  # the one-shot formula the streaming fit must match
    np.testing.assert_allclose(stats["aaa"].mean, np.nanmean(frames, axis=0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(stats["aaa"].std, np.nanstd(frames, axis=0), rtol=1e-6)
    z = np.concatenate([s.features["aaa"] for s in ds.partition("train")])
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-5)
    np.testing.assert_array_equal(ds.subjects[0].features["bbb"], bbb_raw)  # standardise=False: identity

    again = load_dataset(data, MODS)
    standardise(again, MODS, stats)  # given statistics are applied, not refitted
    np.testing.assert_array_equal(again.subjects[3].features["aaa"], ds.subjects[3].features["aaa"])


def test_standardise_keeps_nan_rows(tmp_path):
    root = make_dataset(tmp_path / "d", {"aaa": 3}, nan_rows={"aaa": [0, 5]})
    ds = load_dataset(root, [MODS[0]])
    standardise(ds, [MODS[0]])
    x = ds.subjects[0].features["aaa"]
    assert np.isnan(x[[0, 5]]).all() and np.isfinite(x[1:5]).all()


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (0, []),
        (150, [(0, 150)]),
        (200, [(0, 200)]),
        (400, [(0, 200), (100, 300), (200, 400)]),
        (450, [(0, 200), (100, 300), (200, 400), (250, 450)]),
    ],
)
def test_windows(length, expected):
    assert windows(length, 200, 100) == expected


def test_windows_cover_everything():
    for length in range(1, 700, 37):
        w = windows(length, 200, 100)
        assert w[-1][1] == length and w[0][0] == 0
        assert all(e - s == min(200, length) for s, e in w)
        assert all(b[0] <= a[1] for a, b in zip(w, w[1:], strict=False))  # no hole between windows

"""The CSV readers: columns by name, and one clear DataError per kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest

from musefuse.core.data.museio import WidthMismatch, read_feature_csv, read_label_csv, read_partitions
from musefuse.core.errors import DataError
from musefuse.core.interfaces import Modality


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


# -- features ----------------------------------------------------------------------------------------


def test_feature_columns_by_name(tmp_path):
    p = write(tmp_path, "7.csv", "subject_id,f1,timestamp,f2,segment_id\n7,1.5,0,2,1\n7,3,500,4,1\n7,5,1000,6,2\n")
    t = read_feature_csv(p)
    assert t.timestamps.tolist() == [0, 500, 1000] and t.timestamps.dtype == np.int64
    assert t.segment_ids.tolist() == [1, 1, 2]
    assert t.values.dtype == np.float32 and t.values.tolist() == [[1.5, 2], [3, 4], [5, 6]]


def test_text_id_column_and_large_timestamps(tmp_path):
    big = 2**24 + 1  # not exact in float32: must still come back exact
    p = write(tmp_path, "7.csv", f"Id,timestamp,segment_id,f1\nS7,{big},1,0.5\nS7,{big + 500},1,1\n")
    t = read_feature_csv(p)
    assert t.timestamps.tolist() == [big, big + 500] and t.values.tolist() == [[0.5], [1.0]]
    p = write(tmp_path, "8.csv", f"timestamp,segment_id,f1\n{big},1,0.5\n{big + 500},1,1\n")
    assert read_feature_csv(p).timestamps.tolist() == [big, big + 500]


def test_nan_rows_are_kept(tmp_path):
    p = write(tmp_path, "1.csv", "timestamp,segment_id,a,b\n0,1,1,2\n500,1,,\n1000,1,nan,NaN\n")
    t = read_feature_csv(p)
    assert np.isnan(t.values[1:]).all() and np.isfinite(t.values[0]).all()


def test_modality_read_checks_width(tmp_path):
    p = write(tmp_path, "1.csv", "timestamp,segment_id,a,b\n0,1,1,2\n")
    assert Modality(name="m", width=2).read(p).values.shape == (1, 2)
    with pytest.raises(WidthMismatch, match=r"1\.csv: has 2 feature columns, but 3 were expected"):
        Modality(name="m", width=3).read(p)


@pytest.mark.parametrize("missing", ["timestamp", "segment_id"])
def test_missing_feature_column(tmp_path, missing):
    header = ",".join(c for c in ["timestamp", "segment_id", "a"] if c != missing)
    p = write(tmp_path, "3.csv", header + "\n0,1\n")
    with pytest.raises(DataError, match=rf"3\.csv: missing column\(s\) '{missing}'"):
        read_feature_csv(p)


def test_non_numeric_feature_cell_names_row_and_column(tmp_path):
    p = write(tmp_path, "5.csv", "timestamp,segment_id,a,b\n0,1,1,2\n500,1,3,oops\n1000,1,x,6\n")
    with pytest.raises(DataError, match=r"5\.csv: data row 2 \(CSV line 3\), column 'b': 'oops' is not a number"):
        read_feature_csv(p)


def test_non_numeric_timestamp(tmp_path):
    p = write(tmp_path, "5.csv", "timestamp,segment_id,a\n0,1,1\n00:01,1,3\n")
    with pytest.raises(DataError, match=r"5\.csv: data row 2 \(CSV line 3\), column 'timestamp': '00:01'"):
        read_feature_csv(p)


def test_duplicate_timestamp_names_row(tmp_path):
    p = write(tmp_path, "2.csv", "timestamp,segment_id,a\n0,1,1\n500,1,2\n500,1,3\n")
    with pytest.raises(DataError, match=r"2\.csv: data row 3 \(CSV line 4\).*500 repeats"):
        read_feature_csv(p)


def test_decreasing_timestamp_names_row(tmp_path):
    p = write(tmp_path, "2.csv", "timestamp,segment_id,a\n0,1,1\n1000,1,2\n500,1,3\n")
    with pytest.raises(DataError, match=r"2\.csv: data row 3 \(CSV line 4\).*500 is smaller than"):
        read_feature_csv(p)


def test_empty_or_fractional_timestamp(tmp_path):
    p = write(tmp_path, "2.csv", "timestamp,segment_id,a\n0,1,1\n,1,2\n")
    with pytest.raises(DataError, match=r"2\.csv: data row 2 .*'timestamp': empty"):
        read_feature_csv(p)
    p = write(tmp_path, "3.csv", "timestamp,segment_id,a\n0,1,1\n0.5,1,2\n")
    with pytest.raises(DataError, match=r"3\.csv: data row 2 .*not a whole number"):
        read_feature_csv(p)


def test_empty_feature_file(tmp_path):
    with pytest.raises(DataError, match=r"9\.csv: the file is empty"):
        read_feature_csv(write(tmp_path, "9.csv", ""))


def test_ragged_row_is_a_data_error(tmp_path):
    p = write(tmp_path, "4.csv", "timestamp,segment_id,a\n0,1,1\n500,1,2,3,4\n")
    with pytest.raises(DataError, match=r"4\.csv: cannot parse the CSV \(.*line 3"):
        read_feature_csv(p)


# -- labels ------------------------------------------------------------------------------------------


def test_label_columns_by_name(tmp_path):
    p = write(tmp_path, "1.csv", "segment_id,timestamp,value\n1,0,0.25\n1,500,-0.5\n")
    ts, y, seg = read_label_csv(p)
    assert ts.tolist() == [0, 500] and y.tolist() == [0.25, -0.5] and seg.tolist() == [1, 1]
    assert y.dtype == np.float32


def test_missing_value_column(tmp_path):
    p = write(tmp_path, "1.csv", "timestamp,segment_id\n0,1\n")
    with pytest.raises(DataError, match=r"1\.csv: missing column\(s\) 'value'"):
        read_label_csv(p)


def test_non_numeric_label(tmp_path):
    p = write(tmp_path, "1.csv", "timestamp,value,segment_id\n0,0.1,1\n500,high,1\n")
    with pytest.raises(DataError, match=r"1\.csv: data row 2 \(CSV line 3\), column 'value': 'high'"):
        read_label_csv(p)


@pytest.mark.parametrize("text", ["", "timestamp,value,segment_id\n", "timestamp,value,segment_id\n0,,1\n500,,1\n"])
def test_hidden_labels_are_not_an_error(tmp_path, text):
    ts, y, seg = read_label_csv(write(tmp_path, "t.csv", text))
    assert len(ts) == len(y) == len(seg) and np.isnan(y).all()


# -- partitions --------------------------------------------------------------------------------------


def test_partitions_with_integer_ids(tmp_path):
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "partition.csv").write_text("Id,Partition\n10,train\n2,devel\n33, Test\n")
    assert read_partitions(tmp_path) == {"10": "train", "2": "devel", "33": "test"}


def test_missing_partition_file(tmp_path):
    with pytest.raises(DataError, match=r"metadata/partition\.csv: partition file not found"):
        read_partitions(tmp_path)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (
            "Id,Partition\n1,train\n2,validation\n",
            r"data row 2 \(CSV line 3\), column 'Partition': unknown partition 'validation'",
        ),
        ("Id,Partition\n1,train\n1,devel\n", r"data row 2 .*subject '1' is listed twice"),
        ("Id,Split\n1,train\n", r"missing column\(s\) 'partition'"),
        ("Id,Partition\n../x,train\n", r"data row 1 .*not a valid subject Id"),
    ],
)
def test_bad_partition_file(tmp_path, text, pattern):
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "partition.csv").write_text(text)
    with pytest.raises(DataError, match=r"partition\.csv: " + pattern):
        read_partitions(tmp_path)

"""Run-folder files appear complete or not at all; checkpoints load without pickle."""

from __future__ import annotations

import pytest
import torch

from musefuse.core import fileio
from musefuse.core.errors import RunFolderError
from musefuse.core.runs import runfolder


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "results.json"
    fileio.write_json(target, {"ok": 1})
    with pytest.raises(RuntimeError), fileio.atomic_open(target) as fh:
        fh.write('{"half": ')
        raise RuntimeError("interrupted")
    assert target.read_text() == '{\n  "ok": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left behind


def test_atomic_write_of_a_new_file_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(KeyboardInterrupt), fileio.atomic_open(tmp_path / "new.csv") as fh:
        fh.write("timestamp,segment_id,value\n")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_round_trip_without_pickle(tmp_path):
    tensors = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    fileio.save_tensors(tmp_path / "ckpt", tensors, {"plugin": "x", "n": 2})
    assert (tmp_path / "ckpt.safetensors").read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle stream
    loaded, meta = fileio.load_tensors(tmp_path / "ckpt")
    assert torch.equal(loaded["w"], tensors["w"]) and meta == {"plugin": "x", "n": 2}


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(RunFolderError, match="ckpt.safetensors"):
        fileio.load_tensors(tmp_path / "ckpt")


def test_prepare_refuses_non_empty_folder_and_overwrite_drops_old_results(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text("[]")
    with pytest.raises(RunFolderError, match="--overwrite"):
        runfolder.prepare(run, overwrite=False)
    runfolder.prepare(run, overwrite=True)
    assert not (run / "results.json").exists()


def test_written_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    fileio.write_text(tmp_path / "a.txt", "x")
    mode = stat.S_IMODE((tmp_path / "a.txt").stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask

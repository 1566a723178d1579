"""Shared fixtures. The suite never sees whatever plugins happen to be installed on the machine:
third-party loading is off unless a test turns on its own fixture distributions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import musefuse.core.plugin_host as plugin_host

TESTS = Path(__file__).parent
FIXTURE_DISTS = TESTS / "plugins"


@pytest.fixture(scope="session", autouse=True)
def _session_isolated(tmp_path_factory):
    """Session fixtures (shared runs) also keep out of the user's cache and artifact store."""
    saved = {k: os.environ.get(k) for k in ("MUSEFUSE_LOAD_PLUGINS", "MUSEFUSE_CACHE_DIR", "MUSEFUSE_STORE")}
    os.environ["MUSEFUSE_LOAD_PLUGINS"] = ""
    os.environ["MUSEFUSE_CACHE_DIR"] = str(tmp_path_factory.mktemp("session-cache"))
    os.environ.pop("MUSEFUSE_STORE", None)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("MUSEFUSE_LOAD_PLUGINS", "")
    monkeypatch.setenv("MUSEFUSE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))  # data cache and store
    monkeypatch.delenv("MUSEFUSE_STORE", raising=False)
    # Runs inside the test process default to one worker, i.e. in-process (a worker pool's start-up
    # would dominate tiny test runs); tests of the concurrent executor ask for workers explicitly.
    monkeypatch.setattr("musefuse.core.engine.executors.cpu_cores", lambda: 1)
    plugin_host._HOST = None
    # Tiny test models: extra intra-op threads only add synchronisation (and spin on a busy machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    plugin_host._HOST = None


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """A site folder where the fixture distributions under tests/plugins/ are really pip-installed."""
    site = tmp_path_factory.mktemp("site")
    dists = [str(p) for p in sorted(FIXTURE_DISTS.iterdir()) if (p / "pyproject.toml").exists()]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), *dists],
        check=True,
    )
    return site


@pytest.fixture
def third_party(plugin_site, monkeypatch):
    """Make the installed fixture distributions discoverable (in-process and in subprocesses)."""
    monkeypatch.syspath_prepend(str(plugin_site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(plugin_site), os.environ.get("PYTHONPATH", "")]))
    return plugin_site

"""Shared fixtures. The suite never sees whatever plugins happen to be installed on the machine:
third-party loading is off unless a test turns on its own fixture distributions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import musefuse.core.plugins as plugin_host

TESTS = Path(__file__).parent
FIXTURE_DISTS = TESTS / "plugins"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("MUSEFUSE_LOAD_PLUGINS", "")
    monkeypatch.setenv("MUSEFUSE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
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

"""A wheel built from this tree installs into a fresh venv and finds its registry and plugins."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(ROOT)],
        check=True,
    )
    (wheel,) = wheels.glob("musefuse-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.check_output([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    # Dependencies (torch & co.) come from the test environment instead of being reinstalled —
    # the effect of --system-site-packages, for a test environment that is itself a venv.
    (site / "_deps_from_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([py, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)], check=True)

    out = subprocess.run([env_dir / "bin" / "musefuse", "plugins", "--json"], cwd=tmp_path,
                         capture_output=True, text=True, env={"MUSEFUSE_LOAD_PLUGINS": "", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    names = {r["name"] for r in json.loads(out.stdout) if r["kind"] == "modality"}
    assert names == {"egemaps", "deepspectrum", "vggface", "fau", "bert"}
    where = subprocess.check_output([py, "-c", "import musefuse.core; print(musefuse.core.__file__)"],
                                    cwd=tmp_path, text=True)
    assert str(site) in where  # the wheel's copy, not this checkout


def test_every_package_folder_ships():
    """Each folder of the package tree with an __init__.py is in pyproject.toml's packages, so the wheel carries
    it: a module split into a package (lab/synth/, lab/robustness/) is listed there or missing from installs."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    found = {"musefuse"}  # the root is the package itself; its sub-packages are mapped one by one
    for name, folder in setup["package-dir"].items():
        if folder != ".":
            found |= {".".join([name, *init.parent.relative_to(ROOT / folder).parts])
                      for init in (ROOT / folder).rglob("__init__.py")}
    assert sorted(found - set(setup["packages"])) == []

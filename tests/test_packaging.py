"""The wheel: everything installs inside the ``rayflink`` namespace, and every module of the tree is in it.

The card keeps ``operators/``, ``connectors/`` and ``apps/`` beside ``rayflink/``; setup.py maps them
to ``rayflink.operators``, ``rayflink.connectors`` and ``rayflink.apps``. A folder left out of that
mapping would be missing from installs, and a package installed at the top level would land in a
user's site-packages under a generic name. Building the wheel (a copy of the tree, no Ray, about
ten seconds) checks both.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"rayflink": "rayflink", "operators": "rayflink/operators",
           "connectors": "rayflink/connectors", "apps": "rayflink/apps"}
BUILD_INPUTS = ("setup.py", "pyproject.toml", "README.md", *FOLDERS)


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The file names in a wheel built from a copy of the tree (the build writes build/ and
    *.egg-info next to the sources, which must not land in the working tree)."""
    src = tmp_path_factory.mktemp("src")
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(out), str(src)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"pip wheel failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    wheels = list(out.glob("rayflink-*.whl"))
    assert len(wheels) == 1, f"expected one rayflink wheel in {out}, found {sorted(p.name for p in out.iterdir())}"
    with zipfile.ZipFile(wheels[0]) as wheel:
        return wheel.namelist()


def test_wheel_installs_only_inside_the_rayflink_namespace(wheel_names: list[str]) -> None:
    top_level = {name.split("/")[0] for name in wheel_names}
    dist_info = {t for t in top_level if t.endswith(".dist-info")}
    assert len(dist_info) == 1 and next(iter(dist_info)).startswith("rayflink-"), top_level
    assert top_level - dist_info == {"rayflink"}, (
        f"top-level entries other than rayflink/: {sorted(top_level - dist_info - {'rayflink'})}")


def test_wheel_holds_every_module_of_the_tree(wheel_names: list[str]) -> None:
    """Every package folder (and every module in it) of rayflink/, operators/, connectors/, apps/."""
    expected = {f"{installed}/{path.relative_to(ROOT / folder).as_posix()}"
                for folder, installed in FOLDERS.items() for path in (ROOT / folder).rglob("*.py")
                if "__pycache__" not in path.parts}
    packages = {name.rsplit("/", 1)[0] for name in expected if name.endswith("/__init__.py")}
    assert {"rayflink/operators", "rayflink/connectors", "rayflink/apps"} <= packages
    missing = sorted(expected - set(wheel_names))
    assert not missing, f"modules of the tree missing from the wheel: {missing}"


def test_wheel_declares_the_console_script(wheel_names: list[str]) -> None:
    assert any(name.endswith(".dist-info/entry_points.txt") for name in wheel_names)

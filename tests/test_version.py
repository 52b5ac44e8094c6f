"""One version: meson.build's project() version, seen the same everywhere."""

from __future__ import annotations

import importlib.metadata
import pathlib
import re
import subprocess
import sys

import convreg

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _meson_version() -> str:
    text = (ROOT / "meson.build").read_text()
    match = re.search(r"project\([^)]*?version:\s*'([^']+)'", text, re.S)
    assert match, "meson.build's project() names no version"
    return match.group(1)


def test_the_package_the_metadata_and_the_cli_agree_with_meson_build():
    version = _meson_version()
    assert convreg.__version__ == version
    assert importlib.metadata.version("convreg") == version
    info = subprocess.run([sys.executable, "-m", "convreg", "info"], capture_output=True,
                          text=True, check=True).stdout
    assert info.startswith(f"convreg {version} "), info.splitlines()[0]


def test_the_version_is_written_in_one_place_only():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]', pyproject, re.M)
    assert not re.search(r"^version\s*=", pyproject, re.M)
    init = (ROOT / "src" / "convreg" / "__init__.py").read_text()
    assert not re.search(r"^__version__\s*=", init, re.M)

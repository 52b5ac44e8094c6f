"""The conformance kit as a third party uses it: the CLI, the one-line test module,
a broken backend caught with its counterexample, and the guide's example backend."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

import convreg
from convreg import registry
from convreg.testing import check, conformance_tests

ROOT = pathlib.Path(__file__).resolve().parents[1]

WRONG = '''
import numpy as np
from convreg.hookspecs import hookimpl

class Wrong:
    name = "wrong"
    api_version = 1
    priority = -1
    array_types = (np.ndarray,)

    def available(self):
        return True, "deliberately wrong"

    def corr2d(self, X, K, mode):  # convolution, not correlation: wrong for asymmetric K
        from scipy import signal
        return signal.convolve2d(X, K, mode=mode).astype(X.dtype)

@hookimpl
def convreg_backends():
    return [Wrong()]
'''


def test_a_wrong_backend_fails_with_a_counterexample(make_plugin):
    make_plugin("wrongdist", WRONG)
    registry.load(reload=True)
    results = {r.op: r for r in check("wrong", max_examples=30)}
    assert results["corr2d"].status == "fail"
    failure = results["corr2d"].failure
    assert "Failing test case" in failure or "Falsifying example" in failure
    assert "X=" in failure or "problem=" in failure  # the shrunk arguments themselves
    assert results["conv2d"].status == "not implemented"
    assert set(results) == set(registry.OPS)


def test_check_cli_exit_codes(make_plugin, tmp_path):
    make_plugin("wrongdist", WRONG)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    run = lambda *a: subprocess.run([sys.executable, "-m", "convreg", "check", *a],  # noqa: E731
                                    capture_output=True, text=True, env=env, timeout=600)
    bad = run("--backend", "wrong", "--max-examples", "20")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert re.search(r"corr2d\s+FAIL", bad.stdout) and "first counterexample" in bad.stdout
    assert "0 passed, 1 failed, 8 not implemented" in bad.stdout
    good = run("--backend", "cython", "--max-examples", "5")
    assert good.returncode == 0 and "9 passed, 0 failed, 0 not implemented" in good.stdout
    unknown = run("--backend", "nosuch")
    assert unknown.returncode == 2 and "no backend named 'nosuch'" in unknown.stderr


def test_conformance_tests_names_and_refusals(make_plugin):
    tests = conformance_tests("cython")
    assert "test_corr2d_agrees_with_reference__cython" in tests
    assert all(name.startswith("test_") and callable(t) for name, t in tests.items())
    make_plugin("wrongolddist", WRONG.replace("api_version = 1", "api_version = 0"))
    registry.load(reload=True)
    with pytest.raises(convreg.BackendError, match="unavailable"):
        conformance_tests("wrong")
    with pytest.raises(convreg.BackendError, match="no backend named"):
        conformance_tests("nosuch")


def _guide_blocks() -> dict[str, str]:
    """The example package's files, as docs/backends.md shows them."""
    text = (ROOT / "docs" / "backends.md").read_text()
    blocks = {}
    for name in ("pyproject.toml", "convreg_windows.py"):
        match = re.search(rf"`{re.escape(name)}`:\n\n```\w+\n(.*?)```", text, re.S)
        assert match, f"docs/backends.md lost its {name} block"
        blocks[name] = match.group(1)
    return blocks


def test_the_guides_example_backend_works(tmp_path):
    package, target = tmp_path / "convreg-windows", tmp_path / "site"
    package.mkdir()
    for name, source in _guide_blocks().items():
        (package / name).write_text(source)
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--target", str(target), str(package)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), *sys.path]))
    out = subprocess.run([sys.executable, "-m", "convreg", "check", "--backend", "windows",
                          "--max-examples", "20"], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"corr2d\s+pass", out.stdout)
    assert "1 passed, 0 failed, 8 not implemented" in out.stdout
    info = subprocess.run([sys.executable, "-m", "convreg", "info"], capture_output=True,
                          text=True, env=env, timeout=600)
    assert "windows" in info.stdout and "convreg-windows" in info.stdout

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
    assert re.search(r"corr2d\s+FAIL", bad.stdout)
    assert "corr2d FAILED corr2d_agrees_with_reference" in bad.stdout
    assert bad.stdout.count("Failing test case") == len(re.findall(r"FAILED \w+:", bad.stdout))
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
    empty = tmp_path / "anywhere"
    empty.mkdir()
    kit = _pytest(["--convreg-backend", "windows", "-q"], empty, [target])  # the guide's command
    assert kit.returncode == 0, kit.stdout + kit.stderr
    assert re.search(r"\b4 passed, 8 skipped\b", kit.stdout), kit.stdout


# -- the six bugs of a real plugin author's tries: each caught, by name, on the right op ----

BUGGY = '''
import numpy as np
from scipy import signal
from convreg.hookspecs import hookimpl
from convreg.plugins import reference


def _correlate(X, K, mode):
    return signal.correlate2d(X, K, mode=mode).astype(X.dtype)


class Base:
    api_version = 1
    priority = -1
    array_types = (np.ndarray,)

    def available(self):
        return True, "deliberately wrong"

    def corr2d(self, X, K, mode):
        return _correlate(X, K, mode)

    def convolve2d(self, X, K, mode):
        return signal.convolve2d(X, K, mode=mode).astype(X.dtype)


class SameOffByOne(Base):
    name = "same_off"

    def corr2d(self, X, K, mode):
        if mode != "same" or K.shape[0] % 2:
            return _correlate(X, K, mode)
        full = _correlate(X, K, "full")  # centred (k - 1) // 2 in, not k // 2
        r, c = (K.shape[0] - 1) // 2, K.shape[1] // 2
        return np.ascontiguousarray(full[r:r + X.shape[0], c:c + X.shape[1]])


class NoFlip(Base):
    name = "no_flip"

    def convolve2d(self, X, K, mode):
        return _correlate(X, K, mode)  # forgets to turn the kernel


class NoDilation(Base):
    name = "no_dilation"

    def conv2d(self, x, weight, bias, stride, padding, dilation, groups):
        y = reference.conv2d(x, weight, bias, stride, padding, (1, 1), groups)
        h, w = reference.conv_output_hw(x.shape[2:], weight.shape[2:], stride, padding, dilation)
        return np.ascontiguousarray(y[:, :, :h, :w])  # right shape, wrong taps


class InPlace(Base):
    name = "in_place"

    def convolve2d(self, X, K, mode):
        K[...] = K[::-1, ::-1].copy()  # turns the user's kernel
        return _correlate(X, K, mode)


class Float64(Base):
    name = "float64_out"

    def corr2d(self, X, K, mode):
        return signal.correlate2d(X, K, mode=mode).astype(np.float64)  # whatever came in


class DropsTiny(Base):
    name = "drops_tiny"

    def corr2d(self, X, K, mode):  # as scipy.ndimage does with weights <= epsilon
        K = np.where(np.abs(K) <= np.finfo(K.dtype).eps, 0, K).astype(K.dtype)
        return _correlate(X, K, mode)


@hookimpl
def convreg_backends():
    return [SameOffByOne(), NoFlip(), NoDilation(), InPlace(), Float64(), DropsTiny()]
'''


@pytest.mark.parametrize("backend, op, passing, named", [
    ("same_off", "corr2d", "convolve2d", "corr2d_agrees_with_reference"),
    ("no_flip", "convolve2d", "corr2d", "convolve2d_matches_scipy"),
    ("no_dilation", "conv2d", "corr2d", "dilation_is_a_zero_inserted_kernel"),
    ("in_place", "convolve2d", "corr2d", "contract rule 'inputs unchanged'"),
    ("float64_out", "corr2d", "convolve2d", "contract rule 'output dtype': expected float32, got float64"),
    ("drops_tiny", "corr2d", "convolve2d", "corr2d_agrees_with_reference"),
])
def test_each_bug_is_caught_by_name_on_its_op(make_plugin, backend, op, passing, named):
    make_plugin("buggydist", BUGGY)
    registry.load(reload=True)
    results = {r.op: r for r in check(backend)}  # the defaults: what the CLI runs
    assert results[op].status == "fail", results[op]
    assert results[passing].status == "pass", results[passing].failure  # no blame on the other op
    assert named in results[op].failure
    for f in results[op].failures:  # each counterexample once, labelled
        assert f.counterexample.count("Falsifying example") <= 1, f.counterexample
    if "contract" not in named:
        assert "expected" in results[op].failure and "got" in results[op].failure


# -- the pytest plugin (pytest11): the one-line command, in a directory with no tests ----

def _pytest(args, cwd, extra_path=()):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*map(str, extra_path), *sys.path]))
    env.pop("CI", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


def test_pytest_runs_the_kit_anywhere_with_one_option(tmp_path, make_plugin):
    make_plugin("buggydist", BUGGY)  # writes the plugin into tmp_path and its dist-info
    empty = tmp_path / "empty"
    empty.mkdir()
    out = _pytest(["-rfs", "--convreg-backend", "no_flip", "--convreg-examples", "20", "-q"],
                  empty, [tmp_path])
    assert out.returncode == 1, out.stdout + out.stderr
    assert re.search(r"FAILED .*test_conformance\[no_flip/convolve2d/convolve2d_matches_scipy\]",
                     out.stdout), out.stdout
    assert "no_flip/corr2d/" in out.stdout or "passed" in out.stdout
    assert "FAILED" not in "".join(line for line in out.stdout.splitlines()
                                   if "no_flip/corr2d/" in line)  # corr2d is not blamed
    assert "backend 'no_flip' does not implement conv2d" in out.stdout  # a skip naming the op
    good = _pytest(["--convreg-backend", "cython", "--convreg-profile", "ci", "-q"], empty)
    assert good.returncode == 0, good.stdout + good.stderr
    assert re.search(r"\b3[0-9] passed\b", good.stdout), good.stdout
    unknown = _pytest(["--convreg-backend", "nosuch"], empty)
    assert unknown.returncode == 4 and "no backend of that name" in unknown.stderr


def test_the_kit_without_hypothesis_says_which_extra_to_install():
    code = ("import sys; sys.modules['hypothesis'] = None\n"
            "from convreg.__main__ import main\n"
            "sys.exit(main(['check', '--backend', 'cython']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "convreg check needs the conformance kit's dependencies: pip install 'convreg[conformance]'"]


def test_a_two_op_property_blames_the_other_op_and_skips(make_plugin):
    wrong_corr = BUGGY.replace('''    def corr2d(self, X, K, mode):
        return _correlate(X, K, mode)
''', '''    def corr2d(self, X, K, mode):
        return signal.convolve2d(X, K, mode=mode).astype(X.dtype)  # wrong: no flip
''', 1)
    make_plugin("buggydist", wrong_corr)
    registry.load(reload=True)
    results = {r.op: r for r in check("no_dilation", ops=["corr2d", "convolve2d"])}
    assert results["corr2d"].status == "fail"
    assert results["convolve2d"].status == "pass"  # its own properties hold
    assert any("not judged: corr2d" in note for note in results["convolve2d"].not_judged)

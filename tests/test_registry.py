"""The registry: discovery through entry points, failure isolation, resolution order.

Third-party plugins are simulated by real distributions written into a
temporary directory (a ``.dist-info`` with ``entry_points.txt`` beside the
plugin module) and put on ``sys.path``, so discovery runs exactly as it does
for an installed package.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import convreg
from convreg import registry

PLUGIN_TEMPLATE = '''
import numpy as np
from convreg.hookspecs import hookimpl

CALLS = []

class Backend:
    name = {name!r}
    version = "9.9"
    api_version = {api_version!r}
    priority = {priority!r}
    array_types = (np.ndarray,)

    def available(self):
        return True, "fake backend for tests"

    def corr2d(self, X, K, mode):
        CALLS.append("corr2d")
        return np.full((X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1), 42.0)

@hookimpl
def convreg_backends():
    return [Backend()]
'''


def fake(name="fake", api_version=1, priority=100):
    return PLUGIN_TEMPLATE.format(name=name, api_version=api_version, priority=priority)


def info(name):
    return next(b for b in convreg.backends() if b.name == name)


X, K = np.ones((3, 3)), np.ones((2, 2))


def test_builtins_come_from_the_entry_point_group():
    names = {b.name: b for b in convreg.backends()}
    assert names["reference"].source == "built in" and names["reference"].available
    assert names["cython"].source == "built in"
    assert set(names["reference"].ops) == set(registry.OPS)


def test_cython_backend_is_built():
    """The installed package has its compiled kernels (CI builds them)."""
    assert info("cython").available, info("cython").reason


def test_a_third_party_backend_is_found_and_selected(make_plugin):
    make_plugin("fakedist", fake())
    registry.load(reload=True)
    b = info("fake")
    assert b.available and b.source == "fakedist" and b.version == "9.9" and b.ops == ("corr2d",)
    # priority 100 beats cython for corr2d on NumPy arrays...
    np.testing.assert_array_equal(convreg.corr2d(X, K), np.full((2, 2), 42.0))
    assert convreg.get_backend("corr2d") == "fake"
    # ...but it lacks conv2d, so automatic selection passes it over there
    assert convreg.get_backend("conv2d") != "fake"
    convreg.conv2d(X[None], K[None, None])


def test_resolution_order(make_plugin, monkeypatch):
    make_plugin("fakedist", fake())
    monkeypatch.setenv("CONVREG_BACKEND", "cython")
    registry.load(reload=True)
    assert convreg.get_backend("corr2d") == "cython"  # the environment beats priority
    convreg.set_backend("reference")
    assert convreg.get_backend("corr2d") == "reference"  # set_backend beats the environment
    with convreg.use_backend("fake"):
        assert convreg.get_backend("corr2d") == "fake"  # use_backend beats set_backend
        with convreg.use_backend("cython"):
            assert convreg.get_backend("corr2d") == "cython"  # innermost wins
        np.testing.assert_array_equal(convreg.corr2d(X, K), np.full((2, 2), 42.0))
        # the call's own argument beats everything
        np.testing.assert_array_equal(convreg.corr2d(X, K, backend="reference"), [[4.0, 4.0]] * 2)
    assert convreg.get_backend("corr2d") == "reference"
    convreg.set_backend(None)
    assert convreg.get_backend("corr2d") == "cython"


def test_import_failure_is_isolated(make_plugin):
    make_plugin("brokendist", "raise ImportError('no module named nonexistent_gpu_lib')")
    with pytest.warns(RuntimeWarning, match=r"'brokendist' .* could not be loaded") as record:
        registry.load(reload=True)
    assert len(record) == 1
    b = info("brokendist")
    assert not b.available and "import failed" in b.reason and "nonexistent_gpu_lib" in b.reason
    assert info("reference").available and info("cython").available
    np.testing.assert_array_equal(convreg.corr2d(X, K), [[4.0, 4.0]] * 2)


def test_registration_failure_is_isolated(make_plugin):
    make_plugin("raisingdist", """
        from convreg.hookspecs import hookimpl
        @hookimpl
        def convreg_backends():
            raise RuntimeError("driver exploded")
    """)
    with pytest.warns(RuntimeWarning, match="raisingdist"):
        registry.load(reload=True)
    b = info("raisingdist")
    assert not b.available and "registration failed" in b.reason and "driver exploded" in b.reason


def test_a_plugin_without_the_hook_is_listed(make_plugin):
    make_plugin("hooklessdist", "x = 1\n")
    with pytest.warns(RuntimeWarning):
        registry.load(reload=True)
    assert "no convreg_backends() hook" in info("hooklessdist").reason


def test_malformed_backend_is_listed(make_plugin):
    make_plugin("malformeddist", """
        from convreg.hookspecs import hookimpl
        class Half:
            name = "half"
        @hookimpl
        def convreg_backends():
            return [Half()]
    """)
    with pytest.warns(RuntimeWarning, match="half"):
        registry.load(reload=True)
    b = info("half")
    assert not b.available and "lacks api_version, priority, array_types, available" in b.reason


def test_wrong_api_version_is_unavailable_with_supported_versions(make_plugin):
    make_plugin("olddist", fake(name="old", api_version=99))
    with pytest.warns(RuntimeWarning, match="'old'.*API version 99"):
        registry.load(reload=True)
    b = info("old")
    assert not b.available
    assert "backend API version 99" in b.reason and "supports [1]" in b.reason
    assert "write api_version = 1" in b.reason  # says what to write
    assert convreg.get_backend("corr2d") != "old"  # never chosen automatically
    with pytest.raises(convreg.BackendError, match="backend API version 99"):
        convreg.corr2d(X, K, backend="old")


def test_failing_availability_probe(make_plugin):
    make_plugin("probedist", fake(name="probe").replace(
        'return True, "fake backend for tests"', 'raise OSError("no device")'))
    registry.load(reload=True)
    assert not info("probe").available and "no device" in info("probe").reason


def test_duplicate_names_keep_the_first(make_plugin):
    make_plugin("dupdist", fake(name="reference"))
    with pytest.warns(RuntimeWarning, match="already registered"):
        registry.load(reload=True)
    assert info("reference").source == "built in"
    np.testing.assert_array_equal(convreg.corr2d(X, K, backend="reference"), [[4.0, 4.0]] * 2)


def test_disable_autoload_keeps_only_builtins(make_plugin, monkeypatch):
    make_plugin("fakedist", fake())
    monkeypatch.setenv("CONVREG_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry.load(reload=True)
    assert {b.name for b in convreg.backends()} == {"reference", "cython", "cupy"}


def test_allow_list(make_plugin, monkeypatch):
    make_plugin("fakedist", fake())
    make_plugin("otherdist", fake(name="other"))
    monkeypatch.setenv("CONVREG_PLUGINS", "otherdist")
    registry.load(reload=True)
    names = {b.name for b in convreg.backends()}
    assert "other" in names and "fake" not in names and "reference" in names


def test_missing_op_on_a_named_backend(make_plugin):
    make_plugin("fakedist", fake())
    registry.load(reload=True)
    with pytest.raises(convreg.BackendError) as err:
        convreg.conv2d(X[None], K[None, None], backend="fake")
    msg = str(err.value)
    assert "backend 'fake', chosen by the backend= argument" in msg
    assert "does not implement conv2d" in msg
    # every backend considered is named with its reason
    assert "reference: could run it" in msg and "fake: does not implement conv2d" in msg


def test_unknown_backend_names_every_candidate():
    with pytest.raises(convreg.BackendError) as err:
        with convreg.use_backend("tpu"):
            convreg.corr2d(X, K)
    msg = str(err.value)
    assert "'tpu', chosen by use_backend()" in msg and "no backend of that name" in msg
    assert "cython:" in msg and "reference:" in msg and "python -m convreg info" in msg


def test_unknown_backend_from_the_environment(monkeypatch):
    monkeypatch.setenv("CONVREG_BACKEND", "nosuch")
    registry.load(reload=True)
    try:
        with pytest.raises(convreg.BackendError, match="CONVREG_BACKEND"):
            convreg.corr2d(X, K)
    finally:
        monkeypatch.delenv("CONVREG_BACKEND")
        registry.load(reload=True)


def test_wrong_array_type_is_not_copied():
    class NotNumpy(np.ndarray):
        pass

    # a named backend that does not take the type raises rather than converting
    class Foreign:
        pass

    with pytest.raises(convreg.BackendError, match="does not accept .*Foreign"):
        registry.dispatch("corr2d", "cython", Foreign)
    with pytest.raises(convreg.BackendError, match="no backend can run it"):
        registry.dispatch("corr2d", None, Foreign)
    # subclasses of an accepted type are accepted
    assert registry.dispatch("corr2d", None, NotNumpy) is not None


def test_use_backend_is_isolated_between_threads():
    ready, done = threading.Barrier(2), threading.Event()
    seen = {}

    def scoped():
        with convreg.use_backend("reference"):
            ready.wait()
            seen["scoped"] = convreg.get_backend("corr2d")
            done.wait()

    def plain():
        ready.wait()
        seen["plain"] = convreg.get_backend("corr2d")
        done.set()

    threads = [threading.Thread(target=scoped), threading.Thread(target=plain)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"scoped": "reference", "plain": "cython"}


def test_use_backend_is_isolated_between_asyncio_tasks():
    async def task(name, delay):
        with convreg.use_backend(name):
            await asyncio.sleep(delay)
            return convreg.get_backend("corr2d")

    async def main():
        return await asyncio.gather(task("reference", 0.02), task("cython", 0.01))

    assert asyncio.run(main()) == ["reference", "cython"]


def test_resolution_is_cached(monkeypatch):
    convreg.corr2d(X, K)

    def boom(*args):
        raise AssertionError("resolution should have been cached")

    monkeypatch.setattr(registry, "_resolve", boom)
    convreg.corr2d(X, K)  # no new resolution
    with pytest.raises(AssertionError, match="cached"):
        convreg.corr2d(X, K, backend="reference")  # a new key resolves again


def test_decisions_are_logged(caplog):
    registry.load(reload=True)
    with caplog.at_level(logging.DEBUG, logger="convreg.dispatch"):
        convreg.corr2d(X, K)
        convreg.corr2d(X, K, backend="reference")
    text = caplog.text
    assert "'cython' by automatic selection" in text
    assert "'reference' chosen by the backend= argument" in text


def test_selection_arguments_are_checked():
    with pytest.raises(TypeError, match="backend name"):
        convreg.set_backend(3)
    with pytest.raises(TypeError, match="backend name"):
        with convreg.use_backend(["cython"]):
            pass
    with pytest.raises(ValueError, match="unknown op"):
        convreg.get_backend("conv3d")


def test_openmp_build_state_is_reported():
    from convreg.threads import openmp_enabled

    if os.environ.get("CONVREG_REQUIRE_OPENMP") == "1":  # set by .ci/run
        assert openmp_enabled(), "the kernels were built without OpenMP"
    expected = "OpenMP" if openmp_enabled() else "no OpenMP"
    assert expected in info("cython").reason
    assert convreg.get_num_threads() >= 1


def test_an_api_version_that_is_not_an_int_is_named_by_its_type(make_plugin):
    make_plugin("oddist", fake(name="odd", api_version="object()"))
    with pytest.warns(RuntimeWarning, match="'odd'"):
        registry.load(reload=True)
    reason = info("odd").reason
    assert "api_version is a str, not an int" in reason and "object at 0x" not in reason


def test_convreg_plugins_naming_nothing_installed_warns(make_plugin, monkeypatch):
    make_plugin("gooddist", fake(name="good"), entry="good")
    monkeypatch.setenv("CONVREG_PLUGINS", "good,nosuch")
    with pytest.warns(RuntimeWarning, match="CONVREG_PLUGINS names 'nosuch'.*installed: .*good"):
        registry.load(reload=True)
    assert info("good").available


def test_plugins_the_switches_filter_out_are_listed_with_why(make_plugin, monkeypatch):
    make_plugin("gooddist", fake(name="good"), entry="good")
    monkeypatch.setenv("CONVREG_PLUGINS", "other")
    with pytest.warns(RuntimeWarning, match="'other'"):
        registry.load(reload=True)
    assert ("good", "gooddist", "not named in CONVREG_PLUGINS='other'") in registry.filtered_plugins()
    monkeypatch.delenv("CONVREG_PLUGINS")
    monkeypatch.setenv("CONVREG_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry.load(reload=True)
    assert ("good", "gooddist", "CONVREG_DISABLE_PLUGIN_AUTOLOAD is set") in registry.filtered_plugins()
    out = subprocess.run([sys.executable, "-m", "convreg", "info"], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), timeout=300)
    assert "good (gooddist): CONVREG_DISABLE_PLUGIN_AUTOLOAD is set" in out.stdout


# -- per-call decline (can_run) ---------------------------------------------------

PICKY = """
import numpy as np
from scipy import signal
from convreg.hookspecs import hookimpl

class Picky:
    name = "picky"
    api_version = 1
    priority = 90  # above cython: chosen automatically for NumPy arrays
    array_types = (np.ndarray,)
    calls = []

    def available(self):
        return True, "large kernels only"

    def can_run(self, op, X, K, mode):
        return True if K.size >= 9 else f"kernel of {K.size} taps: too small to repay an FFT"

    def corr2d(self, X, K, mode):
        self.calls.append(K.shape)
        return signal.correlate2d(X, K, mode=mode).astype(X.dtype)

BAD_ANSWER = {answer}

class Rude(Picky):
    name = "rude"
    priority = -5

    def can_run(self, op, *args):
        return BAD_ANSWER

@hookimpl
def convreg_backends():
    return [Picky(), Rude()]
"""


def test_can_run_declines_a_call_and_automatic_selection_moves_on(make_plugin, caplog):
    make_plugin("pickydist", PICKY.replace("{answer}", "None"))
    registry.load(reload=True)
    picky = registry._registry.entries["picky"].backend
    big = np.ones((3, 3))
    np.testing.assert_array_equal(convreg.corr2d(X, big), convreg.corr2d(X, big, backend="reference"))
    assert picky.calls == [(3, 3)]  # it took the large kernel
    with caplog.at_level(logging.DEBUG, logger="convreg.dispatch"):
        small = convreg.corr2d(X, K)  # declined: the next candidate (cython) runs it
    assert picky.calls == [(3, 3)]
    np.testing.assert_array_equal(small, convreg.corr2d(X, K, backend="reference"))
    assert "'picky' declined (kernel of 4 taps: too small to repay an FFT); running on 'cython'" \
        in caplog.text
    with pytest.raises(convreg.BackendDeclined, match="too small to repay an FFT") as err:
        convreg.corr2d(X, K, backend="picky")  # named: never substituted
    assert err.value.backend == "picky" and err.value.op == "corr2d"
    with convreg.use_backend("picky"), pytest.raises(convreg.BackendDeclined):
        convreg.corr2d(X, K)


@pytest.mark.parametrize("answer", ["None", "1", "''", "'yes'.encode()"])
def test_a_can_run_answer_that_is_not_true_false_or_a_reason_is_a_contract_error(make_plugin, answer):
    make_plugin("pickydist", PICKY.replace("{answer}", answer))
    registry.load(reload=True)
    with pytest.raises(convreg.ContractError, match="can_run returned") as err:
        convreg.corr2d(X, K, backend="rude")
    assert err.value.rule == "can_run answer"


def test_every_backend_declining_says_why_each_did(make_plugin):
    make_plugin("pickydist", PICKY.replace("{answer}", "'never'"))
    registry.load(reload=True)
    with convreg.use_backend(None):
        for name, entry in registry._registry.entries.items():  # leave only the two picky ones
            if name not in ("picky", "rude"):
                entry.info = dataclasses.replace(entry.info, available=False)
        registry._registry.cache.clear()
        registry._registry.ranked.clear()
        with pytest.raises(convreg.BackendError, match="(?s)every backend.*picky: kernel of 4.*rude: never"):
            convreg.corr2d(X, np.ones((2, 2)))

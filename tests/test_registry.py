"""The registry: discovery through entry points, failure isolation, resolution order.

Third-party plugins are simulated by real distributions written into a
temporary directory (a ``.dist-info`` with ``entry_points.txt`` beside the
plugin module) and put on ``sys.path``, so discovery runs exactly as it does
for an installed package.
"""

from __future__ import annotations

import asyncio
import logging
import os
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
    registry.load(reload=True)
    b = info("old")
    assert not b.available
    assert "backend API version 99" in b.reason and "supports [1]" in b.reason
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

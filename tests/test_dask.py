"""Dask arrays in, dask arrays out: equal to the NumPy results for any chunking, on the
threaded scheduler and on a dask.distributed cluster of processes (loopback)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convreg
from convreg.testing.strategies import images_and_kernels

da = pytest.importorskip("dask.array", reason="dask is part of the test extra")
EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


@st.composite
def chunking(draw, shape):
    """Chunks along each axis: any positive sizes adding up to the axis length."""
    chunks = []
    for n in shape:
        sizes, left = [], n
        while left:
            sizes.append(draw(st.integers(1, left)))
            left -= sizes[-1]
        chunks.append(tuple(sizes))
    return tuple(chunks)


@given(problem=images_and_kernels(), data=st.data())
def test_single_image_ops_equal_numpy_for_any_chunking(problem, data):
    X, K, mode = problem
    chunks = data.draw(chunking(X.shape))
    for op in ("corr2d", "convolve2d"):
        lazy = getattr(convreg, op)(da.from_array(X, chunks=chunks), K, mode=mode)
        assert isinstance(lazy, da.Array)
        got = lazy.compute(scheduler="threads")
        want = getattr(convreg, op)(X, K, mode=mode)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)


rng = np.random.default_rng(0)
x = rng.standard_normal((6, 4, 13, 11))
w = rng.standard_normal((6, 2, 3, 2))
b = rng.standard_normal(6)
CHUNKS = [(2, 4, 13, 11), (3, 2, 5, 4), (1, 4, 2, 3)]
SETTINGS = [dict(groups=2, padding=1), dict(groups=2, padding=3),
            dict(groups=2, padding="same", dilation=2), dict(groups=2, stride=2, padding=(1, 0)),
            dict(groups=2)]


@pytest.mark.parametrize("chunks", CHUNKS)
@pytest.mark.parametrize("kw", SETTINGS, ids=str)
def test_conv2d_and_gradients_equal_numpy(chunks, kw):
    dx = da.from_array(x, chunks=chunks)
    want = convreg.conv2d(x, w, b, **kw)
    y = convreg.conv2d(dx, w, b, **kw)
    assert isinstance(y, da.Array) and y.shape == want.shape
    np.testing.assert_allclose(y.compute(scheduler="threads"), want, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(want.shape)
    dg = da.from_array(g, chunks=(chunks[0],) + tuple(-1 for _ in g.shape[1:]))
    np.testing.assert_allclose(convreg.conv2d_grad_input(dg, w, x.shape, **kw).compute(),
                               convreg.conv2d_grad_input(g, w, x.shape, **kw), atol=1e-12)
    np.testing.assert_allclose(convreg.conv2d_grad_weight(dx, dg, w.shape, **kw).compute(),
                               convreg.conv2d_grad_weight(x, g, w.shape, **kw), atol=1e-11)
    np.testing.assert_allclose(convreg.conv2d_grad_bias(dg).compute(),
                               convreg.conv2d_grad_bias(g), atol=1e-12)


@pytest.mark.parametrize("chunks", CHUNKS)
def test_pools_and_gradients_equal_numpy(chunks):
    dx = da.from_array(x, chunks=chunks)
    for op, kw in [("max_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
                   ("avg_pool2d", dict(kernel_size=2, count_include_pad=False))]:
        want = getattr(convreg, op)(x, **kw)
        np.testing.assert_allclose(getattr(convreg, op)(dx, **kw).compute(), want, atol=1e-12)
        g = rng.standard_normal(want.shape)
        dg = da.from_array(g, chunks=chunks[:2] + (-1, -1))
        if op == "max_pool2d":
            got, ref = convreg.max_pool2d_grad(dg, dx, **kw), convreg.max_pool2d_grad(g, x, **kw)
        else:
            got = convreg.avg_pool2d_grad(dg, x.shape, **kw)
            ref = convreg.avg_pool2d_grad(g, x.shape, **kw)
        np.testing.assert_allclose(got.compute(), ref, atol=1e-12)


def test_the_callers_selection_is_carried_into_the_graph(monkeypatch):
    seen = []
    original = convreg.registry._resolved

    def spy(op, backend, array_type):
        seen.append((op, backend, array_type))
        return original(op, backend, array_type)

    X = da.from_array(rng.standard_normal((40, 30)), chunks=(9, 7))
    with convreg.use_backend("reference"):
        lazy = convreg.corr2d(X, np.ones((3, 3)))
    monkeypatch.setattr(convreg.registry, "_resolved", spy)
    lazy.compute(scheduler="threads")  # outside the context, in worker threads
    chunk_calls = [s for s in seen if s[0] == "corr2d"]
    assert chunk_calls and all(s[1] == "reference" and s[2] is np.ndarray for s in chunk_calls)


def test_a_bad_selection_fails_when_the_graph_is_built():
    X = da.ones((10, 10), chunks=5)
    with convreg.use_backend("nosuch"):
        with pytest.raises(convreg.BackendError, match="nosuch"):
            convreg.corr2d(X, np.ones((2, 2)))


def test_bad_dask_input_is_refused_clearly():
    with pytest.raises(ValueError, match="2-D dask array"):
        convreg.corr2d(da.ones((2, 3, 4)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="larger than the input"):
        convreg.corr2d(da.ones((2, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"4-D \(N, C, H, W\) dask array"):
        convreg.conv2d(da.ones((3, 4, 4)), np.ones((1, 3, 2, 2)))


def test_without_dask_the_error_names_the_extra(monkeypatch):
    lazy = da.ones((4, 4), chunks=2)
    monkeypatch.setitem(sys.modules, "dask.array", None)  # import dask.array now fails
    with pytest.raises(ImportError, match=r"pip install 'convreg\[dask\]'"):
        convreg.corr2d(lazy, np.ones((2, 2)))


def test_distributed_cluster_of_processes():
    distributed = pytest.importorskip("distributed", reason="part of the test extra")
    X = rng.standard_normal((300, 257)).astype(np.float32)
    K = rng.standard_normal((5, 4)).astype(np.float32)
    environ = dict(os.environ)
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      host="127.0.0.1", dashboard_address=None) as cluster, \
                distributed.Client(cluster):
            got = convreg.corr2d(da.from_array(X, chunks=(64, 50)), K, mode="full").compute()
            y = convreg.conv2d(da.from_array(x, chunks=(2, 4, 5, 4)), w, b, padding=1,
                               groups=2)
            got_layer = y.compute()
    finally:
        # distributed sets OMP_NUM_THREADS=1 (and MKL's, OpenBLAS's) in this process
        # for its workers to inherit, and leaves them set: PyTorch's first op later in
        # the run read them and set OpenMP's default, and so convreg's, to 1 thread.
        os.environ.clear()
        os.environ.update(environ)
    np.testing.assert_allclose(got, convreg.corr2d(X, K, mode="full"), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got_layer, convreg.conv2d(x, w, b, padding=1, groups=2),
                               atol=1e-12)


def _example(*args):
    out = subprocess.run([sys.executable, str(EXAMPLES / "dask_big_image.py"), *args],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_example_matches_the_in_memory_result(tmp_path):
    assert "matches the in-memory result: True" in _example(
        "--size", "1536", "--chunk", "256", "--check", "--workdir", str(tmp_path))


def test_example_filters_an_image_larger_than_its_memory_budget(tmp_path):
    text = _example("--size", "8192", "--chunk", "512", "--memory-budget", "128",
                    "--workdir", str(tmp_path))
    assert "256 MiB" in text and "128 MiB more" in text and "wrote" in text
    assert (tmp_path / "filtered.npy").stat().st_size > 256 * 2**20

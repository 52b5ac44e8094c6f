"""Thread count, thread pools, and calls from several Python threads at once."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import threadpoolctl
from conftest import implementing

import convreg


def test_set_num_threads_round_trip():
    default = convreg.get_num_threads()
    convreg.set_num_threads(1)
    assert convreg.get_num_threads() == 1
    convreg.set_num_threads(None)
    assert convreg.get_num_threads() == default


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="positive int"):
        convreg.set_num_threads(bad)


def test_openmp_and_blas_pools_are_visible_and_limited():
    convreg.corr2d(np.ones((4, 4)), np.ones((2, 2)), backend="cython")
    info = threadpoolctl.threadpool_info()
    apis = {p["user_api"] for p in info}
    assert "blas" in apis
    if convreg.threads.openmp_enabled():
        assert "openmp" in apis
        with threadpoolctl.threadpool_limits(1, user_api="openmp"):
            assert convreg.get_num_threads() == 1
    convreg.set_num_threads(1)
    assert all(p["num_threads"] == 1 for p in threadpoolctl.threadpool_info()
               if p["user_api"] == "blas")


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("backend", implementing("conv2d", others=True))
def test_results_do_not_depend_on_the_thread_count(backend, threads):
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((3, 8, 11, 10)), rng.standard_normal((6, 4, 3, 3))
    g = rng.standard_normal((3, 6, 6, 5))
    kw = dict(stride=(2, 2), padding=1, groups=2)
    want = [convreg.conv2d(x, w, backend="reference", **kw),
            convreg.conv2d_grad_input(g, w, x.shape, backend="reference", **kw),
            convreg.conv2d_grad_weight(x, g, w.shape, backend="reference", **kw)]
    convreg.set_num_threads(threads)
    got = [convreg.conv2d(x, w, backend=backend, **kw),
           convreg.conv2d_grad_input(g, w, x.shape, backend=backend, **kw),
           convreg.conv2d_grad_weight(x, g, w.shape, backend=backend, **kw)]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", implementing("conv2d", others=True))
def test_concurrent_calls_from_python_threads(backend):
    rng = np.random.default_rng(6)
    problems = [(rng.standard_normal((2, 6, 12, 12)), rng.standard_normal((5, 6, 3, 3)))
                for _ in range(8)]
    want = [convreg.conv2d(x, w, padding=1, backend="reference") for x, w in problems]
    got = [None] * len(problems)

    def work(i):
        for _ in range(5):
            got[i] = convreg.conv2d(*problems[i], padding=1, backend=backend)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(problems))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", implementing("corr2d", others=True))
def test_kernels_release_the_gil(backend):
    """While a compiled kernel runs in one thread, Python code runs in another.

    The main thread counts loop iterations made while the worker is inside
    the call. With the GIL held for the kernel's duration it could count only
    during the few microseconds of Python around the kernel.
    """
    X = np.random.default_rng(7).standard_normal((1024, 1024))
    K = np.ones((15, 15))
    convreg.set_num_threads(1)
    inside = threading.Event()
    done = threading.Event()

    def work():
        inside.set()
        convreg.corr2d(X, K, backend=backend)
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    inside.wait()
    count = 0
    while not done.is_set():
        count += 1
    worker.join()
    assert count > 10_000, f"only {count} iterations ran beside the kernel"


@pytest.mark.parametrize("preset, expected", [
    ({}, "10000"),
    ({"GOMP_SPINCOUNT": "123"}, "123"),
    ({"OMP_WAIT_POLICY": "passive"}, "unset"),
])
def test_the_openmp_spin_is_shortened_unless_the_user_chose(preset, expected):
    """convreg._cy sets GOMP_SPINCOUNT before the OpenMP runtime loads, and leaves a
    user's own GOMP_SPINCOUNT or OMP_WAIT_POLICY alone."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env.update(preset)
    code = ("import os, convreg._cy._conv; "
            "print(os.environ.get('GOMP_SPINCOUNT', 'unset'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


def test_the_thread_count_reaches_blas_loaded_later():
    """set_num_threads before the cython backend loads SciPy's BLAS still limits it
    (it did not: the kernels' GEMMs ran on every core after set_num_threads(1))."""
    import os
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        import numpy as np
        import threadpoolctl
        import convreg
        assert "convreg.plugins.cython" not in sys.modules
        convreg.set_num_threads(1)
        convreg.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), backend="cython")
        assert "convreg.plugins.cython" in sys.modules
        blas = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
        assert len(blas) >= 2, blas  # NumPy's and SciPy's
        print(sorted({p["num_threads"] for p in blas}))
    """)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1]"

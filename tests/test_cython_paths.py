"""Both algorithms of the cython backend, direct loops and im2col + GEMM, on every op.

The backend picks one by shape (``use_gemm``); here each is forced in turn
and checked against the reference, with a workspace small enough that the
GEMM path runs over several batch slices.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convreg
from conftest import assert_close, implementing
from convreg.testing.strategies import conv_problems, values

cython = pytest.importorskip("convreg.plugins.cython")
pytestmark = pytest.mark.skipif("cython" not in implementing("conv2d"),
                                reason="the cython backend is not built")


@contextlib.contextmanager
def forced(gemm: bool, workspace: int):
    saved = cython.use_gemm, cython.WORKSPACE_BYTES
    cython.use_gemm = lambda *args: gemm
    cython.WORKSPACE_BYTES = workspace
    try:
        yield
    finally:
        cython.use_gemm, cython.WORKSPACE_BYTES = saved


def _scale(*arrays):
    return float(np.prod([np.abs(a).max(initial=0.0) for a in arrays]))


@pytest.mark.parametrize("gemm", [False, True], ids=["direct", "gemm"])
@given(problem=conv_problems(), data=st.data(), workspace=st.sampled_from([1, 1 << 10, 1 << 25]))
def test_both_algorithms_agree_with_reference(gemm, problem, data, workspace):
    x, w, b, kw = problem["x"], problem["w"], problem["b"], problem["kw"]
    ref = {k: v.astype(np.float64) if v is not None else None for k, v in problem.items()
           if k != "kw"}
    want_y = convreg.conv2d(ref["x"], ref["w"], ref["b"], backend="reference", **kw)
    g = data.draw(values(want_y.shape, x.dtype))
    want_dx = convreg.conv2d_grad_input(g.astype(np.float64), ref["w"], x.shape,
                                        backend="reference", **kw)
    want_dw = convreg.conv2d_grad_weight(ref["x"], g.astype(np.float64), w.shape,
                                         backend="reference", **kw)
    with forced(gemm, workspace):
        y = convreg.conv2d(x, w, b, backend="cython", **kw)
        dx = convreg.conv2d_grad_input(g, w, x.shape, backend="cython", **kw)
        dw = convreg.conv2d_grad_weight(x, g, w.shape, backend="cython", **kw)
    bscale = _scale(b) if b is not None else 0.0
    assert_close(y, want_y, dtype=x.dtype, scale=_scale(x, w) + bscale, terms=w[0].size + 1)
    assert_close(dx, want_dx, dtype=x.dtype, scale=_scale(g, w), terms=g.shape[1] * w[0, 0].size)
    assert_close(dw, want_dw, dtype=x.dtype, scale=_scale(g, x), terms=g[:, 0].size)


@pytest.mark.parametrize(
    "op, out_per_group, n, out_hw, expected",
    [
        ("conv2d", 64, 8, (56, 56), True),
        ("conv2d", 1, 8, (56, 56), False),  # depthwise
        ("conv2d_grad_input", 8, 1, (3, 3), True),
        ("conv2d_grad_input", 2, 64, (28, 28), False),
        ("conv2d_grad_weight", 1, 16, (28, 28), True),
        ("conv2d_grad_weight", 64, 1, (6, 7), False),  # the chapter's sizes
    ],
)
def test_the_algorithm_choice(op, out_per_group, n, out_hw, expected):
    assert cython.use_gemm(op, out_per_group, n, out_hw) is expected

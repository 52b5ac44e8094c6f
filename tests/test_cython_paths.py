"""Every algorithm of the cython backend, direct loops, im2col + GEMM and implicit
GEMM, on every layer op.

The backend picks one by shape (``algorithm``); here each is forced in turn
(implicit GEMM where it applies: stride 1, not 1x1) and checked against the
reference, with a workspace small enough that im2col runs over several
batch slices.
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
def forced(how: str, workspace: int):
    def pick(op, x_shape, w_shape, out_hw, stride, padding, groups):
        if how == "implicit" and (stride != (1, 1) or w_shape[2:] == (1, 1)):
            return "im2col"
        return how

    saved = cython.algorithm, cython.WORKSPACE_BYTES
    cython.algorithm = pick
    cython.WORKSPACE_BYTES = workspace
    try:
        yield
    finally:
        cython.algorithm, cython.WORKSPACE_BYTES = saved


def _scale(*arrays):
    return float(np.prod([np.abs(a).max(initial=0.0) for a in arrays]))


@pytest.mark.parametrize("how", ["direct", "im2col", "implicit"])
@given(problem=conv_problems(), data=st.data(), workspace=st.sampled_from([1, 1 << 10, 1 << 25]))
def test_every_algorithm_agrees_with_reference(how, problem, data, workspace):
    x, w, b, kw = problem["x"], problem["w"], problem["b"], problem["kw"]
    ref = {k: v.astype(np.float64) if v is not None else None for k, v in problem.items()
           if k != "kw"}
    want_y = convreg.conv2d(ref["x"], ref["w"], ref["b"], backend="reference", **kw)
    g = data.draw(values(want_y.shape, x.dtype))
    want_dx = convreg.conv2d_grad_input(g.astype(np.float64), ref["w"], x.shape,
                                        backend="reference", **kw)
    want_dw = convreg.conv2d_grad_weight(ref["x"], g.astype(np.float64), w.shape,
                                         backend="reference", **kw)
    with forced(how, workspace):
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


@pytest.mark.parametrize(
    "op, x_shape, w_shape, stride, padding, expected",
    [
        ("conv2d", (8, 64, 56, 56), (64, 64, 3, 3), (1, 1), (1, 1, 1, 1), "implicit"),
        ("conv2d", (8, 64, 56, 56), (128, 64, 3, 3), (2, 2), (1, 1, 1, 1), "im2col"),
        ("conv2d", (8, 256, 28, 28), (64, 256, 1, 1), (1, 1), (0, 0, 0, 0), "im2col"),
        ("conv2d", (8, 32, 28, 28), (32, 1, 3, 3), (1, 1), (1, 1, 1, 1), "direct"),
    ],
)
def test_the_algorithm_for_a_layer(op, x_shape, w_shape, stride, padding, expected):
    groups = x_shape[1] // w_shape[1]
    out_hw = convreg.output_shape(x_shape[2:], w_shape[2:], stride, padding[::2])
    assert cython.algorithm(op, x_shape, w_shape, out_hw, stride, padding, groups) == expected

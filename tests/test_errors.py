"""Every argument PyTorch or SciPy rejects is rejected at the API boundary,
with a message that says what was given and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

import convreg

x4 = np.ones((2, 4, 8, 8))
w4 = np.ones((6, 2, 3, 3))


@pytest.mark.parametrize(
    "call, error, match",
    [
        # shapes and dimensions
        (lambda: convreg.corr2d(np.ones(3), np.ones((1, 1))), ValueError, r"X must be 2-D .* 1-D"),
        (lambda: convreg.corr2d(np.ones((3, 3)), np.ones((1, 1, 1))), ValueError, r"K must be 2-D"),
        (lambda: convreg.corr2d(np.ones((2, 2)), np.ones((3, 1))), ValueError,
         r"kernel of shape \(3, 1\) is larger than the input of shape \(2, 2\)"),
        (lambda: convreg.convolve2d(np.ones((2, 2)), np.ones((1, 3))), ValueError, r"larger than"),
        (lambda: convreg.corr2d(np.ones((0, 2)), np.ones((1, 1))), ValueError, r"must not be empty"),
        (lambda: convreg.conv2d(np.ones((8, 8)), w4), ValueError, r"x must be 3-D or 4-D"),
        (lambda: convreg.conv2d(x4, np.ones((6, 2, 3))), ValueError, r"weight must be 4-D"),
        (lambda: convreg.conv2d(x4, np.ones((6, 3, 3, 3))), ValueError,
         r"expects 3 input channels .* but the input has 4"),
        (lambda: convreg.conv2d(x4, np.ones((6, 4, 9, 9))), ValueError,
         r"kernel size \(9, 9\) .* larger than the padded input \(8, 8\)"),
        (lambda: convreg.conv2d(x4, np.ones((6, 4, 5, 5)), dilation=2), ValueError,
         r"dilated: \(9, 9\)"),
        (lambda: convreg.conv2d(x4, w4, groups=3), ValueError, r"groups=3 must divide .* \(4\)"),
        (lambda: convreg.conv2d(x4, np.ones((5, 2, 3, 3)), groups=2), ValueError,
         r"output channels \(5\)"),
        (lambda: convreg.conv2d(x4, w4, groups=0), ValueError, r"groups must be a positive int"),
        (lambda: convreg.conv2d(x4, w4, groups=2.0), TypeError, r"groups must be a positive int"),
        (lambda: convreg.conv2d(x4, w4, np.ones(5), groups=2), ValueError,
         r"bias must have shape \(6,\)"),
        # stride, padding, dilation
        (lambda: convreg.conv2d(x4, w4, stride=0, groups=2), ValueError, r"stride must be positive"),
        (lambda: convreg.conv2d(x4, w4, stride=(1, -1), groups=2), ValueError, r"stride"),
        (lambda: convreg.conv2d(x4, w4, stride=1.5, groups=2), TypeError, r"stride must be an int"),
        (lambda: convreg.conv2d(x4, w4, stride=(1, 2, 3), groups=2), TypeError, r"pair of ints"),
        (lambda: convreg.conv2d(x4, w4, dilation=0, groups=2), ValueError, r"dilation must be positive"),
        (lambda: convreg.conv2d(x4, w4, padding=-1, groups=2), ValueError, r"non-negative"),
        (lambda: convreg.conv2d(x4, w4, padding="same", stride=2, groups=2), ValueError,
         r"padding='same' is not supported with stride \(2, 2\)"),
        (lambda: convreg.conv2d(x4, w4, padding="full", groups=2), ValueError,
         r"'valid' or 'same'; got 'full'"),
        (lambda: convreg.corr2d(np.ones((3, 3)), np.ones((1, 1)), mode="circular"), ValueError,
         r"mode must be one of"),
        # pooling
        (lambda: convreg.max_pool2d(x4, 2, padding=2), ValueError, r"at most half the kernel size"),
        (lambda: convreg.avg_pool2d(x4, 3, padding=(1, 2)), ValueError, r"at most half"),
        (lambda: convreg.max_pool2d(x4, 0), ValueError, r"kernel_size must be positive"),
        (lambda: convreg.max_pool2d(x4, 2, stride=0), ValueError, r"stride must be positive"),
        (lambda: convreg.max_pool2d(x4, 9), ValueError, r"does not fit"),
        (lambda: convreg.max_pool2d(np.ones((8, 8)), 2), ValueError, r"x must be 3-D or 4-D"),
        # gradients whose shapes do not match the forward call
        (lambda: convreg.conv2d_grad_input(np.ones((2, 6, 5, 6)), w4, x4.shape, groups=2),
         ValueError, r"grad_output has shape \(2, 6, 5, 6\), but the forward conv2d .* \(2, 6, 6, 6\)"),
        (lambda: convreg.conv2d_grad_input(np.ones((6, 6, 6)), w4, x4.shape, groups=2),
         ValueError, r"grad_output must be 4-D"),
        (lambda: convreg.conv2d_grad_input(np.ones((2, 6, 6, 6)), w4, (4, 8), groups=2),
         ValueError, r"input_shape must be a sequence of 3 or 4"),
        (lambda: convreg.conv2d_grad_weight(x4, np.ones((2, 6, 6, 5)), w4.shape, groups=2),
         ValueError, r"grad_output has shape"),
        (lambda: convreg.conv2d_grad_weight(x4, np.ones((2, 6, 6, 6)), (6, 2, 3), groups=2),
         ValueError, r"weight_shape must be a sequence of 4"),
        (lambda: convreg.max_pool2d_grad(np.ones((2, 4, 3, 3)), x4, 2), ValueError,
         r"grad_output has shape \(2, 4, 3, 3\), but the forward pooling .* \(2, 4, 4, 4\)"),
        (lambda: convreg.avg_pool2d_grad(np.ones((2, 4, 4, 4)), (2, 4, 8, 10), 2), ValueError,
         r"grad_output has shape"),
        (lambda: convreg.conv2d_grad_bias(np.ones((4, 4))), ValueError, r"grad_output must be"),
        # dtypes
        (lambda: convreg.corr2d(np.ones((3, 3), np.complex128), np.ones((1, 1))), TypeError,
         r"X has dtype complex128"),
        (lambda: convreg.conv2d(x4.astype(np.float16), w4, groups=2), TypeError,
         r"x has dtype float16, .* expected float32 or float64"),
        (lambda: convreg.conv2d(x4, w4.astype(object), groups=2), TypeError, r"weight has dtype object"),
        (lambda: convreg.corr2d([["a", "b"]], [[1]]), TypeError, r"X has dtype <U1"),
        (lambda: convreg.corr2d([[1, 2], [3]], [[1]]), TypeError, r"rectangular shape"),
        (lambda: convreg.max_pool2d(x4.astype(np.longdouble), 2), TypeError, r"has dtype float128"),
        # backend names
        (lambda: convreg.corr2d(np.ones((2, 2)), np.ones((1, 1)), backend=3), TypeError,
         r"backend name"),
    ],
)
def test_bad_arguments_are_rejected(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_absurd_output_fails_before_allocating():
    # a broadcast view: 2**20 x 2**20 ones that occupy a few bytes
    X = np.broadcast_to(np.float32(1), (1 << 20, 1 << 20))
    with pytest.raises(ValueError, match=r"GiB .* more than this machine's"):
        convreg.corr2d(X, np.ones((3, 3), np.float32), mode="full")


def test_mixed_array_types_are_refused():
    class FakeDevice:
        __module__ = "cupy._core"

        def __init__(self):
            self.dtype = np.dtype(np.float32)
            self.ndim = 2

    with pytest.raises(TypeError, match="never copies between host and device"):
        convreg.corr2d(np.ones((3, 3)), FakeDevice())

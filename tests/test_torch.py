"""convreg.torch: convreg's ops as PyTorch custom ops, against torch.nn.functional.

Oracles: PyTorch's own ops (values and autograd gradients),
``torch.autograd.gradcheck`` (finite differences) in float64 on every op and
backend, and eager mode for ``torch.compile``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import implementing

if os.environ.get("CONVREG_REQUIRE_TORCH") == "1":
    import torch  # CI installs it: there a missing torch fails rather than skips
torch = pytest.importorskip("torch", reason="convreg.torch needs PyTorch (pip install torch)")
F = torch.nn.functional
ct = pytest.importorskip("convreg.torch")

CONV_CASES = {
    "plain": dict(shape=(2, 3, 7, 6), w=(4, 3, 3, 2), kw={}),
    "stride padding bias": dict(shape=(2, 4, 8, 7), w=(6, 4, 3, 3), bias=True,
                                kw=dict(stride=2, padding=1)),
    "pairs dilation groups": dict(shape=(1, 4, 9, 8), w=(6, 2, 2, 3), bias=True,
                                  kw=dict(stride=(1, 2), padding=(2, 1), dilation=(2, 1),
                                          groups=2)),
    "same even kernel": dict(shape=(2, 2, 6, 5), w=(3, 2, 2, 4), kw=dict(padding="same")),
    "valid": dict(shape=(1, 1, 6, 8), w=(1, 1, 1, 2), kw=dict(padding="valid")),
}


def _conv_inputs(case: dict, dtype: torch.dtype, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(case["shape"], generator=g, dtype=dtype, requires_grad=True)
    w = torch.randn(case["w"], generator=g, dtype=dtype, requires_grad=True)
    b = torch.randn(case["w"][0], generator=g, dtype=dtype, requires_grad=True) \
        if case.get("bias") else None
    return x, w, b


def _grads(out: torch.Tensor, inputs, seed: int = 1):
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    present = [t for t in inputs if t is not None]
    return torch.autograd.grad(out, present, g)


@pytest.mark.parametrize("backend", implementing("conv2d_grad_weight"))
@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_conv2d_and_its_gradients_match_torch(case, backend, dtype):
    c = CONV_CASES[case]
    x, w, b = _conv_inputs(c, dtype)
    got = ct.conv2d(x, w, b, backend=backend, **c["kw"])
    want = F.conv2d(x, w, b, **c["kw"])
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    assert got.dtype == dtype and got.shape == want.shape
    torch.testing.assert_close(got, want, **tol)
    for g_got, g_want in zip(_grads(got, (x, w, b)), _grads(want, (x, w, b))):
        torch.testing.assert_close(g_got, g_want, **tol)


@pytest.mark.parametrize("backend", implementing("conv2d_grad_weight"))
@pytest.mark.parametrize("case", ["stride padding bias", "pairs dilation groups",
                                  "same even kernel"])
def test_conv2d_gradcheck(case, backend):
    x, w, b = _conv_inputs(CONV_CASES[case], torch.float64, seed=2)
    kw = CONV_CASES[case]["kw"]
    assert torch.autograd.gradcheck(
        lambda x, w, b: ct.conv2d(x, w, b, backend=backend, **kw), (x, w, b))


@pytest.mark.parametrize("backend", implementing("corr2d"))
@pytest.mark.parametrize("mode", ["valid", "same", "full"])
def test_corr2d_values_and_gradcheck(mode, backend):
    g = torch.Generator().manual_seed(3)
    X = torch.randn(6, 7, generator=g, dtype=torch.float64, requires_grad=True)
    K = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    got = ct.corr2d(X, K, mode=mode, backend=backend)
    # The oracle: torch's conv2d on the same explicit zero padding (corr2d's 'same' pads the
    # smaller half first, as scipy.signal.correlate2d).
    top, bottom, left, right = {"valid": (0, 0, 0, 0), "same": (0, 1, 1, 1),
                                "full": (1, 1, 2, 2)}[mode]
    want = F.conv2d(F.pad(X, (left, right, top, bottom))[None, None], K[None, None])[0, 0]
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    for g_got, g_want in zip(_grads(got, (X, K)), _grads(want, (X, K))):
        torch.testing.assert_close(g_got, g_want, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda X, K: ct.corr2d(X, K, mode=mode, backend=backend),
                                    (X, K))


def test_corr2d_chapter_numbers():
    X = torch.arange(9.0).reshape(3, 3)
    K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    assert ct.corr2d(X, K).tolist() == [[19.0, 25.0], [37.0, 43.0]]


POOL_CASES = {
    "default stride": dict(kernel_size=2),
    "padding stride": dict(kernel_size=3, stride=2, padding=1),
    "ceil mode": dict(kernel_size=(2, 3), stride=(2, 2), ceil_mode=True),
}


def _distinct(shape, seed=4):
    """Distinct values, so max pooling has no ties and gradcheck a unique derivative."""
    n = int(np.prod(shape))
    values = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).double() / n
    return values.reshape(shape).requires_grad_(True)


@pytest.mark.parametrize("backend", implementing("max_pool2d_grad"))
@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool2d_matches_torch_and_gradchecks(case, backend):
    x = _distinct((2, 3, 7, 8))
    kw = POOL_CASES[case]
    got = ct.max_pool2d(x, backend=backend, **kw)
    want = F.max_pool2d(x, **kw)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    for g_got, g_want in zip(_grads(got, (x,)), _grads(want, (x,))):
        torch.testing.assert_close(g_got, g_want, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x: ct.max_pool2d(x, backend=backend, **kw), (x,))


@pytest.mark.parametrize("backend", implementing("avg_pool2d_grad"))
@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_matches_torch_and_gradchecks(case, count_include_pad, backend):
    x = _distinct((2, 3, 7, 8))
    kw = dict(POOL_CASES[case], count_include_pad=count_include_pad)
    got = ct.avg_pool2d(x, backend=backend, **kw)
    want = F.avg_pool2d(x, **kw)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    for g_got, g_want in zip(_grads(got, (x,)), _grads(want, (x,))):
        torch.testing.assert_close(g_got, g_want, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x: ct.avg_pool2d(x, backend=backend, **kw), (x,))


def test_the_backend_named_is_the_one_that_runs():
    calls = []
    x, w = torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3, requires_grad=True)
    import convreg.registry as registry

    original = registry.call

    def spy(op, backend, *args, **kwargs):
        calls.append((op, backend))
        return original(op, backend, *args, **kwargs)

    registry.call, saved = spy, registry.call
    try:
        ct.conv2d(x, w, backend="reference").sum().backward()
    finally:
        registry.call = saved
    assert calls == [("conv2d", "reference"), ("conv2d_grad_weight", "reference")]


def test_cpu_tensors_cross_without_a_copy():
    t = torch.arange(12.0).reshape(3, 4)
    a = ct._array(t)
    assert a.__array_interface__["data"][0] == t.data_ptr()
    y = np.ones((2, 2))
    assert ct._tensor(y).data_ptr() == y.__array_interface__["data"][0]
    # Non-contiguous views go in as views (convreg copies what its kernels need).
    assert ct._array(t.T).__array_interface__["data"][0] == t.data_ptr()
    torch.testing.assert_close(ct.corr2d(t.T, torch.ones(1, 1)), t.T)


def test_torch_compile_sees_opaque_ops():
    net_x, w, b = _conv_inputs(CONV_CASES["stride padding bias"], torch.float32)

    def f(x, w, b):
        y = ct.conv2d(x, w, b, stride=2, padding=1)
        y = ct.max_pool2d(torch.relu(y), 2, ceil_mode=True)
        return ct.avg_pool2d(y, 1).sum()

    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)  # no graph breaks
    eager_grads = torch.autograd.grad(f(net_x, w, b), (net_x, w, b))
    out = compiled(net_x, w, b)
    torch.testing.assert_close(out, f(net_x, w, b))
    for got, want in zip(torch.autograd.grad(out, (net_x, w, b)), eager_grads):
        torch.testing.assert_close(got, want)


def test_conv2d_module_is_torch_conv2d_computed_by_convreg():
    torch.manual_seed(0)
    ours = ct.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, backend="cython")
    theirs = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 4, 9, 9)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    assert "backend='cython'" in repr(ours)
    ours(x).square().sum().backward()
    theirs(x).square().sum().backward()
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours.bias.grad, theirs.bias.grad, rtol=1e-4, atol=1e-4)


def test_unbatched_input():
    x, w = torch.randn(2, 5, 5), torch.randn(3, 2, 3, 3)
    torch.testing.assert_close(ct.conv2d(x, w), F.conv2d(x, w), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("call, message", [
    (lambda: ct.conv2d(torch.ones(1, 1, 3, 3, dtype=torch.int64), torch.ones(1, 1, 2, 2)),
     "float32 or float64"),
    (lambda: ct.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2, dtype=torch.float64)),
     "share one dtype"),
    (lambda: ct.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2), padding="half"),
     "'valid' or 'same'"),
    (lambda: ct.max_pool2d(torch.ones(1, 1, 4, 4), 2, return_indices=True), "indices"),
    (lambda: ct.avg_pool2d(torch.ones(1, 1, 4, 4), 2, divisor_override=3), "divisor_override"),
    (lambda: ct.max_pool2d(torch.ones(4, 4), 2), "4-D"),
    (lambda: ct._array(torch.ones(2, device="meta")), "device meta"),
])
def test_clear_errors(call, message):
    with pytest.raises((TypeError, ValueError, NotImplementedError), match=message):
        call()


def test_convreg_validation_errors_pass_through():
    with pytest.raises(ValueError, match="groups"):
        ct.conv2d(torch.ones(1, 3, 4, 4), torch.ones(2, 1, 2, 2), groups=2)

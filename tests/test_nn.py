"""convreg.nn: every layer's backward against finite differences, training steps on
every backend, and the chapter's kernel-learning loop against its own formulas."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import implementing

import convreg
from convreg import nn

F64 = np.float64


def _fd_check(layer: nn.Module, x: np.ndarray, *, seed: int = 0, h: float = 1e-6,
              tol: float = 1e-6) -> None:
    """Backward's input and parameter gradients against central differences of <f(x), g>."""
    rng = np.random.default_rng(seed)
    y = layer(x)
    g = rng.standard_normal(y.shape)
    layer.zero_grad()
    dx = layer.backward(g)

    def objective() -> float:
        return float(np.vdot(layer(x), g))

    v = rng.standard_normal(x.shape)
    base = x.copy()
    x[...] = base + h * v
    up = objective()
    x[...] = base - h * v
    down = objective()
    x[...] = base
    assert abs((up - down) / (2 * h) - np.vdot(dx, v)) <= tol * max(1.0, abs(np.vdot(dx, v)))
    for p in layer.parameters():
        v = rng.standard_normal(p.shape)
        saved = p.data.copy()
        p.data[...] = saved + h * v
        up = objective()
        p.data[...] = saved - h * v
        down = objective()
        p.data[...] = saved
        assert abs((up - down) / (2 * h) - np.vdot(p.grad, v)) <= \
            tol * max(1.0, abs(np.vdot(p.grad, v))), p


LAYERS = {
    "Conv2D": (lambda b: nn.Conv2D((2, 3), rng=1, backend=b), (6, 7)),
    "Conv2d": (lambda b: nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, rng=1, dtype=F64,
                                   backend=b), (2, 4, 7, 6)),
    "Conv2d dilated same": (lambda b: nn.Conv2d(2, 3, (2, 3), padding="same", dilation=2,
                                                rng=2, dtype=F64, backend=b), (1, 2, 6, 7)),
    "MaxPool2d": (lambda b: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True, backend=b),
                  (2, 3, 7, 6)),
    "AvgPool2d": (lambda b: nn.AvgPool2d((2, 3), stride=(1, 2), padding=1,
                                         count_include_pad=False, backend=b), (2, 3, 6, 7)),
}


_LAYER_OPS = {"Conv2D": "conv2d_grad_weight", "Conv2d": "conv2d_grad_weight",
              "Conv2d dilated same": "conv2d_grad_weight", "MaxPool2d": "max_pool2d_grad",
              "AvgPool2d": "avg_pool2d_grad"}


@pytest.mark.parametrize("name, backend", [(name, b) for name in LAYERS
                                           for b in implementing(_LAYER_OPS[name])])
def test_layer_gradients_by_finite_differences(name, backend):
    make, shape = LAYERS[name]
    x = np.random.default_rng(3).permutation(int(np.prod(shape))).reshape(shape).astype(F64)
    x /= x.size  # distinct values: no ties in max pooling
    _fd_check(make(backend), x)


@pytest.mark.parametrize("layer", [nn.ReLU(), nn.Flatten(), nn.Linear(12, 5, rng=0, dtype=F64),
                                   nn.Dropout(0.3, rng=0)], ids=lambda m: type(m).__name__)
def test_numpy_layers_by_finite_differences(layer):
    x = np.random.default_rng(4).standard_normal((3, 12)) + 0.05  # away from ReLU's kink
    if isinstance(layer, nn.Dropout):
        layer.eval()  # a fixed map; training mode is checked below
    _fd_check(layer, x)


def test_dropout_masks_and_scales_in_training():
    drop = nn.Dropout(0.25, rng=0)
    x = np.ones((400, 50))
    y = drop(x)
    kept = y != 0
    assert np.allclose(y[kept], 1 / 0.75)
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_array_equal(drop.backward(np.ones_like(x)), y)
    np.testing.assert_array_equal(drop.eval()(x), x)


def small_net(backend: str | None, dtype=F64) -> nn.Sequential:
    rng = np.random.default_rng(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=rng, dtype=dtype, backend=backend), nn.ReLU(),
        nn.MaxPool2d(2, backend=backend),
        nn.Conv2d(4, 8, 3, padding=1, rng=rng, dtype=dtype, backend=backend), nn.ReLU(),
        nn.AvgPool2d(2, backend=backend),
        nn.Flatten(), nn.Linear(8 * 2 * 2, 10, rng=rng, dtype=dtype),
    )


@pytest.mark.parametrize("backend", implementing("max_pool2d_grad"))
def test_whole_network_by_finite_differences(backend):
    x = np.random.default_rng(5).standard_normal((3, 1, 8, 8))
    _fd_check(small_net(backend), x, tol=1e-5)


@pytest.mark.parametrize("backend", implementing("max_pool2d_grad"))
def test_one_training_step_is_the_same_on_every_backend(backend):
    rng = np.random.default_rng(6)
    x, labels = rng.standard_normal((16, 1, 8, 8)), rng.integers(0, 10, 16)

    def step(name):
        net = small_net(name)
        loss = nn.CrossEntropyLoss()
        opt = nn.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        value = loss(net(x), labels)
        opt.zero_grad()
        net.backward(loss.backward())
        opt.step()
        return value, [p.data.copy() for p in net.parameters()]

    ref_loss, ref_params = step("reference")
    got_loss, got_params = step(backend)
    assert abs(got_loss - ref_loss) <= 1e-12
    for a, b in zip(got_params, ref_params):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_kernel_learning_matches_the_chapters_formulas():
    """Each step equals the chapter's loop written out with NumPy alone."""
    X = np.ones((6, 8))
    X[:, 2:6] = 0
    Y = np.zeros((6, 7))
    Y[:, 1], Y[:, 5] = 1, -1
    conv = nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False, rng=0, dtype=F64)
    loss = nn.MSELoss(reduction="sum")
    K = conv.weight.data.reshape(2).copy()
    for _ in range(10):
        value = loss(conv(X[None, None]), Y[None, None])
        conv.zero_grad()
        conv.backward(loss.backward())
        conv.weight.data -= 3e-2 * conv.weight.grad
        # the chapter's formulas: Y_hat = X[:, j] K0 + X[:, j+1] K1; l = sum (Y_hat - Y)^2
        err = X[:, :-1] * K[0] + X[:, 1:] * K[1] - Y
        assert abs(value - (err ** 2).sum()) <= 1e-12
        K = K - 3e-2 * np.array([(2 * err * X[:, :-1]).sum(), (2 * err * X[:, 1:]).sum()])
        np.testing.assert_allclose(conv.weight.data.reshape(2), K, rtol=1e-13, atol=1e-13)
    assert np.allclose(K, [1, -1], atol=0.05)


def test_sgd_matches_pytorch_update_rule():
    p = nn.Parameter(np.array([1.0, -2.0]))
    opt = nn.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    p.grad[...] = [0.5, 0.5]
    opt.step()  # buf = g + wd p = [0.51, 0.48]
    np.testing.assert_allclose(p.data, [1 - 0.051, -2 - 0.048])
    opt.step()  # buf = 0.9 buf + g + wd p
    buf = 0.9 * np.array([0.51, 0.48]) + 0.5 + 0.01 * np.array([0.949, -2.048])
    np.testing.assert_allclose(p.data, np.array([0.949, -2.048]) - 0.1 * buf)


def test_cross_entropy_gradient_and_value():
    rng = np.random.default_rng(7)
    z, labels = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    loss = nn.CrossEntropyLoss()
    value = loss(z, labels)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert abs(value + np.log(p[np.arange(5), labels]).mean()) <= 1e-12
    v, h = rng.standard_normal(z.shape), 1e-6
    fd = (loss(z + h * v, labels) - loss(z - h * v, labels)) / (2 * h)
    loss(z, labels)
    assert abs(fd - np.vdot(loss.backward(), v)) <= 1e-7


def test_module_api():
    net = small_net(None)
    assert len(net.parameters()) == 6  # two convolutions and a linear layer, weight + bias
    assert all(p.grad.shape == p.data.shape for p in net.parameters())
    net.eval()
    assert not any(m.training for m in net.modules)
    net.train()
    assert all(m.training for m in net.modules)
    with pytest.raises(RuntimeError, match=r"Conv2d.backward\(\) was called before forward"):
        nn.Conv2d(1, 1, 3, rng=0).backward(np.ones((1, 1, 1, 1)))
    with pytest.raises(RuntimeError, match="before the loss was computed"):
        nn.MSELoss().backward()
    with pytest.raises(ValueError, match="groups=2 must divide"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_conv2d_initialisation_follows_pytorch():
    conv = nn.Conv2d(8, 16, 3, groups=2, rng=0)
    bound = 1 / np.sqrt(4 * 9)
    assert conv.weight.shape == (16, 4, 3, 3) and conv.weight.data.dtype == np.float32
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.bias.data).max() <= bound
    assert np.abs(conv.weight.data).max() > 0.9 * bound  # uniform over the whole range
    chapter = nn.Conv2D((1, 2), rng=0)
    assert chapter.weight.shape == (1, 2) and (0 <= chapter.weight.data).all()
    assert (chapter.weight.data < 1).all() and chapter.bias.data.tolist() == [0.0]


def test_module_backend_choice_is_used(monkeypatch):
    calls = []
    original = convreg.registry._resolved

    def spy(op, backend, array_type):
        calls.append((op, backend))
        return original(op, backend, array_type)

    monkeypatch.setattr(convreg.registry, "_resolved", spy)
    net = small_net("reference")
    net(np.ones((2, 1, 8, 8)))
    net.backward(np.ones((2, 10)))
    assert calls and all(b == "reference" for _, b in calls)
    assert {"conv2d", "conv2d_grad_input", "conv2d_grad_weight", "max_pool2d_grad"} <= \
        {op for op, _ in calls}


def test_mixed_dtypes_raise_like_pytorch_and_integers_convert():
    conv = nn.Conv2d(1, 2, 3, rng=0)  # float32 parameters
    with pytest.raises(TypeError, match=r"input dtype float64 does not match .*float32"):
        conv(np.ones((1, 1, 5, 5)))
    with pytest.raises(TypeError, match="x.astype"):
        nn.Linear(3, 2, rng=0)(np.ones((1, 3)))
    assert conv(np.ones((1, 1, 5, 5), np.int64)).dtype == np.float32
    assert nn.Conv2D((1, 2), rng=0)(np.ones((6, 8), bool)).dtype == np.float64
    with pytest.raises(TypeError, match="float32"):
        nn.Conv2D((1, 2), rng=0)(np.ones((6, 8), np.float32))


def test_reprs_are_complete_and_nest_like_pytorch():
    net = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 6, 5, padding=2, bias=False, rng=0), nn.ReLU()),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(6 * 14 * 14, 10, rng=0))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Sequential(\n"
        "    (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2), bias=False)\n"
        "    (1): ReLU()\n"
        "  )\n"
        "  (1): AvgPool2d(kernel_size=2, stride=2, padding=0, ceil_mode=False, "
        "count_include_pad=True)\n"
        "  (2): Flatten(start_dim=1)\n"
        "  (3): Linear(in_features=1176, out_features=10, bias=True)\n"
        ")")
    conv = nn.Conv2d(4, 8, (3, 1), stride=2, dilation=2, groups=4, dtype=F64, backend="reference")
    assert repr(conv) == ("Conv2d(4, 8, kernel_size=(3, 1), stride=(2, 2), dilation=(2, 2), "
                          "groups=4, dtype=float64, backend='reference')")
    # A default spelled as a pair is still the default, as in PyTorch's repr.
    assert repr(nn.Conv2d(2, 2, 3, padding=(0, 0), dilation=(1, 1), rng=0)) == \
        "Conv2d(2, 2, kernel_size=(3, 3), stride=(1, 1))"
    with pytest.raises(TypeError, match="argument 1 is a ufunc"):
        nn.Sequential(nn.ReLU(), np.tanh)


def test_every_public_layer_documents_its_parameters_and_an_example():
    for name in nn.__all__:
        obj = getattr(nn, name)
        if not isinstance(obj, type) or name in ("Sequential",):
            continue
        doc = obj.__doc__ or ""
        assert "Examples" in doc and ">>>" in doc, f"nn.{name} lacks an example"
        if obj.__init__ is not object.__init__ and obj.__init__.__code__.co_argcount > 1:
            assert "Parameters" in doc, f"nn.{name} does not document its parameters"

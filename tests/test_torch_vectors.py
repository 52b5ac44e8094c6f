"""Every backend against PyTorch's recorded answers (``data/torch_vectors.npz``).

The vectors were made by ``make_torch_vectors.py`` with PyTorch's CPU
``torch.nn.functional`` and autograd; they pin down the semantics convreg
promises to share with PyTorch (``padding="same"`` with even kernels,
dilation, groups, ``ceil_mode``, ``count_include_pad``, the max-pooling
gradient's routing) independently of convreg's own reference backend.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
from conftest import implementing

import convreg

DATA = np.load(pathlib.Path(__file__).parent / "data" / "torch_vectors.npz")
CASES = json.loads(str(DATA["cases"]))


def _tuple(v):
    return tuple(v) if isinstance(v, list) else v


@pytest.mark.parametrize("backend", implementing("conv2d"))
@pytest.mark.parametrize("i", range(len(CASES["conv"])))
def test_conv2d_and_gradients_match_pytorch(backend, i):
    c = CASES["conv"][i]
    kw = dict(stride=_tuple(c["stride"]), padding=_tuple(c["padding"]),
              dilation=_tuple(c["dilation"]), groups=c["groups"])
    v = {k[len(f"conv{i}_"):]: DATA[k] for k in DATA.files if k.startswith(f"conv{i}_")}
    y = convreg.conv2d(v["x"], v["w"], v.get("b"), backend=backend, **kw)
    np.testing.assert_allclose(y, v["y"], rtol=1e-12, atol=1e-12)
    if backend in implementing("conv2d_grad_input"):
        dx = convreg.conv2d_grad_input(v["g"], v["w"], v["x"].shape, backend=backend, **kw)
        np.testing.assert_allclose(dx, v["dx"], rtol=1e-12, atol=1e-12)
    if backend in implementing("conv2d_grad_weight"):
        dw = convreg.conv2d_grad_weight(v["x"], v["g"], v["w"].shape, backend=backend, **kw)
        np.testing.assert_allclose(dw, v["dw"], rtol=1e-12, atol=1e-12)
    if "db" in v:
        np.testing.assert_allclose(convreg.conv2d_grad_bias(v["g"]), v["db"], rtol=1e-12)


@pytest.mark.parametrize("backend", implementing("max_pool2d"))
@pytest.mark.parametrize("i", range(len(CASES["pool"])))
def test_pooling_and_gradients_match_pytorch(backend, i):
    c = CASES["pool"][i]
    kw = dict(kernel_size=_tuple(c["k"]), stride=_tuple(c["stride"]),
              padding=_tuple(c["padding"]), ceil_mode=c["ceil_mode"])
    x = DATA[f"max{i}_x"]
    y = convreg.max_pool2d(x, dilation=_tuple(c["dilation"]), backend=backend, **kw)
    np.testing.assert_array_equal(y, DATA[f"max{i}_y"])
    if backend in implementing("max_pool2d_grad"):
        dx = convreg.max_pool2d_grad(DATA[f"max{i}_g"], x, dilation=_tuple(c["dilation"]),
                                     backend=backend, **kw)
        np.testing.assert_allclose(dx, DATA[f"max{i}_dx"], rtol=1e-12, atol=1e-12)
    if c["dilation"] != 1:
        return
    for include in (True, False):
        tag = f"avg{i}_{int(include)}"
        y = convreg.avg_pool2d(x, count_include_pad=include, backend=backend, **kw)
        np.testing.assert_allclose(y, DATA[f"{tag}_y"], rtol=1e-12, atol=1e-12)
        if backend in implementing("avg_pool2d_grad"):
            dx = convreg.avg_pool2d_grad(DATA[f"{tag}_g"], x.shape, count_include_pad=include,
                                         backend=backend, **kw)
            np.testing.assert_allclose(dx, DATA[f"{tag}_dx"], rtol=1e-12, atol=1e-12)

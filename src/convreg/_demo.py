"""``python -m convreg demo``: the chapter on convolutional layers, end to end.

Each result is computed on every available backend that implements the op
and the backends are shown to agree with ``reference``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import convreg
from convreg.shapes import IntOrPair

__all__ = ["run"]


class _Demo:
    def __init__(self, names: Sequence[str] | None) -> None:
        infos = [b for b in convreg.backends() if b.available]
        if names:
            unknown = set(names) - {b.name for b in infos}
            if unknown:
                raise SystemExit(f"convreg demo: not available: {', '.join(sorted(unknown))} "
                                 "(python -m convreg info says why)")
            infos = [b for b in infos if b.name in names]
        self.infos = infos
        self.disagreements = 0

    def compute(self, op: str, call: Callable[[str], Any]) -> Any:
        """Run ``call(backend)`` on each backend that has ``op``; print the agreement."""
        results = {b.name: call(b.name) for b in self.infos if op in b.ops}
        if not results:
            raise SystemExit(f"convreg demo: no selected backend implements {op}")
        oracle = results.get("reference", next(iter(results.values())))
        notes = []
        for name, value in results.items():
            err = float(np.max(np.abs(np.asarray(value) - np.asarray(oracle)), initial=0.0))
            ok = np.shape(value) == np.shape(oracle) and err <= 1e-9 * max(1.0, np.abs(oracle).max())
            self.disagreements += not ok
            notes.append(f"{name} {'agrees' if ok else f'DIFFERS by {err:.3g}'}")
        missing = [b.name for b in self.infos if op not in b.ops]
        if missing:
            notes.append(f"not implemented on {', '.join(missing)}")
        print(f"    [{op}: {'; '.join(notes)}]")
        return oracle


def _title(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 66 - len(text)))


def _draw(Y: np.ndarray) -> str:
    """An image as characters: '#' for 1, '.' for 0, '+' / '-' for the signs of an edge map."""
    def cell(v: float) -> str:
        if Y.min() >= 0:
            return "#" if v > 0.5 else "."
        return "+" if v > 0.5 else ("-" if v < -0.5 else ".")

    return "\n".join("      " + " ".join(cell(v) for v in row) for row in Y)


def run(names: Sequence[str] | None = None) -> int:
    demo = _Demo(names)
    print("convreg demo: Dive into Deep Learning, 'Convolutions for Images' and after")
    print("backends: " + ", ".join(b.name for b in demo.infos))

    _title("1. cross-correlation, corr2d(X, K)")
    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    Y = demo.compute("corr2d", lambda b: convreg.corr2d(X, K, backend=b))
    print(f"    X = {X.tolist()}\n    K = {K.tolist()}\n    corr2d(X, K) = {Y.tolist()}")
    print("    (0*0 + 1*1 + 3*2 + 4*3 = 19, and so on)")
    Yc = demo.compute("convolve2d", lambda b: convreg.convolve2d(X, K[::-1, ::-1], backend=b))
    print(f"    convolve2d(X, K flipped) = {Yc.tolist()}: convolution is correlation "
          "with the kernel turned half a turn")

    _title("2. edge detection with K = [[1, -1]]")
    img = np.ones((6, 8))
    img[:, 2:6] = 0
    edge = np.array([[1.0, -1.0]])
    print("    a 6x8 image, white (#) with a black band (.):")
    print(_draw(img))
    Y = demo.compute("corr2d", lambda b: convreg.corr2d(img, edge, backend=b))
    print("    corr2d(X, K): + marks white-to-black, - black-to-white:")
    print(_draw(Y))
    print(f"    each row: {Y[0].tolist()}")
    Yt = demo.compute("corr2d", lambda b: convreg.corr2d(img.T, edge, backend=b))
    print(f"    on the transposed image the vertical edges vanish: all zero = {not Yt.any()}, "
          f"shape {Yt.shape}")

    _title("3. learning the kernel back from (X, Y)")
    from . import nn

    x4, y4 = img.reshape(1, 1, 6, 8), Y.reshape(1, 1, 6, 7)
    conv = nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False, rng=0, dtype=np.float64)
    loss = nn.MSELoss(reduction="sum")
    lr = 3e-2
    print(f"    nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False), initial kernel "
          f"{conv.weight.data.ravel().round(3).tolist()}; squared loss, lr {lr}")
    for step in range(1, 11):
        value = loss(conv(x4), y4)
        conv.zero_grad()
        conv.backward(loss.backward())
        conv.weight.data -= lr * conv.weight.grad
        if step % 2 == 0:
            print(f"    step {step:2d}, loss {value:.3f}")
    print(f"    learned kernel: {conv.weight.data.reshape(1, 2).round(3).tolist()}  "
          "(the truth: [[1.0, -1.0]])")

    _title("4. padding and stride: output shapes of an 8x8 input")
    rng = np.random.default_rng(0)
    x8 = rng.standard_normal((1, 1, 8, 8))
    cases: list[tuple[IntOrPair, IntOrPair, IntOrPair]] = [
        (3, 1, 1), ((5, 3), (2, 1), 1), (3, 1, 2), ((3, 5), (0, 1), (3, 5))]
    for k, p, s in cases:
        wk = rng.standard_normal((1, 1, *((k, k) if isinstance(k, int) else k)))
        out = demo.compute("conv2d", lambda b: convreg.conv2d(x8, wk, padding=p, stride=s, backend=b))
        print(f"    kernel {k}, padding {p}, stride {s}: {out.shape[2:]} "
              f"(output_shape says {convreg.output_shape((8, 8), k, s, p)})")

    _title("5. multiple input and output channels")
    xc = np.stack([np.arange(9.0).reshape(3, 3), np.arange(1.0, 10.0).reshape(3, 3)])
    kc = np.stack([np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([[1.0, 2.0], [3.0, 4.0]])])
    Y = demo.compute("conv2d", lambda b: convreg.conv2d(xc, kc[None], backend=b))
    print(f"    two input channels, summed: {Y[0].tolist()}")
    k3 = np.stack([kc, kc + 1, kc + 2])
    Y = demo.compute("conv2d", lambda b: convreg.conv2d(xc, k3, backend=b))
    print(f"    three output channels (kernels K, K+1, K+2): shape {Y.shape}, "
          f"first {Y[0].tolist()}")

    _title("6. 1x1 convolution: a fully connected layer over channels")
    x1 = rng.standard_normal((3, 3, 3))
    w1 = rng.standard_normal((2, 3, 1, 1))
    Y = demo.compute("conv2d", lambda b: convreg.conv2d(x1, w1, backend=b))
    mm = (w1.reshape(2, 3) @ x1.reshape(3, 9)).reshape(2, 3, 3)
    print(f"    conv2d with a (2, 3, 1, 1) kernel equals W @ X over channels: "
          f"{np.allclose(Y, mm)} (largest difference {np.abs(Y - mm).max():.1e})")

    _title("7. pooling")
    xp = np.arange(9.0).reshape(1, 3, 3)
    Y = demo.compute("max_pool2d", lambda b: convreg.max_pool2d(xp, 2, stride=1, backend=b))
    print(f"    2x2 max pooling of 0..8, stride 1 (by default the stride is the window, as in "
          f"PyTorch): {Y[0].tolist()}")
    Y = demo.compute("avg_pool2d", lambda b: convreg.avg_pool2d(xp, 2, stride=1, backend=b))
    print(f"    2x2 average pooling of 0..8, stride 1: {Y[0].tolist()}")
    x16 = np.arange(16.0).reshape(1, 1, 4, 4)
    Y = demo.compute("max_pool2d",
                     lambda b: convreg.max_pool2d(x16, 3, padding=1, stride=2, backend=b))
    print(f"    3x3 max pooling of 0..15 (4x4), padding 1, stride 2: {Y[0, 0].tolist()}")
    x2c = np.concatenate([x16, x16 + 1], axis=1)
    Y = demo.compute("max_pool2d",
                     lambda b: convreg.max_pool2d(x2c, 3, padding=1, stride=2, backend=b))
    print(f"    with a second channel X + 1, channels stay apart: {Y.shape[1]} channels, "
          f"second {Y[0, 1].tolist()}")

    _title("8. a VGG block: two 3x3 convolutions (padding 1), ReLU, 2x2 max pooling")
    xv = rng.standard_normal((1, 3, 16, 16))
    h = xv
    for c_in, c_out in [(3, 8), (8, 8)]:
        wv = rng.standard_normal((c_out, c_in, 3, 3)) * np.sqrt(2 / (9 * c_in))
        h = demo.compute("conv2d", lambda b: np.maximum(convreg.conv2d(h, wv, padding=1, backend=b), 0))
    h = demo.compute("max_pool2d", lambda b: convreg.max_pool2d(h, 2, stride=2, backend=b))
    print(f"    {xv.shape} -> {h.shape}: the convolutions keep height and width, pooling halves them")
    print("    VGG-11's five blocks on a 1x1x224x224 input, by output_shape:")
    size: int = 224
    channels = 1
    for n_convs, c_out in [(1, 64), (1, 128), (2, 256), (2, 512), (2, 512)]:
        for _ in range(n_convs):
            size = convreg.output_shape(size, 3, 1, 1)
        size = convreg.output_shape(size, 2, 2)
        channels = c_out
        print(f"      block of {n_convs} conv: output shape (1, {channels}, {size}, {size})")

    print()
    if demo.disagreements:
        print(f"{demo.disagreements} result(s) DIFFER between backends")
        return 1
    print("every backend agreed with the reference on every result above")
    return 0

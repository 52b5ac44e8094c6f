"""convreg's ``cupy`` backend beside cupyx.scipy and PyTorch CUDA on one GPU.

    python benchmarks/gpu.py [--repeats 7] [--min-time 0.1] [--crossover]

Needs CuPy and a CUDA device; without them it says which is missing and
exits with status 2 (nothing is timed, nothing is written). The cases are
the GPU issue's: 4096^2 float32 images with 3x3 and 15x15 kernels against
``cupyx.scipy.signal.correlate2d`` and ``cupyx.scipy.ndimage.correlate``;
the layers (LeNet at batch 256, VGG 64x64x56^2 and 64x256x14^2 k3 p1, a 1x1
and a strided layer, forward and both gradients) against PyTorch CUDA
``conv2d`` and ``torch.nn.grad`` with TF32 off, when PyTorch has CUDA.

Each figure is the median of ``repeats`` runs, each run as many calls as
fill ``min_time`` seconds between two device synchronizations; GFLOP/s
counts 2 flops per multiply-add of the direct definition. Before timing,
convreg's result is checked against the first peer's (largest difference
relative to the largest value, printed per row), so a fast wrong answer
cannot pass unnoticed. Record runs in benchmarks/RESULTS.md with the
device this prints.

``--crossover`` times instead the cupy backend's two ``conv2d`` algorithms
against each other (``convreg.plugins.cupy.algorithm``: the direct kernel
for few channels, im2col + cuBLAS otherwise) over input and output channel
counts at batch 64 on 28^2 images, and marks what the rule picks: the table
to set ``DIRECT_MAX_OUT_CHANNELS`` and ``DIRECT_MAX_PRODUCTS`` from.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import convreg
from convreg.bench import Case

IMAGES = [Case("4096^2 * 3x3", "image", (4096, 4096), (3, 3)),
          Case("4096^2 * 15x15", "image", (4096, 4096), (15, 15))]
LAYERS = [
    Case("LeNet 256x1x28^2 -> 6 k5 p2", "layer", (256, 1, 28, 28), (6, 1, 5, 5), padding=2),
    Case("LeNet 256x6x14^2 -> 16 k5", "layer", (256, 6, 14, 14), (16, 6, 5, 5)),
    Case("VGG 64x64x56^2 -> 64 k3 p1", "layer", (64, 64, 56, 56), (64, 64, 3, 3), padding=1),
    Case("VGG 64x256x14^2 -> 256 k3 p1", "layer", (64, 256, 14, 14), (256, 256, 3, 3),
         padding=1),
    Case("1x1 64x256x28^2 -> 64", "layer", (64, 256, 28, 28), (64, 256, 1, 1)),
    Case("strided 64x64x56^2 -> 128 k3 s2 p1", "layer", (64, 64, 56, 56), (128, 64, 3, 3),
         stride=2, padding=1),
]


def missing() -> str | None:
    """Why this machine cannot run the benchmark, or None (the backend's own reason)."""
    try:
        import cupy  # noqa: F401
    except Exception as exc:  # ImportError, or CUDA libraries that fail to load
        return f"CuPy does not import ({exc}); install convreg[cupy] on a machine with a GPU"
    ok, why = next(((b.available, b.reason) for b in convreg.backends() if b.name == "cupy"),
                   (False, "no backend named 'cupy' is registered"))
    return None if ok else f"convreg's cupy backend is unavailable: {why}"


def timed(fn: Callable[[], Any], sync: Callable[[], None], repeats: int, min_time: float) -> float:
    """Median seconds per call, each run synchronized with the device before and after."""
    fn()
    sync()
    runs = []
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            sync()
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        runs.append(elapsed / calls)
    return statistics.median(runs)


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cudnn.allow_tf32 = False  # the figures are fp32, no TF32
    torch.backends.cuda.matmul.allow_tf32 = False
    return torch


def image_calls(case: Case, cp: Any, torch: Any) -> dict[str, Callable[[], Any]]:
    import cupyx.scipy.ndimage
    import cupyx.scipy.signal

    rng = cp.random.default_rng(0)
    X = rng.standard_normal(case.x, dtype=cp.float32)
    K = rng.standard_normal(case.w, dtype=cp.float32)
    calls = {
        "convreg:cupy": lambda: convreg.corr2d(X, K, mode="valid", backend="cupy"),
        "cupyx.signal": lambda: cupyx.scipy.signal.correlate2d(X, K, mode="valid"),
        "cupyx.ndimage": lambda: cupyx.scipy.ndimage.correlate(X, K, mode="constant"),
    }
    if torch is not None:
        Xt = torch.as_tensor(X, device="cuda")[None, None]
        Kt = torch.as_tensor(K, device="cuda")[None, None]
        calls["torch"] = lambda: torch.nn.functional.conv2d(Xt, Kt)
    return calls


def layer_calls(case: Case, op: str, cp: Any, torch: Any) -> dict[str, Callable[[], Any]]:
    rng = cp.random.default_rng(0)
    x = rng.standard_normal(case.x, dtype=cp.float32)
    w = rng.standard_normal(case.w, dtype=cp.float32)
    kw = dict(stride=case.stride, padding=case.padding)
    y = convreg.conv2d(x, w, backend="cupy", **kw)
    g = rng.standard_normal(y.shape, dtype=cp.float32)
    calls = {"convreg:cupy": {
        "forward": lambda: convreg.conv2d(x, w, backend="cupy", **kw),
        "grad_input": lambda: convreg.conv2d_grad_input(g, w, x.shape, backend="cupy", **kw),
        "grad_weight": lambda: convreg.conv2d_grad_weight(x, g, w.shape, backend="cupy", **kw),
    }[op]}
    if torch is not None:
        F, grad = torch.nn.functional, torch.nn.grad
        xt, wt, gt = (torch.as_tensor(a, device="cuda") for a in (x, w, g))
        calls["torch"] = {
            "forward": lambda: F.conv2d(xt, wt, **kw),
            "grad_input": lambda: grad.conv2d_input(xt.shape, wt, gt, **kw),
            "grad_weight": lambda: grad.conv2d_weight(xt, wt.shape, gt, **kw),
        }[op]
    return calls


def row(name: str, op: str, flops: float, calls: dict[str, Callable[[], Any]], cp: Any,
        repeats: int, min_time: float) -> str:
    ours = cp.asarray(calls["convreg:cupy"]())
    peer = next(n for n in calls if n != "convreg:cupy")
    theirs = cp.asarray(calls[peer]())
    if theirs.shape != ours.shape:  # cupyx.ndimage filters in "same" geometry
        theirs = None
    err = "-" if theirs is None else \
        f"{float(cp.abs(ours - theirs).max() / max(float(cp.abs(theirs).max()), 1e-30)):.1e}"
    sync = cp.cuda.Device().synchronize
    seconds = {n: timed(fn, sync, repeats, min_time) for n, fn in calls.items()}
    best_peer = min((t for n, t in seconds.items() if n != "convreg:cupy"), default=None)
    cells = " | ".join(f"{n} {flops / t / 1e12:.2f}" for n, t in seconds.items())
    ratio = "-" if best_peer is None else f"{best_peer / seconds['convreg:cupy']:.2f}"
    return f"| {name} | {op} | {cells} | {ratio} | {err} |"


CROSSOVER = [(cin, cout, k) for k in (3, 5) for cin in (1, 3, 6, 16, 32, 64)
             for cout in (4, 8, 16, 32, 64)]


def crossover(cp: Any, repeats: int, min_time: float) -> None:
    """Direct kernel vs im2col + cuBLAS for conv2d, forced in turn, one row per shape."""
    from convreg.plugins import cupy as plugin

    rule, sync = plugin.algorithm, cp.cuda.Device().synchronize
    print("| Cin | Cout | k | direct TFLOP/s | im2col TFLOP/s | im2col time / direct | "
          "rule picks | err |\n|---|---|---|---|---|---|---|---|")
    for cin, cout, k in CROSSOVER:
        case = Case("", "layer", (64, cin, 28, 28), (cout, cin, k, k), padding=k // 2)
        rng = cp.random.default_rng(0)
        x = rng.standard_normal(case.x, dtype=cp.float32)
        w = rng.standard_normal(case.w, dtype=cp.float32)
        seconds, results = {}, {}
        for how in ("direct", "im2col"):
            plugin.algorithm = lambda *_, how=how: how  # noqa: E731 - force one algorithm
            try:
                call = lambda: convreg.conv2d(x, w, padding=case.padding, backend="cupy")  # noqa: E731
                results[how] = call()
                seconds[how] = timed(call, sync, repeats, min_time)
            finally:
                plugin.algorithm = rule
        err = float(cp.abs(results["direct"] - results["im2col"]).max()
                    / max(float(cp.abs(results["im2col"]).max()), 1e-30))
        picked = rule(case.x, case.w, (1, 1), (1, 1), 4)
        print(f"| {cin} | {cout} | {k} | {case.flops() / seconds['direct'] / 1e12:.2f} | "
              f"{case.flops() / seconds['im2col'] / 1e12:.2f} | "
              f"{seconds['im2col'] / seconds['direct']:.2f} | {picked} | {err:.1e} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--min-time", type=float, default=0.1)
    parser.add_argument("--crossover", action="store_true",
                        help="time the cupy backend's direct kernel against im2col instead")
    args = parser.parse_args()
    why = missing()
    if why is not None:
        print(f"benchmarks/gpu.py needs CuPy and a CUDA device: {why}", file=sys.stderr)
        return 2
    import cupy as cp

    torch = _torch()
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    print(f"{name}, CuPy {cp.__version__}, "
          f"{'torch ' + torch.__version__ + ' (TF32 off)' if torch else 'no PyTorch CUDA'}, "
          f"float32, median of {args.repeats} runs of >= {args.min_time}s; TFLOP/s; x best = "
          "best peer's time / convreg's (>1: convreg is faster); err = max |convreg - "
          "first peer| / max |first peer|\n")
    if args.crossover:
        crossover(cp, args.repeats, args.min_time)
        return 0
    print("| case | op | TFLOP/s by library | x best | err |\n|---|---|---|---|---|")
    for case in IMAGES:
        print(row(case.name, "corr2d", case.flops(), image_calls(case, cp, torch), cp,
                  args.repeats, args.min_time), flush=True)
    for case in LAYERS:
        for op in ("forward", "grad_input", "grad_weight"):
            print(row(case.name, op, case.flops(), layer_calls(case, op, cp, torch), cp,
                      args.repeats, args.min_time), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

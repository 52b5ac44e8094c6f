"""Which algorithm of the cython backend is fastest for which layer shape.

Times each layer op under every algorithm the cython backend has (forcing
``convreg.plugins.cython.algorithm``): the plain direct loops, the direct
loops vectorized over blocks of output channels ("blocked"), implicit GEMM
and im2col + GEMM, over shapes that vary the channels, the kernel, the
stride, the groups and the image size. Prints a Markdown table of
microseconds per call (median of 5 runs), ``*`` marking the algorithm
``algorithm`` picks. The rules in ``algorithm`` come from this table;
rerun it on new hardware.

    python benchmarks/crossover.py
"""

from __future__ import annotations

import numpy as np

import convreg
from convreg.bench import measure
from convreg.plugins import cython

SHAPES = [  # N, C, O, k, stride, padding, groups, H=W
    (16, 1, 1, 3, 1, 0, 1, 28), (16, 4, 1, 3, 1, 0, 1, 28), (16, 1, 4, 3, 1, 0, 1, 28),
    (16, 1, 8, 3, 1, 0, 1, 28), (64, 1, 6, 5, 1, 2, 1, 28), (16, 3, 8, 3, 1, 0, 1, 28),
    (16, 16, 16, 3, 1, 0, 1, 28), (16, 32, 32, 3, 1, 1, 32, 28), (64, 6, 16, 5, 1, 0, 1, 14),
    (16, 64, 64, 3, 1, 1, 4, 28), (8, 64, 64, 3, 1, 1, 1, 56), (8, 256, 256, 3, 1, 1, 1, 14),
    (8, 128, 128, 3, 1, 1, 1, 28), (8, 512, 512, 3, 1, 1, 1, 7), (8, 256, 64, 1, 1, 0, 1, 28),
    (8, 64, 128, 3, 2, 1, 1, 56), (8, 3, 64, 7, 2, 3, 1, 112), (1, 1, 1, 2, 1, 0, 1, 8),
]
OPS = ("conv2d", "conv2d_grad_input", "conv2d_grad_weight")
ALGORITHMS = ("direct", "blocked", "implicit", "im2col")


def applies(how: str, op: str, stride: int, k: int) -> bool:
    """Whether the backend implements ``how`` for ``op`` at this stride and kernel."""
    if how == "implicit":
        return stride == 1
    return True


def main() -> None:
    rng = np.random.default_rng(0)
    chosen = cython.algorithm
    print(f"threads: {convreg.get_num_threads()}, float32, microseconds per call "
          f"({' / '.join(ALGORITHMS)}; - not applicable; * marks the backend's choice)\n")
    print("| N, C, O, k, stride, pad, groups, HW | " + " | ".join(OPS) + " |")
    print("|---|" + "---|" * len(OPS))
    for N, C, O, k, S, P, G, HW in SHAPES:
        x = rng.standard_normal((N, C, HW, HW)).astype(np.float32)
        w = rng.standard_normal((O, C // G, k, k)).astype(np.float32)
        kw = dict(stride=S, padding=P, groups=G, backend="cython")
        y = convreg.conv2d(x, w, **kw)
        g = np.ones_like(y)
        calls = {
            "conv2d": lambda: convreg.conv2d(x, w, **kw),
            "conv2d_grad_input": lambda: convreg.conv2d_grad_input(g, w, x.shape, **kw),
            "conv2d_grad_weight": lambda: convreg.conv2d_grad_weight(x, g, w.shape, **kw),
        }
        cells = []
        for op in OPS:
            pick = chosen(op, x.shape, w.shape, y.shape[2:], (S, S), (P,) * 4, G)
            times = []
            for how in ALGORITHMS:
                if not applies(how, op, S, k):
                    times.append("-")
                    continue
                cython.algorithm = lambda *args, how=how: how
                try:
                    t = measure(calls[op], repeats=5, min_time=0.02) * 1e6
                finally:
                    cython.algorithm = chosen
                times.append(f"{t:.0f}{'*' if how == pick else ''}")
            cells.append(" / ".join(times))
        print(f"| {N}, {C}, {O}, {k}, {S}, {P}, {G}, {HW} | " + " | ".join(cells) + " |",
              flush=True)


if __name__ == "__main__":
    main()

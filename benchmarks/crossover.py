"""Where im2col + GEMM overtakes the cython backend's direct loops.

Times each layer op on both algorithms of the cython backend (forcing
``convreg.plugins.cython.use_gemm``) over shapes that vary the output
channels per group, the reduction length and the kernel, and prints a
Markdown table of microseconds per call (median of 5 runs). The thresholds
in ``use_gemm`` come from this table; rerun it on new hardware.

    python benchmarks/crossover.py
"""

from __future__ import annotations

import numpy as np

import convreg
from convreg.bench import measure
from convreg.plugins import cython

SHAPES = [  # N, C, O, k, groups, H=W
    (16, 1, 1, 3, 1, 28), (16, 4, 1, 3, 1, 28), (16, 1, 2, 3, 1, 28), (16, 1, 4, 3, 1, 28),
    (16, 1, 8, 3, 1, 28), (16, 8, 8, 1, 1, 28), (16, 3, 8, 3, 1, 28), (16, 16, 16, 3, 1, 28),
    (16, 32, 32, 3, 32, 28), (1, 1, 1, 2, 1, 8), (64, 6, 16, 5, 1, 14),
]
OPS = ("conv2d", "conv2d_grad_input", "conv2d_grad_weight")


def main() -> None:
    rng = np.random.default_rng(0)
    chosen = cython.use_gemm
    print(f"threads: {convreg.get_num_threads()}, float32, microseconds per call "
          "(direct / GEMM; * marks use_gemm's choice)\n")
    print("| N, C, O, k, groups, HW | " + " | ".join(OPS) + " |")
    print("|---|" + "---|" * len(OPS))
    for N, C, O, k, G, HW in SHAPES:
        x = rng.standard_normal((N, C, HW, HW)).astype(np.float32)
        w = rng.standard_normal((O, C // G, k, k)).astype(np.float32)
        y = convreg.conv2d(x, w, groups=G, backend="cython")
        g = np.ones_like(y)
        calls = {
            "conv2d": lambda: convreg.conv2d(x, w, groups=G, backend="cython"),
            "conv2d_grad_input": lambda: convreg.conv2d_grad_input(g, w, x.shape, groups=G,
                                                                   backend="cython"),
            "conv2d_grad_weight": lambda: convreg.conv2d_grad_weight(x, g, w.shape, groups=G,
                                                                     backend="cython"),
        }
        cells = []
        for op in OPS:
            times = {}
            for gemm in (False, True):
                cython.use_gemm = lambda *args, gemm=gemm: gemm
                try:
                    times[gemm] = measure(calls[op], repeats=5, min_time=0.02) * 1e6
                finally:
                    cython.use_gemm = chosen
            pick = chosen(op, O // G, N, y.shape[2:])
            cells.append(" / ".join(f"{times[m]:.0f}{'*' if m == pick else ''}"
                                    for m in (False, True)))
        print(f"| {N}, {C}, {O}, {k}, {G}, {HW} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""How single-image correlation uses the machine: % of peak and thread scaling.

For each kernel size, times ``convreg.corr2d`` on a 1024^2 float32 image
with each register tile of the cython backend (``corr2d_tiles``) at 1 and
at 2 threads, and the machine's peak (NumPy's sgemm on 2048^2 matrices, as
the bench measures it) at each thread count, in alternating rounds so that
a shared machine's drift falls on every figure alike. Prints the median
GFLOP/s of each, the best tile's share of the peak and its 2-thread/1-thread
ratio: the issue's third goal (60% of peak with 15x15, 1.8x on 2 threads).

    python benchmarks/scaling.py [--rounds 7] [--kernels 3,5,15]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import threadpoolctl

import convreg
from convreg.bench import measure, peak_gflops
from convreg.planner import cpu_model
from convreg.plugins import cython

#: Long enough for OpenBLAS's spinning threads to sleep (its THREAD_TIMEOUT,
#: 2^28 cycles by default, ~0.1 s at 2.8 GHz). Timed first after the sgemm,
#: the first tile ran 2x slower on 2 threads than later in the round.
BLAS_SPIN_SECONDS = 0.3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--kernels", default="3,5,15")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1024, 1024)).astype(np.float32)
    tiles = cython.corr2d_tiles()
    print(f"{cpu_model()}, {cython.isa_name()} kernels, median of {args.rounds} alternating "
          f"rounds, GFLOP/s")
    print("\n| kernel | tile | 1 thread | 2 threads | 2/1 | % peak 1 | % peak 2 |")
    print("|---|---|---|---|---|---|---|")
    for k in (int(v) for v in args.kernels.split(",")):
        w = rng.standard_normal((k, k)).astype(np.float32)
        flops = 2.0 * (1024 - k + 1) ** 2 * k * k
        rates: dict[tuple[str, int], list[float]] = {}
        for _ in range(args.rounds):
            for threads in (1, 2):
                convreg.set_num_threads(threads)
                with threadpoolctl.threadpool_limits(threads):
                    for tile in tiles:
                        with convreg.planner.force(tile):
                            seconds = measure(lambda: convreg.corr2d(x, w, backend="cython"),
                                              repeats=1, min_time=0.05)
                        rates.setdefault((tile, threads), []).append(flops / seconds / 1e9)
                    rates.setdefault(("peak", threads), []).append(peak_gflops(repeats=1))
                # OpenBLAS's threads spin for a while after a GEMM, taking the cores
                # from the next kernel's OpenMP team: let them go to sleep first.
                time.sleep(BLAS_SPIN_SECONDS)
        convreg.set_num_threads(None)
        med = {key: statistics.median(v) for key, v in rates.items()}
        best = max(tiles, key=lambda t: med[(t, 2)])
        for tile in tiles:
            one, two = med[(tile, 1)], med[(tile, 2)]
            mark = " (best)" if tile == best else ""
            print(f"| {k}x{k} | {tile}{mark} | {one:.1f} | {two:.1f} | {two / one:.2f} | "
                  f"{100 * one / med[('peak', 1)]:.0f}% | {100 * two / med[('peak', 2)]:.0f}% |")
    print(f"\npeak (sgemm 2048^2), medians over the last kernel's rounds: "
          f"{med[('peak', 1)]:.0f} GFLOP/s on 1 thread, {med[('peak', 2)]:.0f} on 2")


if __name__ == "__main__":
    main()

"""Where the FFT backend overtakes convreg's direct Cython kernel: the kernel-size crossover.

    python examples/convreg-fft/benchmark.py

Times ``corr2d`` on a 512x512 float32 image for square kernels of growing
size on the ``fft`` and ``cython`` backends (median of 5 runs) and prints the
ratio; above 1 the FFT is faster.
"""

import numpy as np

import convreg
from convreg.bench import measure


def main() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((512, 512)).astype(np.float32)
    print(f"threads: {convreg.get_num_threads()}; corr2d of a 512x512 float32 image, valid mode")
    print("| kernel | cython ms | fft ms | cython / fft |")
    print("|---|---|---|---|")
    for k in (3, 5, 9, 15, 21, 31, 45, 63):
        K = rng.standard_normal((k, k)).astype(np.float32)
        t = {b: measure(lambda b=b: convreg.corr2d(X, K, backend=b), repeats=5, min_time=0.05)
             for b in ("cython", "fft")}
        print(f"| {k}x{k} | {t['cython'] * 1e3:.2f} | {t['fft'] * 1e3:.2f} | "
              f"{t['cython'] / t['fft']:.2f} |")


if __name__ == "__main__":
    main()

"""Throughput of convreg on dask against the number of worker processes.

    python benchmarks/dask_workers.py [--size 8192] [--kernel 5] [--workers 1,2]

For each worker count, a ``dask.distributed`` ``LocalCluster`` of that many
single-threaded worker processes (loopback only) filters a ``size`` x
``size`` float32 image, chunked 1024 x 1024, with a ``kernel`` x ``kernel``
``corr2d`` ("same" mode); the image is generated on the workers, the result
reduced to a checksum, so the figure is compute and halo exchange, not
transfer to the client. Reports the median of 3 runs in megapixels per
second and the speed-up over one worker.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main() -> None:
    import dask.array as da
    from distributed import Client, LocalCluster

    import convreg

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--kernel", type=int, default=5)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    K = np.ones((args.kernel, args.kernel), np.float32) / args.kernel ** 2
    print(f"corr2d {args.size}^2 float32 * {args.kernel}x{args.kernel}, chunks 1024^2, "
          "median of 3 runs")
    print("| workers | seconds | Mpixel/s | speed-up |\n|---|---|---|---|")
    base = None
    for n in (int(w) for w in args.workers.split(",")):
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None) as cluster, \
                Client(cluster) as client:
            X = da.random.default_rng(0).random((args.size, args.size), dtype=np.float32,
                                                 chunks=1024)
            job = convreg.corr2d(X, K, mode="same").sum()
            job.compute()  # warm the workers (imports, compiled kernels)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                job.compute()
                times.append(time.perf_counter() - start)
            client.close()
        t = statistics.median(times)
        base = base or t
        print(f"| {n} | {t:.2f} | {args.size ** 2 / t / 1e6:.0f} | {base / t:.2f} |")


if __name__ == "__main__":
    main()

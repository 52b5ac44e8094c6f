"""A layer's whole training step (forward, input and weight gradients) against its three ops.

    python benchmarks/training_step.py [--repeats 9] [--threads N]
    python benchmarks/training_step.py --network 20 [--threads N]

``python -m convreg bench`` times each op alone, over and over. A training
step runs the three back to back, and there a backend that switches thread
pools between ops (an OpenMP team, then OpenBLAS's threads) pays for the
spinning threads of one pool stealing the cores of the other: before the
cython backend kept whole layers on its OpenMP kernels, a step of the
strided layer cost 1.6-2x the sum of its ops. This script reports, for the
benchmark's layers, the median over ``repeats`` interleaved rounds of the
step, the sum of its ops timed alone, their ratio (1.0: no switching cost)
and PyTorch's step (``conv2d`` + ``backward``) when PyTorch is installed,
at the thread count ``convreg.get_num_threads()`` gives (PyTorch set to the
same).

``--network R`` instead runs the six layers' steps one after another, ``R``
times, and prints nothing but the total: a workload to time as a whole
process, where every op follows another layer's op, as in a network's
training step.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import convreg
from convreg.bench import CASES, measure


def _steps(case, x, w, g) -> dict[str, Callable[[], Any]]:
    kw = dict(stride=case.stride, padding=case.padding)
    ops = {
        "forward": lambda: convreg.conv2d(x, w, **kw),
        "grad_input": lambda: convreg.conv2d_grad_input(g, w, x.shape, **kw),
        "grad_weight": lambda: convreg.conv2d_grad_weight(x, g, w.shape, **kw),
    }

    def step() -> None:
        for op in ops.values():
            op()

    return {**ops, "step": step}


def _torch_step(case, x, w, g) -> Callable[[], Any] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(convreg.get_num_threads())
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    gt = torch.from_numpy(g)

    def step() -> None:
        torch.nn.functional.conv2d(xt, wt, stride=case.stride, padding=case.padding).backward(gt)

    return step


def _network(rng: np.random.Generator, rounds: int) -> None:
    steps = []
    for case in (c for c in CASES if c.kind == "layer" and c.group != "chapter"):
        x = rng.standard_normal(case.x).astype(np.float32)
        w = rng.standard_normal(case.w).astype(np.float32)
        g = np.ones_like(convreg.conv2d(x, w, stride=case.stride, padding=case.padding))
        steps.append(_steps(case, x, w, g)["step"])
    start = time.perf_counter()
    for _ in range(rounds):
        for step in steps:
            step()
    print(f"{rounds} rounds of {len(steps)} layers' steps on {convreg.get_num_threads()} "
          f"threads: {time.perf_counter() - start:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, help="convreg's thread count (default: its own)")
    parser.add_argument("--network", type=int, metavar="R",
                        help="run all the layers' steps in a row R times and print the seconds")
    args = parser.parse_args()
    if args.threads:
        convreg.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    if args.network:
        _network(rng, args.network)
        return
    print(f"threads: {convreg.get_num_threads()}, float32, milliseconds, median of "
          f"{args.repeats} interleaved rounds\n")
    print("| layer | step | sum of its ops alone | step / sum | torch step |")
    print("|---|---|---|---|---|")
    for case in (c for c in CASES if c.kind == "layer"):
        x = rng.standard_normal(case.x).astype(np.float32)
        w = rng.standard_normal(case.w).astype(np.float32)
        g = np.ones_like(convreg.conv2d(x, w, stride=case.stride, padding=case.padding))
        calls = _steps(case, x, w, g)
        torch_step = _torch_step(case, x, w, g)
        if torch_step is not None:
            calls["torch"] = torch_step
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.repeats):
            for name, call in calls.items():
                times[name].append(measure(call, repeats=1, min_time=0.05) * 1e3)
        med = {name: statistics.median(t) for name, t in times.items()}
        parts = med["forward"] + med["grad_input"] + med["grad_weight"]
        torch_cell = f"{med['torch']:.2f}" if "torch" in med else "-"
        print(f"| {case.name} | {med['step']:.2f} | {parts:.2f} | {med['step'] / parts:.2f} | "
              f"{torch_cell} |", flush=True)


if __name__ == "__main__":
    main()

"""``python -m convreg bench``: convreg's backends beside the libraries users would pick instead.

Every case is timed for each available backend and for each peer that is
installed (``scipy.signal.correlate2d``, ``scipy.ndimage.correlate``,
PyTorch's CPU ``conv2d`` and ``torch.nn.grad``), in the same process, at each
requested thread count, in float32. A timing is the median of ``repeats``
runs, each run long enough (``min_time``) to be measured reliably; the runs
of one row's implementations alternate (:func:`measure_together`), so that
a machine whose speed drifts between seconds (a shared virtual machine)
shifts all of them alike and their ratios hold. The figure reported is
GFLOP/s (2 flops per multiply-add of the direct definition, whatever the
algorithm) and the ratio of convreg's best backend to each peer. The header
names the CPU, the instruction set the compiled kernels run and the
machine's measured peak at each thread count (NumPy's float32 GEMM on
2048x2048 matrices, the best the BLAS reaches); "% peak" is convreg's best
backend against it. Timings are never asserted anywhere:
they are only reported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

import convreg
from convreg.planner import cpu_model

__all__ = ["Case", "CASES", "measure", "measure_together", "run", "main"]


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark shape: ``kind`` "image" (corr2d) or "layer" (conv2d and gradients)."""

    name: str
    kind: str
    x: tuple[int, ...]
    w: tuple[int, ...]
    stride: int = 1
    padding: int = 0
    group: str = ""

    def flops(self) -> float:
        if self.kind == "image":
            (H, W), (kh, kw) = self.x, self.w
            return 2.0 * (H - kh + 1) * (W - kw + 1) * kh * kw
        N, C, H, W = self.x
        O, Cg, kh, kw = self.w
        oh, ow = convreg.output_shape((H, W), (kh, kw), self.stride, self.padding)
        return 2.0 * N * O * oh * ow * Cg * kh * kw


CASES = [
    Case("chapter 6x8 * 1x2", "image", (6, 8), (1, 2), group="chapter"),
    Case("chapter 1x1x6x8 -> 1 k1x2", "layer", (1, 1, 6, 8), (1, 1, 1, 2), group="chapter"),
    Case("1024^2 * 3x3", "image", (1024, 1024), (3, 3), group="image"),
    Case("1024^2 * 5x5", "image", (1024, 1024), (5, 5), group="image"),
    Case("1024^2 * 15x15", "image", (1024, 1024), (15, 15), group="image"),
    Case("LeNet 64x1x28^2 -> 6 k5 p2", "layer", (64, 1, 28, 28), (6, 1, 5, 5), padding=2,
         group="lenet"),
    Case("LeNet 64x6x14^2 -> 16 k5", "layer", (64, 6, 14, 14), (16, 6, 5, 5), group="lenet"),
    Case("VGG 8x64x56^2 -> 64 k3 p1", "layer", (8, 64, 56, 56), (64, 64, 3, 3), padding=1,
         group="vgg"),
    Case("VGG 8x256x14^2 -> 256 k3 p1", "layer", (8, 256, 14, 14), (256, 256, 3, 3), padding=1,
         group="vgg"),
    Case("1x1 8x256x28^2 -> 64", "layer", (8, 256, 28, 28), (64, 256, 1, 1), group="1x1"),
    Case("strided 8x64x56^2 -> 128 k3 s2 p1", "layer", (8, 64, 56, 56), (128, 64, 3, 3),
         stride=2, padding=1, group="strided"),
]


def measure(fn: Callable[[], Any], *, repeats: int = 5, min_time: float = 0.05) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` runs of enough calls each."""
    return measure_together({"fn": fn}, repeats=repeats, min_time=min_time)["fn"]


def measure_together(fns: Mapping[str, Callable[[], Any]], *, repeats: int = 5,
                     min_time: float = 0.05) -> dict[str, float]:
    """Median seconds per call of each of ``fns``, their runs alternating.

    Each function is warmed up and given enough calls per run to last
    ``min_time``; then ``repeats`` rounds run each function once, the order
    rotating by one every round, so that no function always follows the same
    one. On a machine whose speed drifts (the same call 3x slower for seconds
    on a shared VM, RESULTS.md run 14), back-to-back medians of one function
    and then the next compare two different machines; alternating runs
    compare them on the same one.

    >>> t = measure_together({"sum": lambda: sum(range(100)), "max": lambda: max(range(100))},
    ...                      repeats=3, min_time=0.001)
    >>> sorted(t) == ["max", "sum"] and all(s > 0 for s in t.values())
    True
    """
    calls: dict[str, int] = {}
    for name, fn in fns.items():
        fn()  # warm up (allocations, caches, lazy imports, dispatch resolution)
        start = time.perf_counter()
        fn()
        once = max(time.perf_counter() - start, 1e-7)
        calls[name] = max(1, math.ceil(min_time / once))
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for turn in range(repeats):
        for name in names[turn % len(names):] + names[:turn % len(names)]:
            fn, n = fns[name], calls[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(samples[name]) for name in names}


def _peers_image(X: np.ndarray, K: np.ndarray) -> dict[str, Callable[[], Any]]:
    peers: dict[str, Callable[[], Any]] = {}
    try:
        from scipy import ndimage, signal
    except ImportError:
        pass
    else:
        peers["scipy.signal"] = lambda: signal.correlate2d(X, K, mode="valid")
        peers["scipy.ndimage"] = lambda: ndimage.correlate(X, K)
    torch = _torch()
    if torch is not None:
        tx, tk = torch.from_numpy(X)[None, None], torch.from_numpy(K)[None, None]
        peers["torch"] = lambda: torch.nn.functional.conv2d(tx, tk)
    return peers


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def _peers_layer(case: Case, x: np.ndarray, w: np.ndarray,
                 g: np.ndarray) -> dict[str, dict[str, Callable[[], Any]]]:
    torch = _torch()
    if torch is None:
        return {}
    tx, tw, tg = (torch.from_numpy(a) for a in (x, w, g))
    kw: dict[str, Any] = dict(stride=case.stride, padding=case.padding)
    return {
        "torch": {
            "forward": lambda: torch.nn.functional.conv2d(tx, tw, **kw),
            "grad_input": lambda: torch.nn.grad.conv2d_input(x.shape, tw, tg, **kw),
            "grad_weight": lambda: torch.nn.grad.conv2d_weight(tx, w.shape, tg, **kw),
        }
    }


def _ours_layer(case: Case, x: np.ndarray, w: np.ndarray, g: np.ndarray,
                backend: str) -> dict[str, Callable[[], Any]]:
    kw: dict[str, Any] = dict(stride=case.stride, padding=case.padding, backend=backend)
    return {
        "forward": lambda: convreg.conv2d(x, w, **kw),
        "grad_input": lambda: convreg.conv2d_grad_input(g, w, x.shape, **kw),
        "grad_weight": lambda: convreg.conv2d_grad_weight(x, g, w.shape, **kw),
    }


def _backends_for(case: Case, only: Sequence[str] | None = None) -> list[str]:
    # The reference backend is the oracle, pure Python: timed on the chapter's case only.
    names = [b.name for b in convreg.backends() if b.available and (not only or b.name in only)]
    return [n for n in names if n != "reference" or case.group == "chapter"]


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """convreg, PyTorch and the BLAS pools at ``n`` threads for the block; PyTorch's
    count restored after it. (Left at ``n``, PyTorch set OpenMP's default to it at
    its next op, which convreg's default thread count then followed.)"""
    import threadpoolctl

    torch = _torch()
    torch_threads = torch.get_num_threads() if torch is not None else 0
    convreg.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)
    try:
        with threadpoolctl.threadpool_limits(n):
            yield
    finally:
        convreg.set_num_threads(None)
        if torch is not None:
            torch.set_num_threads(torch_threads)


def _tasks(cases: Sequence[Case], only: Sequence[str] | None = None,
           ) -> list[tuple[Case, str, str, Callable[[], Any]]]:
    """Everything to time: (case, op, implementation name, thunk)."""
    rng = np.random.default_rng(0)
    tasks: list[tuple[Case, str, str, Callable[[], Any]]] = []
    for case in cases:
        x = rng.standard_normal(case.x).astype(np.float32)
        w = rng.standard_normal(case.w).astype(np.float32)
        if case.kind == "image":
            impls: dict[str, Callable[[], Any]] = {
                f"convreg:{b}": functools.partial(convreg.corr2d, x, w, backend=b)
                for b in _backends_for(case, only)}
            impls.update(_peers_image(x, w))
            tasks += [(case, "corr2d", name, fn) for name, fn in impls.items()]
            continue
        y_shape = convreg.conv2d(x[:1], w, stride=case.stride, padding=case.padding).shape
        g = rng.standard_normal((case.x[0],) + y_shape[1:]).astype(np.float32)
        for b in _backends_for(case, only):
            for op, fn in _ours_layer(case, x, w, g, b).items():
                tasks.append((case, op, f"convreg:{b}", fn))
        for peer, ops in _peers_layer(case, x, w, g).items():
            for op, fn in ops.items():
                tasks.append((case, op, peer, fn))
    return tasks


def _by_row(tasks: Sequence[tuple[Case, str, str, Callable[[], Any]]],
            ) -> dict[tuple[Case, str], dict[str, Callable[[], Any]]]:
    """The tasks of each (case, op), in order: the implementations one row compares."""
    rows: dict[tuple[Case, str], dict[str, Callable[[], Any]]] = {}
    for case, op, name, fn in tasks:
        rows.setdefault((case, op), {})[name] = fn
    return rows


@dataclasses.dataclass
class Row:
    case: Case
    op: str
    threads: int
    seconds: dict[str, float]
    peak: float = float("nan")  # the machine's measured GFLOP/s at this thread count
    plan: str = ""  # the cython backend's algorithm for this op, as its planner chose it

    def gflops(self, name: str) -> float:
        return self.case.flops() / self.seconds[name] / 1e9

    def best_ours(self) -> str:
        ours = [n for n in self.seconds if n.startswith("convreg:")]
        return min(ours, key=self.seconds.__getitem__)

    def peers(self) -> list[str]:
        return [n for n in self.seconds if not n.startswith("convreg:")]


def peak_gflops(repeats: int = 5) -> float:
    """The machine's float32 peak as NumPy's BLAS reaches it at the current thread limit:
    GFLOP/s of a 2048x2048 GEMM (the largest share of the FMA units a library gets)."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2048, 2048)).astype(np.float32)
    b = rng.standard_normal((2048, 2048)).astype(np.float32)
    out = np.empty_like(a)
    return 2.0 * 2048**3 / measure(lambda: np.matmul(a, b, out=out), repeats=repeats) / 1e9


def run(cases: Sequence[Case], threads: Iterable[int], *, repeats: int = 5,
        min_time: float = 0.05, progress: bool = True,
        backends: Sequence[str] | None = None) -> list[Row]:
    """Time every task at every thread count; returns one row per (case, op, threads).

    ``backends`` limits convreg's side to those backends (default: every
    available one); the peers are always timed.
    """
    from tqdm.auto import tqdm

    tasks = _tasks(cases, backends)
    threads = list(threads)
    by_row = _by_row(tasks)
    rows: dict[tuple[str, str, int], Row] = {}
    # The bar goes to a terminal only (disable=None): a redirected log gets results alone.
    with tqdm(total=len(tasks) * len(threads), desc="convreg bench", unit="timing",
              disable=None if progress else True, leave=False) as bar:
        for n in threads:
            with _threads(n):
                bar.set_postfix_str(f"{n} thr, peak (sgemm)")
                peak = peak_gflops(repeats)
                for (case, op), impls in by_row.items():
                    bar.set_postfix_str(f"{n} thr, {case.name}, {op}"[:60])
                    row = rows.setdefault((case.name, op, n), Row(case, op, n, {}, peak))
                    row.seconds.update(measure_together(impls, repeats=repeats,
                                                        min_time=min_time))
                    if "convreg:cython" in impls:
                        row.plan = _plan(case, op, n)
                    bar.update(len(impls))
    return list(rows.values())


_LAYER_OPS = {"forward": "conv2d", "grad_input": "conv2d_grad_input",
              "grad_weight": "conv2d_grad_weight"}


def _plan(case: Case, op: str, threads: int) -> str:
    """The algorithm the cython backend's planner ran for this timing, and how it chose."""
    from convreg.plugins import cython

    plan = cython.plan_of(_LAYER_OPS.get(op, op), case.x, case.w, threads)
    return "direct (tiny)" if plan is None else f"{plan.algorithm} ({plan.how})"


def _geomean(values: Sequence[float]) -> float:
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def table(rows: Sequence[Row]) -> str:
    """A Markdown table: GFLOP/s per implementation and convreg's ratio to each peer."""
    names = sorted({n for r in rows for n in r.seconds}, key=lambda n: (not n.startswith("convreg"), n))
    peers = [n for n in names if not n.startswith("convreg:")]
    plans = any(r.plan for r in rows)
    head = (["case", "op", "thr"] + [f"{n} GFLOP/s" for n in names] + ["% peak"]
            + [f"x {p}" for p in peers] + (["cython plan"] if plans else []))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.case.name, r.op, str(r.threads)]
        for n in names:
            if n not in r.seconds:
                cells.append("")
            elif r.case.group == "chapter":
                cells.append(f"{r.seconds[n] * 1e6:.1f} us")
            else:
                cells.append(f"{r.gflops(n):.2f}")
        best = r.best_ours()
        cells.append("" if r.case.group == "chapter" else f"{100 * r.gflops(best) / r.peak:.0f}%")
        for p in peers:
            cells.append(f"{r.seconds[p] / r.seconds[best]:.2f}" if p in r.seconds else "")
        if plans:
            cells.append(r.plan)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(rows: Sequence[Row]) -> str:
    """Geometric-mean ratio (convreg's best / best peer) per case group and thread count."""
    out = []
    groups = sorted({(r.case.group, r.threads) for r in rows})
    for group, n in groups:
        ratios = []
        for r in rows:
            if (r.case.group, r.threads) == (group, n) and r.peers():
                best_peer = min(r.seconds[p] for p in r.peers())
                ratios.append(best_peer / r.seconds[r.best_ours()])
        if ratios:
            out.append(f"- {group}, {n} thread(s): convreg is {_geomean(ratios):.2f}x the best "
                       f"peer (geometric mean over {len(ratios)} timings; >1 is faster)")
    return "\n".join(out)


def environment(rows: Sequence[Row] = ()) -> str:
    """What the figures were measured on: CPU, ISA variant, measured peaks, versions."""
    import threadpoolctl

    from . import _blas
    from .plugins import cython

    peaks = sorted({(r.threads, r.peak) for r in rows})
    parts = [f"{cpu_model()} ({platform.machine()}, {os.cpu_count()} CPUs)",
             f"kernels: {cython.isa_name()}"]
    if peaks:
        parts.append("measured peak (sgemm 2048^2) "
                     + ", ".join(f"{p:.0f} GFLOP/s on {n} thread{'s' if n != 1 else ''}"
                                 for n, p in peaks))
    parts += [f"Python {platform.python_version()}", f"NumPy {np.__version__}",
              f"convreg {convreg.__version__}", f"planner {convreg.get_planner()}"]
    for mod in ("scipy", "torch"):
        try:
            parts.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            parts.append(f"{mod} not installed")
    blas = [f"{p['internal_api']} {p.get('version')} ({p.get('architecture')})"
            for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    parts.append("BLAS " + ", ".join(blas))
    parts.append(f"the kernels' GEMMs on {_blas.describe()}")
    return ", ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="convreg bench", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n")[1].replace("``", ""),  # plain text, not RST
        epilog="examples:\n  python -m convreg bench\n"
               "  python -m convreg bench --group lenet,vgg --threads 2 --quiet > bench.txt")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--group", action="append",
                        help="only these case groups, comma-separated or repeated: "
                             + ", ".join(sorted({c.group for c in CASES})))
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--repeats", type=int, default=5, help="runs per timing; the median is kept")
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds per run at least")
    parser.add_argument("--backend", action="append",
                        help="time only these convreg backends (default: every available one; "
                             "a slow plugin such as the example fft one can take minutes)")
    args = parser.parse_args(argv)
    groups = {g.strip() for arg in args.group or () for g in arg.split(",") if g.strip()}
    known = {c.group for c in CASES}
    if groups - known:
        parser.error(f"no case group named {', '.join(sorted(groups - known))}; groups: "
                     f"{', '.join(sorted(known))}")
    cases = [c for c in CASES if not groups or c.group in groups]
    if args.backend:
        usable = {b.name for b in convreg.backends() if b.available}
        unknown = sorted(set(args.backend) - usable)
        if unknown:
            parser.error(f"no available backend named {', '.join(unknown)}; available: "
                         f"{', '.join(sorted(usable))} (python -m convreg info says why others "
                         "are not)")
    threads = [int(t) for t in args.threads.split(",")]
    rows = run(cases, threads, repeats=args.repeats, min_time=args.min_time,
               backends=args.backend, progress=not args.quiet)
    print(f"{environment(rows)}\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, float32, "
          f"median of {args.repeats} runs of >= {args.min_time}s, a row's implementations "
          f"alternating; x PEER = PEER's time / "
          "convreg's best backend's time (>1: convreg is faster); the chapter's case in "
          "microseconds per call\n")
    print(table(rows))
    print()
    print(summary(rows))
    return 0

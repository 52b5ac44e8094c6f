"""The command line: ``python -m convreg info | demo | check | plan | bench``."""

from __future__ import annotations

import argparse
import math
import platform
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]


def _info() -> int:
    import numpy as np
    import pluggy

    import convreg

    from .threads import openmp_enabled

    print(f"convreg {convreg.__version__}   Python {platform.python_version()}   "
          f"NumPy {np.__version__}   pluggy {pluggy.__version__}")
    print(f"OpenMP: {'on' if openmp_enabled() else 'off'}   "
          f"threads per call: {convreg.get_num_threads()}")
    print()
    rows = [("backend", "state", "version", "priority", "source", "ops")]
    for b in convreg.backends():
        state = "available" if b.available else "unavailable"
        rows.append((b.name, state, b.version or "-", f"{b.priority:g}", b.source,
                     ", ".join(b.ops) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[5])
    print()
    for b in convreg.backends():
        print(f"{b.name}: {b.reason}")
    filtered = convreg.registry.filtered_plugins()
    if filtered:
        print("\nInstalled plugins not loaded (the environment switches):")
        for name, dist, why in filtered:
            print(f"  {name} ({dist}): {why}")
    try:
        default = convreg.get_backend("conv2d")
    except convreg.BackendError as exc:
        default = f"none ({exc})"
    print(f"\nconv2d on NumPy arrays would run on: {default}")
    return 0


def _check(backend: str, max_examples: int | None, ops: Sequence[str] | None, thorough: bool,
           seed: int | None, quiet: bool = False) -> int:
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        print("convreg check needs the conformance kit's dependencies: "
              "pip install 'convreg[conformance]'", file=sys.stderr)
        return 2
    from tqdm.auto import tqdm

    import convreg
    from convreg.testing import DEFAULT_EXAMPLES, THOROUGH_FACTOR, applicable, check

    examples = (max_examples or DEFAULT_EXAMPLES) * (THOROUGH_FACTOR if thorough else 1)
    try:
        total = len([p for p in applicable(backend) if not ops or p.op in ops])
        if not next(b for b in convreg.backends() if b.name == backend).available:
            check(backend, ops=ops)  # raises BackendError saying why
    except (convreg.BackendError, ValueError) as exc:
        print(f"convreg check: {exc}", file=sys.stderr)
        return 2
    how = "derandomised" if seed is None else f"random, seed {seed}"
    print(f"conformance of backend {backend!r}: {total} {_plural(total, 'property', 'properties')}, "
          f"{examples} examples each ({how})")
    # The bar goes to a terminal only (disable=None): a redirected log gets results alone.
    with tqdm(total=total, unit="property", leave=False, disable=True if quiet else None) as bar:
        def step(label: str) -> None:
            bar.set_postfix_str(label[:50])
            bar.update()

        try:
            results = check(backend, max_examples=examples, ops=ops, progress=step, seed=seed)
        except (convreg.BackendError, ValueError) as exc:
            print(f"convreg check: {exc}", file=sys.stderr)
            return 2
    width = max(len(r.op) for r in results)
    for r in results:
        if r.status == "pass":
            detail = f"({r.properties} {_plural(r.properties, 'property', 'properties')})"
        elif r.status == "fail":
            detail = f"({len(r.failures)} of {r.properties} failed)"
        else:
            detail = ""
        print(f"  {r.op.ljust(width)}  {r.status.upper() if r.status == 'fail' else r.status} "
              f"{detail}".rstrip())
    failures = [r for r in results if r.status == "fail"]
    for r in failures:
        for f in r.failures:
            print(f"\n{r.op} FAILED {f.property}:\n{f.counterexample}")
    for r in results:
        for note in r.not_judged:
            print(f"\n{r.op}: {note}")
    passed = sum(r.status == "pass" for r in results)
    print(f"\n{passed} passed, {len(failures)} failed, "
          f"{sum(r.status == 'not implemented' for r in results)} not implemented")
    return 1 if failures else 0


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None


def _plan(args: argparse.Namespace) -> int:
    """Time every admissible algorithm of the layer ops for one shape (measure mode)."""
    import numpy as np

    import convreg
    from convreg import planner
    from convreg.plugins import cython

    if not next(b for b in convreg.backends() if b.name == "cython").available:
        print("convreg plan: the cython backend is unavailable, and only it makes plans",
              file=sys.stderr)
        return 2
    image = len(args.input) == len(args.weight) == 2
    if not image and (len(args.input) != 4 or len(args.weight) != 4):
        print("convreg plan: --input is N,C,H,W and --weight O,C/groups,kh,kw (a layer), or "
              "--input H,W and --weight kh,kw (one image's corr2d)", file=sys.stderr)
        return 2
    dtype = np.dtype(args.dtype)
    geometry = dict(stride=args.stride, padding=args.padding, dilation=args.dilation,
                    groups=args.groups)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(args.input).astype(dtype)
    w = rng.standard_normal(args.weight).astype(dtype)
    if image:
        out_hw = (max(x.shape[0] - w.shape[0] + 1, 0), max(x.shape[1] - w.shape[1] + 1, 0))
        flops = 2 * out_hw[0] * out_hw[1] * w.size
        calls = {"corr2d": lambda: convreg.corr2d(x, w, backend="cython")}
        geometry = {"mode": "valid"}
    else:
        out_hw = convreg.output_shape(x.shape[2:], w.shape[2:], args.stride, args.padding,
                                      args.dilation)
        g = rng.standard_normal((x.shape[0], w.shape[0], *out_hw)).astype(dtype)
        flops = 2 * g.size * w[0].size  # of each op, by the definition
        calls = {
            "conv2d": lambda: convreg.conv2d(x, w, backend="cython", **geometry),
            "conv2d_grad_input": lambda: convreg.conv2d_grad_input(g, w, x.shape,
                                                                   backend="cython", **geometry),
            "conv2d_grad_weight": lambda: convreg.conv2d_grad_weight(x, g, w.shape,
                                                                     backend="cython", **geometry),
        }
    if args.threads is not None:
        convreg.set_num_threads(args.threads)
    threads = convreg.get_num_threads()
    print(f"input {tuple(x.shape)}, weight {tuple(w.shape)}, "
          + ", ".join(f"{k} {v}" for k, v in geometry.items())
          + f", {dtype}, {threads} {_plural(threads, 'thread', 'threads')}, "
          f"{cython.isa_name()} kernels")
    unknown = [op for op in args.op or () if op not in calls]
    if unknown:
        print(f"convreg plan: --op {unknown[0]} is not an op of these shapes "
              f"({', '.join(calls)})", file=sys.stderr)
        return 2
    saved = planner.get_planner()
    try:
        for op in args.op or calls:
            estimate = _plan_of(op, calls[op], "estimate")
            plan = _plan_of(op, calls[op], "measure")
            print(f"\n{op}:")
            for name, seconds in plan.times or ((plan.algorithm, float("nan")),):
                mark = "  <- fastest" if name == plan.algorithm else ""
                mark += "  (the rules' choice)" if name == estimate.algorithm else ""
                print(f"  {name:14s} {seconds * 1e3:9.3f} ms  {flops / seconds / 1e9:8.2f} GFLOP/s"
                      f"{mark}")
    except (ValueError, TypeError) as exc:
        print(f"convreg plan: {exc}", file=sys.stderr)
        return 2
    finally:
        planner.set_planner(saved)
        planner.clear()
    return 0


def _plan_of(op: str, call: Any, mode: str) -> Any:
    """The plan ``mode`` makes for ``op``'s one signature (measure: every size measured)."""
    from convreg import planner

    planner.set_planner(mode, min_work=0, time_limit=math.inf)
    planner.clear()
    call()
    (plan,) = [p for p in planner.plans().values() if p.op == op]
    return plan


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="convreg",
        description="2-D convolution with interchangeable backends.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    raw = argparse.RawDescriptionHelpFormatter
    sub.add_parser("info", help="list the backends, their state, and the build",
                   formatter_class=raw, description=(
                       "List every backend convreg found: whether it is available and why not, "
                       "its version, priority, source and ops;\nthe build (OpenMP, threads) and "
                       "the plugins the environment switches kept out."),
                   epilog="example:\n  python -m convreg info")
    demo = sub.add_parser("demo", help="the chapter on convolutional layers, end to end",
                          formatter_class=raw, description=(
                              "Run each section of the chapter (corr2d, edges, learning a kernel, "
                              "padding and stride,\nchannels, 1x1, pooling, VGG) on every "
                              "available backend, checking that they agree."),
                          epilog="examples:\n  python -m convreg demo\n"
                                 "  python -m convreg demo --backend cython")
    demo.add_argument("--backend", action="append",
                      help="run on this backend only (repeatable); default: every available one")
    chk = sub.add_parser("check", help="run the conformance suite on one backend",
                         formatter_class=raw, description=(
                             "Run convreg's property suite (the conformance kit) on one backend "
                             "and print pass / fail / not\nimplemented per op, with every failing "
                             "property's counterexample. Exit status: 0 all pass,\n1 a failure, "
                             "2 a usage error. Needs pip install 'convreg[conformance]'."),
                         epilog="examples:\n  python -m convreg check --backend cython\n"
                                "  python -m convreg check --backend fft --op corr2d,convolve2d "
                                "--thorough\n  python -m pytest --convreg-backend fft   "
                                "(the same kit, as pytest tests)")
    chk.add_argument("--backend", required=True, help="the backend to check")
    chk.add_argument("--max-examples", type=int, default=None,
                     help="Hypothesis examples per property (default 50)")
    chk.add_argument("--thorough", action="store_true",
                     help="ten times the examples (a few minutes on a fast backend)")
    chk.add_argument("--seed", type=int, default=None,
                     help="a random run from this seed, instead of the derandomised one")
    chk.add_argument("--op", action="append",
                     help="check only these ops (comma-separated or repeated)")
    chk.add_argument("--quiet", action="store_true", help="no progress bar")
    plan = sub.add_parser(
        "plan", help="time each algorithm of a layer's ops and show the planner's choice",
        formatter_class=raw, description=(
            "Run every admissible algorithm of conv2d and its two gradients once on random "
            "arrays of the\ngiven shape on the cython backend (the planner's measure mode), and "
            "print their times, the\nfastest and the rules' (estimate mode's) choice. With 2-D "
            "shapes, corr2d's register tiles\nof one image instead."),
        epilog="examples:\n  python -m convreg plan --input 8,64,56,56 --weight 64,64,3,3 "
               "--padding 1\n  python -m convreg plan --input 8,64,56,56 --weight 128,64,3,3 "
               "--stride 2 --padding 1 --op conv2d_grad_input --threads 1\n"
               "  python -m convreg plan --input 1024,1024 --weight 15,15")
    plan.add_argument("--input", type=_ints, required=True, help="N,C,H,W (or H,W: corr2d)")
    plan.add_argument("--weight", type=_ints, required=True,
                      help="O,C/groups,kh,kw (or kh,kw: corr2d)")
    plan.add_argument("--stride", type=int, default=1)
    plan.add_argument("--padding", type=int, default=0)
    plan.add_argument("--dilation", type=int, default=1)
    plan.add_argument("--groups", type=int, default=1)
    plan.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    plan.add_argument("--threads", type=int, default=None,
                      help="OpenMP threads (default: convreg's current count)")
    plan.add_argument("--op", action="append",
                      choices=("conv2d", "conv2d_grad_input", "conv2d_grad_weight", "corr2d"),
                      help="only this op (repeatable); default: all of the shapes' ops")
    sub.add_parser("bench", add_help=False,
                   help="time the backends beside SciPy and PyTorch (--help for options)")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from .bench import main as bench

        return bench(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "info":
        return _info()
    if args.command == "plan":
        return _plan(args)
    if args.command == "check":
        ops = [o.strip() for arg in args.op or () for o in arg.split(",") if o.strip()] or None
        return _check(args.backend, args.max_examples, ops, args.thorough, args.seed, args.quiet)
    from ._demo import run

    return run(args.backend)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

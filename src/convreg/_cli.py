"""The command line: ``python -m convreg info | demo``."""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence

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
    sub.add_parser("bench", add_help=False,
                   help="time the backends beside SciPy and PyTorch (--help for options)")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from .bench import main as bench

        return bench(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "info":
        return _info()
    if args.command == "check":
        ops = [o.strip() for arg in args.op or () for o in arg.split(",") if o.strip()] or None
        return _check(args.backend, args.max_examples, ops, args.thorough, args.seed, args.quiet)
    from ._demo import run

    return run(args.backend)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

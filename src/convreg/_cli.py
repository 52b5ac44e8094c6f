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
    try:
        default = convreg.get_backend("conv2d")
    except convreg.BackendError as exc:
        default = f"none ({exc})"
    print(f"\nconv2d on NumPy arrays would run on: {default}")
    return 0


def _check(backend: str, max_examples: int, ops: Sequence[str] | None) -> int:
    from tqdm.auto import tqdm

    import convreg
    from convreg.testing import applicable, check

    try:
        total = len([p for p in applicable(backend) if not ops or p.op in ops])
    except convreg.BackendError as exc:
        print(f"convreg check: {exc}", file=sys.stderr)
        return 2
    print(f"conformance of backend {backend!r}: {total} properties, {max_examples} "
          "examples each (derandomised)")
    with tqdm(total=total, unit="property", leave=False) as bar:
        def step(label: str) -> None:
            bar.set_postfix_str(label[:50])
            bar.update()

        try:
            results = check(backend, max_examples=max_examples, ops=ops, progress=step)
        except convreg.BackendError as exc:
            print(f"convreg check: {exc}", file=sys.stderr)
            return 2
    width = max(len(r.op) for r in results)
    for r in results:
        detail = f"({r.properties} properties)" if r.status == "pass" else ""
        print(f"  {r.op.ljust(width)}  {r.status.upper() if r.status == 'fail' else r.status} "
              f"{detail}".rstrip())
    failures = [r for r in results if r.status == "fail"]
    for r in failures:
        print(f"\n{r.op} failed, first counterexample:\n{r.failure}")
    passed = sum(r.status == "pass" for r in results)
    print(f"\n{passed} passed, {len(failures)} failed, "
          f"{sum(r.status == 'not implemented' for r in results)} not implemented")
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="convreg",
        description="2-D convolution with interchangeable backends.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("info", help="list the backends, their state, and the build")
    demo = sub.add_parser("demo", help="the chapter on convolutional layers, end to end")
    demo.add_argument("--backend", action="append",
                      help="run on this backend only (repeatable); default: every available one")
    chk = sub.add_parser("check", help="run the conformance suite on one backend")
    chk.add_argument("--backend", required=True, help="the backend to check")
    chk.add_argument("--max-examples", type=int, default=50,
                     help="Hypothesis examples per property (default 50)")
    chk.add_argument("--op", action="append", help="check only this op (repeatable)")
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
        return _check(args.backend, args.max_examples, args.op)
    from ._demo import run

    return run(args.backend)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

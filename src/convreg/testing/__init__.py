"""The conformance kit: convreg's property suite, runnable on any backend.

A backend, built in or shipped by a third party, proves itself with the same
suite convreg's own backends pass. Two ways to run it:

* from a plugin's own tests, in one line (pytest collects the tests)::

      from convreg.testing import conformance_tests
      globals().update(conformance_tests("mybackend"))

* from the command line, with a table of ops and the first counterexample of
  each failure (exit status 1 on any failure)::

      python -m convreg check --backend mybackend

Only the properties whose ops the backend implements run; the others are
reported as not implemented, never as passed. Needs the ``test`` extra
(Hypothesis, SciPy).
"""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import convreg

from .compare import assert_close, scale
from .properties import PROPERTIES, Property

__all__ = ["conformance_tests", "check", "CheckResult", "applicable", "assert_close", "scale",
           "PROPERTIES"]


def _info(backend: str) -> convreg.registry.BackendInfo:
    for info in convreg.backends():
        if info.name == backend:
            return info
    known = ", ".join(b.name for b in convreg.backends())
    raise convreg.BackendError(f"no backend named {backend!r} is registered (known: {known})")


def applicable(backend: str) -> list[Property]:
    """The properties ``backend`` can run: it implements every op they call."""
    ops = set(_info(backend).ops)
    return [p for p in PROPERTIES if set(p.requires) <= ops
            and not (p.against_reference and backend == "reference")]


def conformance_tests(backend: str) -> dict[str, Callable[[], None]]:
    """Test functions (``test_<property>``) for pytest to collect from a module's globals.

    The Hypothesis settings are those of the active profile, so a project's
    ``conftest.py`` decides how many examples run.
    """
    info = _info(backend)
    if not info.available:
        raise convreg.BackendError(f"backend {backend!r} is unavailable: {info.reason}")
    tests: dict[str, Callable[[], None]] = {}
    for p in applicable(backend):
        def test(p: Property = p) -> None:
            p.test(backend)

        test.__name__ = test.__qualname__ = f"test_{p.name}__{backend}"
        test.__doc__ = p.check.__doc__
        tests[test.__name__] = test
    return tests


@dataclasses.dataclass
class CheckResult:
    """The outcome for one op: "pass", "fail" or "not implemented"."""

    op: str
    status: str
    properties: int = 0
    failure: str = ""


def _counterexample(exc: BaseException) -> str:
    notes = "\n".join(getattr(exc, "__notes__", []))
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return f"{text}\n{notes}".strip()


def check(backend: str, *, max_examples: int = 50, ops: Sequence[str] | None = None,
          progress: Callable[[str], Any] | None = None) -> list[CheckResult]:
    """Run the suite on ``backend`` and return one :class:`CheckResult` per op.

    Hypothesis runs derandomised with ``max_examples`` examples per property,
    so a result is reproducible; a failure keeps its shrunk counterexample.
    """
    from hypothesis import HealthCheck, Phase, settings

    info = _info(backend)
    if not info.available:
        raise convreg.BackendError(f"backend {backend!r} is unavailable: {info.reason}")
    chosen = set(ops or convreg.registry.OPS)
    runnable = applicable(backend)
    results = []
    for op in convreg.registry.OPS:
        if op not in chosen:
            continue
        if op not in info.ops:
            results.append(CheckResult(op, "not implemented"))
            continue
        props = [p for p in runnable if p.op == op]
        result = CheckResult(op, "pass", len(props))
        for p in props:
            if progress is not None:
                progress(f"{op}: {p.name}")
            chosen_settings = settings(max_examples=max_examples, derandomize=True,
                                       deadline=None, database=None, print_blob=False,
                                       suppress_health_check=list(HealthCheck),
                                       phases=[Phase.explicit, Phase.generate, Phase.shrink])
            try:
                p.test(backend, chosen_settings)
            except Exception as exc:  # a failing property: record its counterexample
                result.status = "fail"
                result.failure = f"{p.name}: {_counterexample(exc)}"
                break
        results.append(result)
    return results

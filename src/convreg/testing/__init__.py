"""The conformance kit: convreg's property suite, runnable on any backend.

A backend, built in or shipped by a third party, proves itself with the same
suite convreg's own backends pass (``pip install "convreg[conformance]"``
brings what it needs: Hypothesis and pytest). Three ways to run it:

* with pytest, in any directory, no test files needed (convreg's pytest
  plugin, registered through the ``pytest11`` entry point)::

      python -m pytest --convreg-backend mybackend

* from the command line, with a table of ops and every failing property's
  counterexample (exit status 1 on any failure)::

      python -m convreg check --backend mybackend

* from a plugin's own test module, in one line::

      from convreg.testing import conformance_tests
      globals().update(conformance_tests("mybackend"))

Only the properties whose ops the backend implements run; the others are
reported as not implemented, never as passed. Every op is also checked
against the contract of docs/backends.md by name (inputs unchanged, output
array type, shape and dtype); a failure names the op and the rule.
"""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import convreg

from .compare import assert_close, scale, tolerance
from .properties import PROPERTIES, Blame, ContractViolation, Property, kit_layer

__all__ = ["conformance_tests", "check", "CheckResult", "Failure", "applicable", "kit_settings",
           "assert_close", "scale", "tolerance", "PROPERTIES", "Property", "ContractViolation",
           "Blame", "DEFAULT_EXAMPLES", "THOROUGH_FACTOR"]

#: Examples per property by default (``check`` and the pytest plugin).
DEFAULT_EXAMPLES = 50
#: How many times the examples ``--thorough`` runs.
THOROUGH_FACTOR = 10


def _info(backend: str) -> convreg.registry.BackendInfo:
    for info in convreg.backends():
        if info.name == backend:
            return info
    known = ", ".join(b.name for b in convreg.backends())
    raise convreg.BackendError(f"no backend named {backend!r} is registered (known: {known})")


def _available(backend: str) -> convreg.registry.BackendInfo:
    info = _info(backend)
    if not info.available:
        raise convreg.BackendError(f"backend {backend!r} is unavailable: {info.reason}")
    return info


def applicable(backend: str) -> list[Property]:
    """The properties ``backend`` can run: it implements every op they call."""
    ops = set(_info(backend).ops)
    return [p for p in PROPERTIES if set(p.requires) <= ops
            and not (p.against_reference and backend == "reference")]


def kit_settings(max_examples: int = DEFAULT_EXAMPLES, *, derandomize: bool = True,
                 database: bool = False) -> Any:
    """Hypothesis settings for a run of the kit.

    ``derandomize=True`` (for CI) draws the same examples every run;
    ``False`` (for local runs) draws new ones, and with ``database`` first
    replays the failures Hypothesis's example database (``.hypothesis/``)
    remembers.
    """
    from hypothesis import Phase, settings

    base = settings.get_profile("default")
    return kit_layer(settings(
        max_examples=max_examples, derandomize=derandomize,
        database=base.database if database and not derandomize else None, print_blob=False,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink]))


def conformance_tests(backend: str) -> dict[str, Callable[[], None]]:
    """Test functions (``test_<property>__<backend>``) for pytest to collect from a module's globals.

    The Hypothesis settings are those of the active profile with the kit's
    own on top (no deadline, no health check that fails a correct backend),
    so a project's ``conftest.py`` decides how many examples run. A property
    that another op's error keeps from judging its own is skipped, naming
    that op.
    """
    _available(backend)
    tests: dict[str, Callable[[], None]] = {}
    for p in applicable(backend):
        def test(p: Property = p) -> None:
            p.test(backend)

        test.__name__ = test.__qualname__ = f"test_{p.name}__{backend}"
        test.__doc__ = p.check.__doc__
        tests[test.__name__] = test
    return tests


@dataclasses.dataclass
class Failure:
    """One failing property and its counterexample."""

    property: str
    counterexample: str


@dataclasses.dataclass
class CheckResult:
    """The outcome for one op: "pass", "fail" or "not implemented".

    ``failures`` lists every failing property of the op; ``not_judged`` the
    properties another op's error kept from judging this one.
    """

    op: str
    status: str
    properties: int = 0
    failures: list[Failure] = dataclasses.field(default_factory=list)
    not_judged: list[str] = dataclasses.field(default_factory=list)

    @property
    def failure(self) -> str:
        """Every failure as text: each property's name and its counterexample."""
        return "\n\n".join(f"{f.property}: {f.counterexample}" for f in self.failures)


def _counterexample(exc: BaseException) -> str:
    """The error and Hypothesis's notes (the falsifying example), each line once."""
    from hypothesis.errors import Unsatisfiable

    if isinstance(exc, Unsatisfiable):
        return ("the backend declined (can_run) every call the kit drew, so nothing could "
                "be checked")
    # Python 3.11+ formats the notes (Hypothesis's failing case) with the
    # exception; 3.10 does not. Either way, each appears once.
    text = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    notes = [n for n in getattr(exc, "__notes__", []) if n not in text]
    return "\n".join([text, *notes])


def check(backend: str, *, max_examples: int = DEFAULT_EXAMPLES, ops: Sequence[str] | None = None,
          progress: Callable[[str], Any] | None = None, seed: int | None = None,
          ) -> list[CheckResult]:
    """Run the suite on ``backend`` and return one :class:`CheckResult` per op.

    Hypothesis runs derandomised with ``max_examples`` examples per property,
    so a result is reproducible (``seed`` runs a random search from that
    seed instead); a failure keeps its shrunk counterexample. Every
    property runs, so every failure of an op is listed.
    """
    info = _available(backend)
    unknown = set(ops or ()) - set(convreg.registry.OPS)
    if unknown:
        raise ValueError(f"no op named {', '.join(sorted(unknown))}; ops are "
                         f"{', '.join(convreg.registry.OPS)}")
    chosen = set(ops or convreg.registry.OPS)
    runnable = applicable(backend)
    settings = kit_settings(max_examples, derandomize=seed is None)
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
            try:
                p.test(backend, settings, seed=seed)
            except Blame as exc:
                result.not_judged.append(f"{p.name}: {exc}")
            except Exception as exc:  # a failing property: record its counterexample
                result.status = "fail"
                result.failures.append(Failure(p.name, _counterexample(exc)))
        results.append(result)
    return results

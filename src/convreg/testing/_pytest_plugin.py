"""convreg's pytest plugin: the conformance kit on any backend, in any directory.

Registered through the ``pytest11`` entry point, so it is active wherever
convreg is installed, and does nothing until asked::

    python -m pytest --convreg-backend NAME

collects the kit's properties for NAME (no conftest, no test files of your
own): one test per property, named ``test_conformance[NAME/op/property]``,
and one skip per op NAME does not implement, naming the op. Options:

``--convreg-examples N``
    Hypothesis examples per property (default 50).
``--convreg-thorough``
    ten times the examples.
``--convreg-profile ci|dev``
    ``ci`` draws the same examples on every run (derandomised); ``dev``
    draws new ones each run and replays remembered failures first, as
    Hypothesis recommends for local runs. Default: ``ci`` when the ``CI``
    environment variable is set, else ``dev``.
``--convreg-seed S``
    a random run from seed S (to reproduce one).

Importing this module imports nothing heavy: pytest loads it in every
session of every project in the environment.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import pytest

__all__ = ["pytest_addoption", "pytest_load_initial_conftests", "pytest_configure",
           "pytest_generate_tests"]

#: The test module the plugin adds to the session: one parametrised test.
KIT_MODULE = pathlib.Path(__file__).with_name("_pytest_kit.py")
MISSING = ("the conformance kit needs Hypothesis: pip install 'convreg[conformance]'")
#: The session's Hypothesis settings and seed, set once the options are checked.
_RUN = pytest.StashKey[tuple[Any, "int | None"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("convreg", "convreg's conformance kit")
    group.addoption("--convreg-backend", action="append", default=[], metavar="NAME",
                    help="run convreg's conformance kit on this backend (repeatable)")
    group.addoption("--convreg-examples", type=int, default=None, metavar="N",
                    help="Hypothesis examples per property (default 50)")
    group.addoption("--convreg-thorough", action="store_true",
                    help="ten times the examples")
    group.addoption("--convreg-profile", choices=("ci", "dev"), default=None,
                    help="ci: the same examples every run; dev: new ones, failures replayed "
                         "first (default: ci when $CI is set, else dev)")
    group.addoption("--convreg-seed", type=int, default=None, metavar="S",
                    help="a random run from this seed")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: list[str]) -> None:
    # The kit's module becomes a path to collect, so nothing else in the
    # current directory is searched for tests (name your own paths to add them).
    if getattr(early_config.known_args_namespace, "convreg_backend", None):
        args.append(str(KIT_MODULE))


def pytest_configure(config: pytest.Config) -> None:
    backends = config.getoption("convreg_backend")
    if not backends:
        return
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        raise pytest.UsageError(MISSING) from None
    import convreg

    known = {b.name: b for b in convreg.backends()}
    for name in backends:
        info = known.get(name)
        if info is None:
            raise pytest.UsageError(
                f"--convreg-backend {name}: no backend of that name is registered (known: "
                f"{', '.join(sorted(known))}); python -m convreg info lists them")
        if not info.available:
            raise pytest.UsageError(f"--convreg-backend {name}: unavailable: {info.reason}")
    examples = config.getoption("convreg_examples")
    if examples is not None and examples < 1:
        raise pytest.UsageError("--convreg-examples must be a positive number")
    config.stash[_RUN] = _settings(config)


def _settings(config: pytest.Config) -> tuple[Any, int | None]:
    from . import DEFAULT_EXAMPLES, THOROUGH_FACTOR, kit_settings

    examples = config.getoption("convreg_examples") or DEFAULT_EXAMPLES
    if config.getoption("convreg_thorough"):
        examples *= THOROUGH_FACTOR
    seed = config.getoption("convreg_seed")
    profile = config.getoption("convreg_profile") or ("ci" if os.environ.get("CI") else "dev")
    ci = profile == "ci" and seed is None
    return kit_settings(examples, derandomize=ci, database=not ci), seed


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "convreg_kit_case" not in metafunc.fixturenames:
        return
    import convreg

    from . import applicable

    cases: list[Any] = []
    ids: list[str] = []
    for backend in metafunc.config.getoption("convreg_backend"):
        info = next(b for b in convreg.backends() if b.name == backend)
        props = applicable(backend)
        for op in convreg.registry.OPS:
            if op not in info.ops:
                cases.append(pytest.param(None, marks=pytest.mark.skip(
                    reason=f"backend {backend!r} does not implement {op}")))
                ids.append(f"{backend}/{op}")
                continue
            for p in props:
                if p.op == op:
                    cases.append((p, backend))
                    ids.append(f"{backend}/{op}/{p.name}")
    metafunc.parametrize("convreg_kit_case", cases, ids=ids)


def run_case(config: pytest.Config, case: Any) -> None:
    """Run one (property, backend) case with the session's settings."""
    prop, backend = case
    settings, seed = config.stash[_RUN]
    prop.test(backend, settings, seed=seed)

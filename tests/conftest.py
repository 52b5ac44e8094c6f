"""Shared fixtures: the Hypothesis profiles and the backends under test.

Every property test is parametrised over the available backends that
implement the op it checks (``implementing(op)``), so a backend that gains an
op is tested on it without touching the tests.
"""

from __future__ import annotations

import os
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, settings

import convreg
from convreg import registry
from convreg.testing import assert_close as _assert_close

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

AVAILABLE = [b for b in convreg.backends() if b.available]


def implementing(op: str, *, others: bool = False, builtin: bool = False) -> list[str]:
    """Names of the available backends that implement ``op``.

    ``others=True`` leaves ``reference`` out, for tests that compare a backend
    with ``reference`` (comparing it with itself could not fail);
    ``builtin=True`` leaves out third-party plugins installed alongside.
    """
    names = [b.name for b in AVAILABLE if op in b.ops and (not builtin or b.source == "built in")]
    return [n for n in names if n != "reference"] if others else names


assert_close = _assert_close  # the kit's comparison, shared with the project's tests


@pytest.fixture(autouse=True)
def _fresh_selection():
    """Every test starts with automatic selection and the default thread count."""
    convreg.set_backend(None)
    yield
    convreg.set_backend(None)
    convreg.set_num_threads(None)


@pytest.fixture
def make_plugin(tmp_path, monkeypatch):
    """Write installed-looking plugin distributions into a temporary directory.

    ``make(dist, source)`` writes ``<dist>_plugin.py`` holding ``source`` and a
    ``<dist>-1.0.dist-info`` whose entry point (in ``convreg.backends``)
    names it, then puts the directory on ``sys.path``; discovery then runs
    exactly as for an installed package. The registry is reloaded afterwards.
    """
    monkeypatch.syspath_prepend(str(tmp_path))

    modules = []

    def make(dist: str, source: str, entry: str | None = None) -> None:
        module = f"{dist}_plugin"
        modules.append(module)
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"{dist}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(
            f"[convreg.backends]\n{entry or dist} = {module}\n")

    yield make
    monkeypatch.undo()
    for module in modules:  # the next test's plugin of the same name is a new module
        sys.modules.pop(module, None)
    registry.load(reload=True)

"""The conformance kit as pytest items; convreg's pytest plugin adds this module to a
session run with ``--convreg-backend NAME`` and parametrises its one test."""

from __future__ import annotations

from typing import Any

import pytest

from convreg.testing._pytest_plugin import run_case


def test_conformance(convreg_kit_case: Any, request: pytest.FixtureRequest) -> None:
    """One property of the kit on one backend (the id says which: backend/op/property)."""
    run_case(request.config, convreg_kit_case)

"""Shared fixtures: the Hypothesis profiles and the backends under test.

Every property test is parametrised over the available backends that
implement the op it checks (``implementing(op)``), so a backend that gains an
op is tested on it without touching the tests.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import convreg

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


def implementing(op: str, *, others: bool = False) -> list[str]:
    """Names of the available backends that implement ``op``.

    ``others=True`` leaves ``reference`` out, for tests that compare a backend
    with ``reference`` (comparing it with itself could not fail).
    """
    names = [b.name for b in AVAILABLE if op in b.ops]
    return [n for n in names if n != "reference"] if others else names


def assert_close(actual, expected, *, dtype, scale: float = 1.0, terms: int = 1) -> None:
    """Equal up to rounding: ``terms`` products of magnitude ``scale`` summed in ``dtype``."""
    assert np.shape(actual) == np.shape(expected), (np.shape(actual), np.shape(expected))
    eps = np.finfo(dtype).eps
    tol = 4 * eps * max(terms, 1) * max(scale, 1e-30)
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64),
                               np.asarray(expected, dtype=np.float64), rtol=0, atol=tol)


@pytest.fixture(autouse=True)
def _fresh_selection():
    """Every test starts with automatic selection and the default thread count."""
    convreg.set_backend(None)
    yield
    convreg.set_backend(None)
    convreg.set_num_threads(None)

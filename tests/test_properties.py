"""The property suite of DESIGN.md's Verification section, on every available backend.

The suite itself lives in ``convreg.testing`` (the conformance kit third-party
backends run); here it is collected once per available backend, so there is
one suite, not two.
"""

from __future__ import annotations

from conftest import AVAILABLE

import convreg
from convreg.testing import PROPERTIES, applicable, conformance_tests

for _backend in AVAILABLE:
    globals().update(conformance_tests(_backend.name))


def test_every_property_runs_on_some_backend():
    """No property of the kit is dead: each applies to at least one built-in backend."""
    covered = {p.name for b in AVAILABLE for p in applicable(b.name)}
    assert covered == {p.name for p in PROPERTIES}


def test_reference_implements_every_op_and_runs_everything_but_self_comparison():
    names = {p.name for p in applicable("reference")}
    assert names == {p.name for p in PROPERTIES if not p.against_reference}
    assert set(next(b for b in convreg.backends() if b.name == "reference").ops) == \
        set(convreg.registry.OPS)

"""Exceptions raised by convreg.

Both kinds of backend trouble are :class:`BackendError`, so one ``except``
catches them; the subclasses say which:

* :class:`BackendDeclined`: the backend named for a call said, through its
  ``can_run``, that it will not run this call (automatic selection moves on
  to the next backend instead of raising);
* :class:`ContractError`: a backend broke the contract of docs/backends.md
  (what it returned, or what it did to its inputs). Its attributes name the
  rule, so tools such as the conformance kit can report it by name.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BackendError", "BackendDeclined", "ContractError", "CONTRACT_RULES"]

#: The rules of the backend contract that convreg checks at the boundary.
CONTRACT_RULES = (
    "output array type",  # exactly one of the backend's array_types
    "output shape",  # the shape the front end computed
    "output dtype",  # the inputs' dtype: float32 in, float32 out
    "inputs unchanged",  # byte for byte (debug checks)
    "can_run answer",  # True, False or a reason string
)


class BackendError(RuntimeError):
    """No backend can run the requested operation under the current selection.

    The message names every backend that was considered and why each one was
    passed over, and says what to do next (install a plugin, pick another
    name, move the arrays to the right device).
    """


class BackendDeclined(BackendError):
    """The backend named for this call declined it (its ``can_run`` said why)."""

    def __init__(self, message: str, *, backend: str, op: str, reason: str) -> None:
        super().__init__(message)
        self.backend, self.op, self.reason = backend, op, reason


class ContractError(BackendError):
    """A backend broke one of :data:`CONTRACT_RULES`: a bug in that backend."""

    def __init__(self, message: str, *, backend: str, op: str, rule: str, expected: Any,
                 got: Any) -> None:
        super().__init__(message)
        self.backend, self.op, self.rule = backend, op, rule
        self.expected, self.got = expected, got

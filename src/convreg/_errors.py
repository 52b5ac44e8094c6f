"""Exceptions raised by convreg."""

from __future__ import annotations

__all__ = ["BackendError"]


class BackendError(RuntimeError):
    """No backend can run the requested operation under the current selection.

    The message names every backend that was considered and why each one was
    passed over, and says what to do next (install a plugin, pick another
    name, move the arrays to the right device).
    """

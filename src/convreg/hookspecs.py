"""The hook a plugin implements to contribute backends.

A plugin is any importable module (or object) named by an entry point in the
group ``convreg.backends``::

    [project.entry-points."convreg.backends"]
    mybackend = "mypackage.convreg_plugin"

and ``mypackage/convreg_plugin.py`` holds::

    from convreg.hookspecs import hookimpl

    @hookimpl
    def convreg_backends():
        return [MyBackend()]

Changelog of the hook specifications (a change here changes ``API_VERSION``
when existing plugins would break):

* API 1 (convreg 0.1): ``convreg_backends()``, no arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pluggy

__all__ = ["API_VERSION", "SUPPORTED_API_VERSIONS", "PROJECT", "hookimpl", "hookspec",
           "convreg_backends"]

PROJECT = "convreg"

#: The backend API a backend written today declares as ``api_version``.
API_VERSION = 1
#: The backend API versions this convreg can run; others are listed unavailable.
SUPPORTED_API_VERSIONS = frozenset({1})

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def convreg_backends() -> Sequence[Any]:
    """Return the backend objects this plugin provides.

    Each backend has the attributes ``name`` (str), ``api_version`` (int),
    ``priority`` (number; higher wins automatic selection), ``array_types``
    (tuple of array classes it accepts) and ``available()`` returning
    ``(bool, reason)``, plus one method per op it implements (see
    ``convreg.registry.OPS``). Called once, when the registry loads.
    """
    raise NotImplementedError  # a specification: pluggy calls the plugins' implementations

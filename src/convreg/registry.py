"""The backend registry: discovery, selection and dispatch.

Dispatch model
--------------
Every public op (``convreg.corr2d``, ``convreg.conv2d``, ...) validates its
arguments, then asks :func:`dispatch` for the implementation of that op and
calls it. Which backend answers is decided, for one call, by the first of:

1. the call's ``backend=`` argument;
2. the innermost :func:`use_backend` context (a ``contextvars`` variable, so
   threads and asyncio tasks never see each other's choice);
3. the process default set by :func:`set_backend`;
4. the environment variable ``CONVREG_BACKEND``, read when the registry loads;
5. automatic selection: among available backends that implement the op and
   accept the arrays' type, the one with the highest ``priority`` (ties by
   name). NumPy arrays go to ``cython`` (falling back to ``reference`` for ops
   it lacks), CuPy arrays to a GPU backend.

A backend named in 1-4 must exist, be available, implement the op and accept
the array type; otherwise :class:`~convreg.BackendError` names every backend
considered and why each was passed over. There is no silent fallback to
another backend and no silent host/device copy.

Per-call decline
----------------
A backend may also define ``can_run(op, *args)``, called with the op's name
and the exact arguments its op method would get, before each call it was
chosen for. It returns True to take the call, or False or a reason (str) to
decline it: an FFT backend right only for large kernels, a GPU backend short
of memory. Under automatic selection (5) the call moves on to the next
candidate by priority, and the reason is logged at DEBUG; a backend named
in 1-4 that declines raises :class:`~convreg.BackendDeclined` with its
reason. ``can_run`` runs on every call, so it must be cheap: look at shapes
and dtypes, never at values. Backends without it pay nothing.

Discovery
---------
Backends come from pluggy plugins found through the entry-point group
``convreg.backends`` (convreg's own backends are registered the same way, in
its ``pyproject.toml``). Discovery is lazy: the first dispatch, a call to
:func:`backends`, or :func:`load`. ``CONVREG_DISABLE_PLUGIN_AUTOLOAD=1`` loads
only convreg's own entry points; ``CONVREG_PLUGINS=a,b`` loads only the named
third-party ones. A plugin that fails to import or register, or that returns a
malformed backend, is listed unavailable with the exception as its reason and
one warning; it never breaks ``import convreg`` or another backend.

The boundary
------------
:func:`call` runs the chosen backend's op and checks what comes back before
a user sees it: an array of one of the backend's ``array_types`` (exactly
that type), of exactly the shape and dtype the front end computed.
Anything else raises :class:`~convreg.BackendError` naming the backend, the
op, what came back and what was expected. An exception raised inside the
op keeps its type and gains a note naming the backend and op. With
:func:`set_debug_checks` (or ``CONVREG_DEBUG_CHECKS=1``) it also verifies
that the backend left every input array unchanged, byte for byte; that
costs a copy of each input, so it is off by default.

Cost per call
-------------
Resolution is cached per ``(op, requested name, array type)``; a cached call
costs a context-variable read and a dict lookup, no hook call. The cache is
cleared whenever the registry is (re)loaded. Each resolution is logged at
DEBUG on the logger ``convreg.dispatch``. The result checks are a type,
a shape and a dtype comparison (a fraction of a microsecond).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import importlib
import importlib.metadata
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple, cast

import pluggy

from . import hookspecs
from ._errors import BackendDeclined, BackendError, ContractError

__all__ = [
    "OPS",
    "BackendInfo",
    "load",
    "backends",
    "set_backend",
    "use_backend",
    "get_backend",
    "dispatch",
    "call",
    "set_debug_checks",
    "get_debug_checks",
]

logger = logging.getLogger("convreg.dispatch")

#: Ops a backend may implement, as methods of the same name.
OPS = (
    "corr2d",
    "convolve2d",
    "conv2d",
    "conv2d_grad_input",
    "conv2d_grad_weight",
    "max_pool2d",
    "avg_pool2d",
    "max_pool2d_grad",
    "avg_pool2d_grad",
)

ENTRY_POINT_GROUP = "convreg.backends"
_OWN_DISTRIBUTION = "convreg"
# Used only when convreg's own entry points are missing from the installed
# metadata (e.g. the source tree put on sys.path by hand), so that the two
# built-in backends are still found.
_OWN_PLUGINS = {"reference": "convreg.plugins.reference", "cython": "convreg.plugins.cython",
                "cupy": "convreg.plugins.cupy"}
_REQUIRED_ATTRS = ("name", "api_version", "priority", "array_types", "available")


@dataclasses.dataclass(frozen=True)
class BackendInfo:
    """One row of :func:`backends`."""

    name: str
    available: bool
    reason: str
    version: str
    priority: float
    source: str
    ops: tuple[str, ...]
    api_version: Any = None

    def __str__(self) -> str:
        state = "available" if self.available else f"unavailable: {self.reason}"
        return f"{self.name} ({state})"


@dataclasses.dataclass
class _Entry:
    info: BackendInfo
    backend: Any = None  # the backend object, None when it failed to load


class _Resolved(NamedTuple):
    """What a cached resolution holds: the op's bound method and whom it belongs to."""

    impl: Callable[..., Any]
    name: str
    array_types: tuple[type, ...]
    can_run: Callable[..., Any] | None  # the backend's per-call veto, if it has one
    source: str  # what chose it: "automatic selection", "the backend= argument", ...


def _resolution(backend: Any, op: str, source: str) -> _Resolved:
    can_run = getattr(backend, "can_run", None)
    return _Resolved(getattr(backend, op), backend.name, tuple(backend.array_types),
                     can_run if callable(can_run) else None, source)


class _Registry:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.entries: dict[str, _Entry] = {}
        self.loaded = False
        self.env_backend: str | None = None
        self.default: str | None = None
        self.cache: dict[tuple[str, str | None, type], _Resolved] = {}
        # Automatic selection's candidates in order, for when one declines a call.
        self.ranked: dict[tuple[str, type], list[_Resolved]] = {}
        # Plugins the environment switches kept from loading: (entry point, distribution, why).
        self.filtered: list[tuple[str, str, str]] = []
        self.plugin_manager: pluggy.PluginManager | None = None
        self.debug_checks = os.environ.get("CONVREG_DEBUG_CHECKS", "").strip() not in ("", "0")


_registry = _Registry()
_selected: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "convreg_backend", default=None
)


# -- discovery --------------------------------------------------------------


def _dist_name(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else "unknown distribution"


def _source(dist: str) -> str:
    return "built in" if dist == _OWN_DISTRIBUTION else dist


def _autoload_disabled() -> bool:
    return os.environ.get("CONVREG_DISABLE_PLUGIN_AUTOLOAD", "").strip() not in ("", "0")


def _allowed() -> set[str] | None:
    """The entry-point names ``CONVREG_PLUGINS`` allows, or None when it is unset."""
    allow = os.environ.get("CONVREG_PLUGINS")
    return None if allow is None else {n.strip() for n in allow.split(",") if n.strip()}


def _unwanted(ep_name: str, dist: str) -> str | None:
    """Why the environment switches keep a plugin from loading, or None to load it.

    ``CONVREG_DISABLE_PLUGIN_AUTOLOAD`` wins over ``CONVREG_PLUGINS``;
    neither applies to convreg's own backends.
    """
    if dist == _OWN_DISTRIBUTION:
        return None
    if _autoload_disabled():
        return "CONVREG_DISABLE_PLUGIN_AUTOLOAD is set"
    allow = _allowed()
    if allow is not None and ep_name not in allow:
        return f"not named in CONVREG_PLUGINS={os.environ['CONVREG_PLUGINS']!r}"
    return None


def filtered_plugins() -> list[tuple[str, str, str]]:
    """Installed plugins the environment switches kept from loading.

    Each is ``(entry-point name, distribution, why)``; ``python -m convreg
    info`` lists them.
    """
    _ensure_loaded()
    return list(_registry.filtered)


def _contain(exc: BaseException, name: str, stage: str) -> None:
    """Let a plugin's failure through only if it is the user's Ctrl-C.

    Anything else a plugin raises, ``SystemExit`` at import included, is
    the plugin's problem: it is listed unavailable (the caller says why)
    and its traceback goes to DEBUG.
    """
    if isinstance(exc, KeyboardInterrupt):
        raise exc
    logger.debug("backend plugin %r failed during %s", name, stage, exc_info=exc)


def _fail(name: str, source: str, reason: str) -> None:
    """List ``name`` as unavailable and warn once."""
    _registry.entries.setdefault(
        name, _Entry(BackendInfo(name, False, reason, "", float("-inf"), source, ()))
    )
    _warn(name, source, reason)


def _warn(name: str, source: str, reason: str) -> None:
    warnings.warn(
        f"convreg: the backend plugin {name!r} ({source}) could not be loaded: {reason}. "
        "It is listed as unavailable in convreg.backends(); other backends are unaffected.",
        RuntimeWarning,
        stacklevel=5,
    )


def _malformed(backend: Any) -> str | None:
    missing = [a for a in _REQUIRED_ATTRS if not hasattr(backend, a)]
    if missing:
        return f"the backend object {backend!r} lacks {', '.join(missing)}"
    if not isinstance(backend.name, str) or not backend.name:
        return f"backend name must be a non-empty str, got {backend.name!r}"
    if not isinstance(backend.array_types, tuple) or not all(
        isinstance(t, type) for t in backend.array_types
    ):
        return f"array_types must be a tuple of classes, got {backend.array_types!r}"
    if not isinstance(backend.priority, (int, float)):
        return f"priority must be a number, got {backend.priority!r}"
    return None


def _add_backend(backend: Any, source: str) -> None:
    problem = _malformed(backend)
    if problem is not None:
        given = getattr(backend, "name", None)
        label = given if isinstance(given, str) and given else f"<malformed from {source}>"
        _fail(label, source, problem)
        return
    name: str = backend.name  # a non-empty str: _malformed checked it
    if name in _registry.entries:
        _fail(f"{name} ({source})", source,
              f"a backend named {name!r} is already registered by {_registry.entries[name].info.source}")
        return
    ops = tuple(op for op in OPS if callable(getattr(backend, op, None)))
    version = str(getattr(backend, "version", "") or "")
    api = backend.api_version
    if type(api) is not int or api not in hookspecs.SUPPORTED_API_VERSIONS:
        supported = sorted(hookspecs.SUPPORTED_API_VERSIONS)
        given = (f"written for backend API version {api}" if type(api) is int
                 else f"its api_version is a {type(api).__name__}, not an int")
        ok, reason = False, (
            f"{given}; this convreg supports {supported}. If the backend follows version "
            f"{hookspecs.API_VERSION}'s conventions (docs/backends.md), write api_version = "
            f"{hookspecs.API_VERSION} (convreg.hookspecs.API_VERSION); otherwise upgrade "
            "convreg or the plugin"
        )
        _warn(name, source, reason)
    else:
        try:
            ok, reason = backend.available()
            ok, reason = bool(ok), str(reason)
        except BaseException as exc:  # a broken availability probe makes it unavailable
            _contain(exc, name, "available()")
            ok, reason = False, f"available() raised {exc!r}"
    info = BackendInfo(name, ok, reason, version, float(backend.priority), source, ops,
                       backend.api_version)
    _registry.entries[name] = _Entry(info, backend)


def _load_plugin(pm: pluggy.PluginManager, name: str, module_path: str | None,
                 ep: importlib.metadata.EntryPoint | None, source: str) -> None:
    try:
        if ep is not None:
            plugin = ep.load()
        elif module_path is not None:
            plugin = importlib.import_module(module_path)
        else:
            raise ValueError("neither an entry point nor a module path was given")
    except BaseException as exc:
        _contain(exc, name, "import")
        _fail(name, source, f"import failed: {exc!r}")
        return
    try:
        pm.register(plugin, name=f"{source}:{name}")
        impls = [i for i in pm.hook.convreg_backends.get_hookimpls() if i.plugin is plugin]
        if not impls:
            raise TypeError("it implements no convreg_backends() hook")
        provided = [b for impl in impls for b in cast(Iterable[Any], impl.function())]
    except BaseException as exc:
        _contain(exc, name, "registration")
        with contextlib.suppress(Exception):
            pm.unregister(plugin)
        _fail(name, source, f"registration failed: {exc!r}")
        return
    for backend in provided:
        _add_backend(backend, source)


def load(*, reload: bool = False) -> None:
    """Discover the backend plugins (once; again with ``reload=True``).

    Reloading re-reads the entry points and ``CONVREG_BACKEND``, keeps
    :func:`set_backend`'s choice, and clears the resolution cache.
    """
    with _registry.lock:
        if _registry.loaded and not reload:
            return
        _registry.entries = {}
        _registry.cache.clear()
        _registry.ranked.clear()
        _registry.filtered = []
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        _registry.plugin_manager = pm
        eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        seen_own = set()
        for ep in sorted(eps, key=lambda e: (_dist_name(e) != _OWN_DISTRIBUTION, e.name)):
            dist = _dist_name(ep)
            if dist == _OWN_DISTRIBUTION:
                if ep.name in seen_own:
                    continue  # the same distribution seen twice on sys.path
                seen_own.add(ep.name)
            why = _unwanted(ep.name, dist)
            if why is None:
                _load_plugin(pm, ep.name, None, ep, _source(dist))
            else:
                _registry.filtered.append((ep.name, dist, why))
        allow = _allowed()
        if allow and not _autoload_disabled():
            installed = {ep.name for ep in eps if _dist_name(ep) != _OWN_DISTRIBUTION}
            for name in sorted(allow - installed):
                warnings.warn(
                    f"convreg: CONVREG_PLUGINS names {name!r}, but no installed plugin has that "
                    f"entry point (installed: {', '.join(sorted(installed)) or 'none'}). "
                    "Check the spelling, or pip install the plugin.",
                    RuntimeWarning, stacklevel=3)
        for name, module in _OWN_PLUGINS.items():
            if name not in seen_own:
                _load_plugin(pm, name, module, None, "built in")
        _registry.env_backend = os.environ.get("CONVREG_BACKEND") or None
        _registry.loaded = True
        logger.debug("loaded backends: %s", ", ".join(map(str, _infos())))


def _ensure_loaded() -> None:
    if not _registry.loaded:
        load()


def _infos() -> list[BackendInfo]:
    return sorted((e.info for e in _registry.entries.values()),
                  key=lambda i: (-i.priority, i.name))


def backends() -> list[BackendInfo]:
    """Every known backend, highest priority first.

    Examples
    --------
    >>> import convreg
    >>> [b.name for b in convreg.backends() if b.available]  # doctest: +SKIP
    ['cython', 'reference']
    >>> next(b for b in convreg.backends() if b.name == "reference").ops[:2]
    ('corr2d', 'convolve2d')
    """
    _ensure_loaded()
    return _infos()


# -- selection --------------------------------------------------------------


def _check_name(name: str | None, what: str) -> None:
    """A backend name is a non-empty str, or None for automatic selection.

    The same name is refused the same way whatever ran before: the empty
    string never means "automatic" (say None for that).
    """
    if name is None:
        return
    if not isinstance(name, str):
        raise TypeError(f"{what} takes a backend name (str) or None; got {name!r}")
    if not name:
        raise ValueError(
            f"{what} got the empty string; name a backend (python -m convreg info lists "
            "them) or pass None for automatic selection"
        )


def set_backend(name: str | None) -> None:
    """Set the process-wide default backend (``None`` restores automatic selection).

    The name is checked when an op runs, not here, so a plugin may be
    installed later; :func:`get_backend` tells what a call would use.
    """
    _check_name(name, "set_backend")
    _registry.default = name


@contextlib.contextmanager
def use_backend(name: str | None) -> Iterator[None]:
    """Run the enclosed block with ``name`` as the backend (scoped to this context).

    Examples
    --------
    >>> import convreg
    >>> with convreg.use_backend("reference"):
    ...     convreg.corr2d([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0, 1], [2, 3]])
    array([[19., 25.],
           [37., 43.]])
    """
    _check_name(name, "use_backend")
    token = _selected.set(name)
    try:
        yield
    finally:
        _selected.reset(token)


def _requested() -> tuple[str | None, str]:
    name = _selected.get()
    if name is not None:
        return name, "use_backend()"
    if _registry.default is not None:
        return _registry.default, "set_backend()"
    if _registry.env_backend is not None:
        return _registry.env_backend, "the CONVREG_BACKEND environment variable"
    return None, "automatic selection"


def get_backend(op: str = "conv2d", array_type: type | None = None) -> str:
    """The name of the backend a call of ``op`` on ``array_type`` would use now.

    Raises :class:`BackendError` when that call would.
    """
    import numpy as np

    with _registry.lock:
        _ensure_loaded()
        name, source = _requested()
        return str(_resolve(op, name, source, np.ndarray if array_type is None else array_type).name)


def _type_name(t: type) -> str:
    return f"{t.__module__}.{t.__qualname__}"


def _why_not(entry: _Entry, op: str, array_type: type) -> str | None:
    """Why ``entry`` cannot run ``op`` on ``array_type``; None when it can."""
    info = entry.info
    if not info.available:
        return f"unavailable: {info.reason}"
    if op not in info.ops:
        return f"does not implement {op}"
    if not issubclass(array_type, entry.backend.array_types):
        accepted = ", ".join(map(_type_name, entry.backend.array_types))
        return f"does not accept {_type_name(array_type)} (takes {accepted})"
    return None


def _considered(op: str, array_type: type) -> str:
    rows = []
    for info in _infos():
        why = _why_not(_registry.entries[info.name], op, array_type)
        rows.append(f"  {info.name}: {why or 'could run it'}")
    return "\n".join(rows) or "  (no backends are installed)"


def _resolve(op: str, name: str | None, source: str, array_type: type) -> Any:
    """The backend object that runs ``op`` on ``array_type`` under this selection."""
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; ops are {OPS}")
    if name is not None:
        entry = _registry.entries.get(name)
        why = "no backend of that name is registered" if entry is None else _why_not(entry, op, array_type)
        if entry is None or why is not None:
            hint = ""
            if why is not None and why.startswith("does not accept"):
                hint = (" convreg never copies between host and device silently: move "
                        "the arrays first (cupy.asarray(...) or cupy.asnumpy(...)).")
            raise BackendError(
                f"{op}: backend {name!r}, chosen by {source}, cannot run it on "
                f"{_type_name(array_type)}: {why}.{hint}\nBackends considered:\n"
                f"{_considered(op, array_type)}\nChoose one that could run it, or "
                "install the plugin that provides it (python -m convreg info lists them)."
            )
        logger.debug("%s on %s: %r chosen by %s", op, _type_name(array_type), name, source)
        return entry.backend
    candidates = [
        e for e in _registry.entries.values() if _why_not(e, op, array_type) is None
    ]
    if not candidates:
        raise BackendError(
            f"{op}: no backend can run it on {_type_name(array_type)}.\n"
            f"Backends considered:\n{_considered(op, array_type)}\n"
            "Install a backend for this array type, or convert the arrays."
        )
    best = min(candidates, key=lambda e: (-e.info.priority, e.info.name))
    logger.debug("%s on %s: %r by automatic selection (priority %s)", op,
                 _type_name(array_type), best.info.name, best.info.priority)
    return best.backend


def _resolved(op: str, backend: str | None, array_type: type) -> _Resolved:
    """The cached resolution of ``op`` for ``array_type`` under the current selection."""
    if backend is not None:
        if not isinstance(backend, str) or not backend:
            _check_name(backend, "backend=")  # raises: TypeError or ValueError
        name: str | None = backend
    else:
        name = _selected.get() or _registry.default or _registry.env_backend
    try:
        return _registry.cache[(op, name, array_type)]
    except KeyError:
        pass
    with _registry.lock:
        _ensure_loaded()
        if backend is not None:
            source = "the backend= argument"
        else:
            name, source = _requested()
        resolved = _resolution(_resolve(op, name, source, array_type), op, source)
        _registry.cache[(op, name, array_type)] = resolved
        return resolved


def _ranked(op: str, array_type: type) -> list[_Resolved]:
    """Automatic selection's candidates for ``op`` on ``array_type``, best first (cached)."""
    key = (op, array_type)
    ranked = _registry.ranked.get(key)
    if ranked is None:
        with _registry.lock:
            entries = sorted((e for e in _registry.entries.values()
                              if _why_not(e, op, array_type) is None),
                             key=lambda e: (-e.info.priority, e.info.name))
            ranked = [_resolution(e.backend, op, "automatic selection") for e in entries]
            _registry.ranked[key] = ranked
    return ranked


def _declines(r: _Resolved, op: str, args: tuple[Any, ...]) -> str | None:
    """Ask ``r``'s ``can_run``: None when it takes the call, else its reason."""
    assert r.can_run is not None
    try:
        verdict = r.can_run(op, *args)
    except Exception as exc:
        _add_note(exc, f"(raised inside convreg backend {r.name!r}, can_run for op {op!r})")
        raise
    if verdict is True:
        return None
    if verdict is False:
        return "its can_run returned False"
    if isinstance(verdict, str) and verdict:
        return verdict
    raise ContractError(
        f"{op}: backend {r.name!r}'s can_run returned {verdict!r}; it must return True, False "
        "or a reason (a non-empty str). This is a bug in the backend.",
        backend=r.name, op=op, rule="can_run answer", expected="True, False or a str",
        got=repr(verdict))


def _willing(r: _Resolved, op: str, array_type: type, args: tuple[Any, ...]) -> _Resolved:
    """``r`` if it takes this call; else, under automatic selection, the next that does.

    A backend chosen by name that declines raises :class:`BackendDeclined`:
    the user asked for it, so convreg never substitutes another.
    """
    reason = _declines(r, op, args)
    if reason is None:
        return r
    if r.source != "automatic selection":
        raise BackendDeclined(
            f"{op}: backend {r.name!r} (named for this call) declined it: {reason}. "
            "Choose another backend for it, or leave the choice to convreg (no backend= "
            "argument, use_backend(None)).",
            backend=r.name, op=op, reason=reason)
    reasons = [f"  {r.name}: {reason}"]
    for other in _ranked(op, array_type):
        if other.name == r.name:
            continue
        why = None if other.can_run is None else _declines(other, op, args)
        if why is None:
            logger.debug("%s: %r declined (%s); running on %r", op, r.name, reason, other.name)
            return other
        reasons.append(f"  {other.name}: {why}")
    raise BackendError(f"{op}: every backend that could run it declined this call:\n"
                       + "\n".join(reasons))



def dispatch(op: str, backend: str | None, array_type: type) -> Callable[..., Any]:
    """The implementation of ``op`` for arrays of ``array_type``: a bound method.

    ``backend`` is the call's ``backend=`` argument. Cached per (op, name the
    selection resolves to, array type); see the module docstring. The front
    ends go through :func:`call`, which also checks the result.
    """
    return _resolved(op, backend, array_type).impl


def set_debug_checks(enabled: bool) -> None:
    """Also verify that every backend call leaves its input arrays unchanged.

    For backend authors: with this on, each op compares its inputs' bytes
    before and after the backend ran and raises :class:`BackendError`
    naming the argument that changed. It copies every input, so it is off
    by default; ``CONVREG_DEBUG_CHECKS=1`` turns it on for a process.

    Examples
    --------
    >>> import convreg
    >>> convreg.set_debug_checks(True); convreg.get_debug_checks()
    True
    >>> convreg.set_debug_checks(False)
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"set_debug_checks takes True or False; got {enabled!r}")
    _registry.debug_checks = enabled


def get_debug_checks() -> bool:
    """Whether :func:`set_debug_checks` (or ``CONVREG_DEBUG_CHECKS``) is on."""
    return _registry.debug_checks


def _add_note(exc: BaseException, note: str) -> None:
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:  # Python 3.10: kept for tools that read it; not printed
        setattr(exc, "__notes__", [*getattr(exc, "__notes__", []), note])


def _describe(value: Any) -> str:
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return (f"{_type_name(type(value))} of shape {tuple(value.shape)} and dtype "
                f"{value.dtype}")
    return f"{_type_name(type(value))} ({value!r:.60})"


def _bad_result(r: _Resolved, op: str, result: Any, shape: tuple[int, ...],
                dtype: Any) -> ContractError:
    accepted = " or ".join(map(_type_name, r.array_types))
    expected: Any
    got: Any
    if type(result) not in r.array_types:
        rule, expected, got = "output array type", accepted, _type_name(type(result))
    elif result.shape != shape:
        rule, expected, got = "output shape", shape, tuple(result.shape)
    else:
        rule, expected, got = "output dtype", str(dtype), str(result.dtype)
    return ContractError(
        f"{op}: backend {r.name!r} returned {_describe(result)}; expected {accepted} of "
        f"shape {shape} and dtype {dtype} (rule {rule!r}: expected {expected}, got {got}). "
        "This is a bug in the backend: report it to its authors, and choose another "
        "backend meanwhile (backend=... or convreg.use_backend).",
        backend=r.name, op=op, rule=rule, expected=expected, got=got)


#: The names of each op's positional arguments, as the front ends pass them
#: to :func:`call` (for the debug checks' messages).
_ARG_NAMES = {
    "corr2d": ("X", "K"),
    "convolve2d": ("X", "K"),
    "conv2d": ("x", "weight", "bias"),
    "conv2d_grad_input": ("grad_output", "weight"),
    "conv2d_grad_weight": ("x", "grad_output"),
    "max_pool2d": ("x",),
    "avg_pool2d": ("x",),
    "max_pool2d_grad": ("grad_output", "x"),
    "avg_pool2d_grad": ("grad_output",),
}


def _snapshot(args: tuple[Any, ...]) -> list[tuple[int, bytes]]:
    return [(i, a.tobytes()) for i, a in enumerate(args)
            if hasattr(a, "tobytes") and hasattr(a, "shape")]


def _changed(r: _Resolved, op: str, before: list[tuple[int, bytes]],
             args: tuple[Any, ...]) -> None:
    names = _ARG_NAMES.get(op, ())
    for i, data in before:
        if args[i].tobytes() != data:
            what = names[i] if i < len(names) else f"argument {i}"
            raise ContractError(
                f"{op}: backend {r.name!r} modified its input {what} in place (found by "
                "convreg's debug checks). Backends must only read their inputs; "
                "this is a bug in the backend.",
                backend=r.name, op=op, rule="inputs unchanged", expected=f"{what} unchanged",
                got=f"{what} modified")


def call(op: str, backend: str | None, array_type: type, shape: tuple[int, ...], dtype: Any,
         *args: Any) -> Any:
    """Run ``op`` on the backend the selection resolves to, and check what it returns.

    ``shape`` and ``dtype`` are what the front end computed the result must
    be; ``args`` are the backend method's arguments. See "The boundary" in
    the module docstring.
    """
    r = _resolved(op, backend, array_type)
    if r.can_run is not None:  # only backends that define can_run pay for it
        r = _willing(r, op, array_type, args)
    before = _snapshot(args) if _registry.debug_checks else None
    try:
        result = r.impl(*args)
    except Exception as exc:
        _add_note(exc, f"(raised inside convreg backend {r.name!r}, op {op!r})")
        raise
    if type(result) not in r.array_types or result.shape != shape or result.dtype != dtype:
        raise _bad_result(r, op, result, shape, dtype)
    if before is not None:
        _changed(r, op, before, args)
    return result

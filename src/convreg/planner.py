"""The planner: which algorithm computes a layer op, decided once per signature.

Model
-----
A backend with several algorithms for one op (the ``cython`` backend has five
for each layer op: plain direct loops, channel-blocked register tiles of two
vectors of channels or of one, implicit GEMM and im2col + GEMM, and Winograd
for 3x3 kernels) asks
:func:`run` to pick one. A *plan* is that choice for one *signature*: the
op, the input and weight shapes, the
dtype, the geometry, the thread count and the CPU's instruction set, so a
change of any of them is a new plan (FFTW's plans and cuDNN's algorithm
search work the same way). Plans are cached in memory for the process.

Modes (:func:`set_planner`, or ``CONVREG_PLANNER`` read at import):

``"measure"`` (default)
    For a signature whose work is at least ``min_work`` multiply-adds
    (:data:`MEASURE_MIN_WORK` by default), the first call runs each
    contending algorithm on the call's own arrays, :data:`ROUNDS` times in
    turn (the rules' choice first; each timed run after an untimed one of
    the same algorithm, so that no contender pays for the threads the one
    before it left spinning), keeps the fastest by its best time for
    later calls and returns a result of it: a first call costs several
    times a later one, but measuring stops once it has taken
    ``time_limit`` seconds (:data:`TIME_LIMIT` by default, FFTW's
    ``fftw_set_timelimit``), keeping the fastest of those timed, so a
    first call costs at most that plus two runs. Smaller problems take the
    estimate: measuring costs more than it could save. While measuring, at most two results
    are alive at once (the best so far and the one being computed), each
    algorithm with the workspace its backend documents; nothing else is
    allocated.
``"estimate"``
    The backend's rules (measured crossovers, ``plugins/cython.algorithm``),
    decided once per signature and cached. The choice, and so every bit of
    a result, is the same in every process on every machine of one ISA:
    the mode for reproducible runs (PyTorch's ``cudnn.benchmark = False``).
``"off"``
    The rules on every call, nothing cached: the behaviour before plans.

:func:`force` (or ``CONVREG_PLAN=name``) makes every call that admits the
named algorithm run it, bypassing the cache; this is how the test suite runs
the conformance properties on each algorithm, so a wrong kernel cannot hide
behind the choice. A forced algorithm a call does not admit (implicit GEMM
at stride 2, say) falls back to the estimate.

Every algorithm computes the same sums in another order, so plans agree to
floating-point rounding, not bit for bit: two processes in ``measure`` mode
may settle on different plans for one signature (timings are noisy), and
their float32 results then differ in the last bits. Within a process a
signature keeps its plan. Use ``estimate`` where runs must match bit for
bit. Validation stays pure (the boundary's rule): a plan is chosen only
after the front end has checked and normalised every argument, from exact
ints and strings, and it never changes whether a call succeeds.

Seeing the choice: each new plan is logged at DEBUG on the ``convreg.plan``
logger (with the measured times in ``measure`` mode), :func:`plans` lists
the cache, and ``python -m convreg plan`` times the candidates for a shape.

Wisdom (FFTW's word): :func:`save_wisdom` writes the measured plans to a
JSON file and :func:`load_wisdom` (or ``CONVREG_WISDOM=path``, read at
import) reads them back, so later processes on the same machine skip the
measuring and choose alike, bit for bit. A file records the CPU it was
measured on and is refused on another; ``measure`` mode uses it, the rules
of ``estimate`` and ``off`` ignore it; a plan naming an algorithm a call
does not admit is dropped and made again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import platform
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

__all__ = ["MODES", "DEFAULT_MODE", "MEASURE_MIN_WORK", "ROUNDS", "TIME_LIMIT", "Plan",
           "set_planner", "get_planner", "force", "forced", "plans", "clear", "run",
           "save_wisdom", "load_wisdom", "cpu_model", "cache_bytes"]

logger = logging.getLogger("convreg.plan")

#: The planner's modes; see the module docstring.
MODES = ("estimate", "measure", "off")
#: The mode unless ``CONVREG_PLANNER`` or :func:`set_planner` says otherwise.
DEFAULT_MODE = "measure"

#: In ``measure`` mode, signatures with fewer multiply-adds than this take the
#: estimate: at tens of GFLOP/s such an op runs in a tenth of a millisecond,
#: where timer noise and cold caches decide the race, and measuring all
#: candidates costs more than the best could save. LeNet's layers (7.5 and 15
#: million) are above it: measured, the first layer's weight gradient took
#: 1.01 ms by implicit GEMM where the rules' blocked kernel took 1.36 (Intel
#: Xeon, 2 threads), for a first call of 54 ms instead of 1.
MEASURE_MIN_WORK = 1 << 22

#: Rounds of measurement: every contender runs once per round, in turn, and
#: keeps its best time. One round let a noisy machine lock in plans 1.2-1.7x
#: slower than the rules' (the strided layer's weight gradient, benchmarks/
#: RESULTS.md run 7); taking turns spreads drift over all contenders alike,
#: and the best of three discards a first run's page faults.
ROUNDS = 3

#: Seconds one signature's measurement may take before the planner stops and
#: keeps the fastest of the runs so far. A layer op of a few GFLOP takes tens
#: of milliseconds, so every contender gets its three rounds; one of
#: hundreds of GFLOP (seconds a run) is timed once, the rules' choice first,
#: instead of making its first call ten times slower.
TIME_LIMIT = 1.0


@dataclasses.dataclass(frozen=True)
class Plan:
    """The algorithm chosen for one signature, and how it was chosen.

    ``how`` is ``"estimated"`` (the backend's rules; ``times`` holds its one
    run where measuring reached the time limit with it), ``"measured"`` (the
    fastest in ``times``, the best seconds of each candidate timed) or
    ``"single"`` (only one algorithm was admissible).
    """

    op: str
    algorithm: str
    how: str
    times: tuple[tuple[str, float], ...] = ()


class _State:
    def __init__(self) -> None:
        self.mode = _env_mode()
        self.min_work = MEASURE_MIN_WORK
        self.time_limit = TIME_LIMIT
        self.forced: str | None = os.environ.get("CONVREG_PLAN", "").strip() or None
        self.plans: dict[tuple[Any, ...], Plan] = {}
        self.wisdom: dict[tuple[Any, ...], Plan] = {}  # load_wisdom's, for measure mode
        self.lock = threading.Lock()  # one measurement per signature at a time


def _env_mode() -> str:
    mode = os.environ.get("CONVREG_PLANNER", "").strip() or DEFAULT_MODE
    if mode not in MODES:
        warnings.warn(f"CONVREG_PLANNER={mode!r} is not a planner mode (one of "
                      f"{', '.join(MODES)}); using {DEFAULT_MODE!r}", RuntimeWarning,
                      stacklevel=3)
        return DEFAULT_MODE
    return mode


_state = _State()


def _env_wisdom() -> None:
    """``CONVREG_WISDOM=path``: load that wisdom at import; a file not there yet is
    fine (save it there later), one that cannot be used is a warning, never an error."""
    path = os.environ.get("CONVREG_WISDOM", "").strip()
    if not path:
        return
    try:
        logger.debug("CONVREG_WISDOM: %d plans from %s", load_wisdom(path), path)
    except FileNotFoundError:
        logger.debug("CONVREG_WISDOM: no file %s yet", path)
    except (OSError, ValueError) as exc:
        warnings.warn(f"CONVREG_WISDOM: {exc}; planning as if there were none", RuntimeWarning,
                      stacklevel=2)


def set_planner(mode: str | None, *, min_work: int | None = None,
                time_limit: float | None = None) -> None:
    """Choose how layer ops pick their algorithm: ``"estimate"``, ``"measure"`` or ``"off"``.

    ``None`` goes back to ``CONVREG_PLANNER`` (or ``"measure"``). ``min_work``
    sets the smallest problem ``measure`` measures, in multiply-adds (0:
    every one), and ``time_limit`` the seconds one signature's measurement
    may take (``math.inf``: every contender, every round); left out, each
    goes back to its default (:data:`MEASURE_MIN_WORK`, :data:`TIME_LIMIT`).
    A change of mode drops the plans made so far, so the next call of each
    signature plans again by the new mode (wisdom loaded by
    :func:`load_wisdom` stays).

    Examples
    --------
    >>> import convreg
    >>> convreg.set_planner("estimate")   # reproducible plans: the rules only
    >>> convreg.get_planner()
    'estimate'
    >>> convreg.set_planner(None)         # back to CONVREG_PLANNER, else "measure"
    """
    if mode is not None and mode not in MODES:
        raise ValueError(f"planner mode must be one of {', '.join(map(repr, MODES))} or None; "
                         f"got {mode!r}")
    if min_work is not None:
        if type(min_work) is not int:  # bool and float refused, as everywhere an int is due
            raise TypeError(f"min_work must be a non-negative int; got {min_work!r} "
                            f"({type(min_work).__name__})")
        if min_work < 0:
            raise ValueError(f"min_work must be a non-negative int; got {min_work!r}")
    if time_limit is not None:
        if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float)):
            raise TypeError(f"time_limit must be a number of seconds; got {time_limit!r} "
                            f"({type(time_limit).__name__})")
        if not time_limit >= 0:  # also refuses NaN
            raise ValueError(f"time_limit must be >= 0 seconds (math.inf: no limit); "
                             f"got {time_limit!r}")
    new = _env_mode() if mode is None else mode
    if new != _state.mode:
        _state.plans.clear()  # loaded wisdom stays: measure mode takes it up again
    _state.mode = new
    _state.min_work = MEASURE_MIN_WORK if min_work is None else min_work
    _state.time_limit = TIME_LIMIT if time_limit is None else float(time_limit)


def get_planner() -> str:
    """The planner's mode: ``"estimate"``, ``"measure"`` or ``"off"``."""
    return _state.mode


@contextlib.contextmanager
def force(algorithm: str | None) -> Iterator[None]:
    """Within the block, every call that admits ``algorithm`` runs it (None: no forcing).

    For tests and for comparing algorithms by hand; the names are the
    backend's (``convreg.plugins.cython.ALGORITHMS``). Process-wide, like
    ``CONVREG_PLAN``.

    Examples
    --------
    >>> import numpy as np, convreg
    >>> x, w = np.ones((1, 8, 6, 6)), np.ones((8, 8, 3, 3))
    >>> with convreg.planner.force("im2col"):
    ...     y = convreg.conv2d(x, w)
    >>> float(y[0, 0, 0, 0])
    72.0
    """
    if algorithm is not None and not isinstance(algorithm, str):
        raise TypeError(f"force takes an algorithm name or None; got {type(algorithm).__name__}")
    saved, _state.forced = _state.forced, algorithm
    try:
        yield
    finally:
        _state.forced = saved


def forced() -> str | None:
    """The algorithm :func:`force` or ``CONVREG_PLAN`` imposes, or None."""
    return _state.forced


def plans() -> dict[tuple[Any, ...], Plan]:
    """A copy of the cached plans, by signature."""
    return dict(_state.plans)


def clear() -> None:
    """Drop every cached plan, loaded wisdom included (the next call of each
    signature plans again)."""
    _state.plans.clear()
    _state.wisdom.clear()


def cpu_model() -> str:
    """The processor's name (Linux's /proc/cpuinfo; elsewhere what platform says)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_bytes(level: int) -> int | None:
    """The size in bytes of one core's level-``level`` data (or unified) cache, from
    Linux's sysfs; None where the system does not say.

    >>> size = cache_bytes(2)
    >>> size is None or size >= 64 << 10
    True
    """
    return _cache_bytes(level, "/sys/devices/system/cpu/cpu0/cache")


def _cache_bytes(level: int, root: str) -> int | None:
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return None
    for entry in entries:
        try:
            with open(f"{root}/{entry}/level") as f:
                if int(f.read()) != level:
                    continue
            with open(f"{root}/{entry}/type") as f:
                if f.read().strip() == "Instruction":
                    continue
            with open(f"{root}/{entry}/size") as f:
                size = f.read().strip()  # "512K", "32768K", "2M"
        except (OSError, ValueError):
            continue
        unit = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1:].upper(), 1)
        digits = size.rstrip("KkMmGg")
        if digits.isdigit():
            return int(digits) * unit
    return None


#: What a wisdom file says about itself; `load_wisdom` checks both.
_WISDOM_FORMAT = "convreg-wisdom-1"


def save_wisdom(path: str | os.PathLike[str]) -> int:
    """Write the measured plans to ``path`` (JSON) and return how many.

    Only plans made by measuring are saved (the rules' choices need no
    wisdom); loaded wisdom that was used is saved again. The file names the
    CPU (:func:`cpu_model`), and :func:`load_wisdom` refuses it elsewhere.

    Examples
    --------
    >>> import os, tempfile, numpy as np, convreg
    >>> convreg.set_planner("measure", min_work=0)
    >>> convreg.planner.clear()
    >>> y = convreg.conv2d(np.ones((2, 8, 12, 12)), np.ones((16, 8, 3, 3)))
    >>> path = os.path.join(tempfile.mkdtemp(), "wisdom.json")
    >>> convreg.planner.save_wisdom(path)
    1
    >>> convreg.planner.clear()
    >>> convreg.planner.load_wisdom(path)   # a later process: the same plan, no timing
    1
    >>> convreg.set_planner(None)
    """
    entries = [{"signature": _jsonable(sig), "op": p.op, "algorithm": p.algorithm,
                "times": [list(t) for t in p.times]}
               for sig, p in {**_state.wisdom, **_state.plans}.items() if p.how == "measured"]
    with open(path, "w") as f:
        json.dump({"format": _WISDOM_FORMAT, "cpu": cpu_model(), "plans": entries}, f, indent=1)
    return len(entries)


def load_wisdom(path: str | os.PathLike[str]) -> int:
    """Read plans that :func:`save_wisdom` wrote; return how many were loaded.

    ``measure`` mode then runs their algorithms without timing. Raises
    ``ValueError`` for a file that is not convreg wisdom or was measured on
    another CPU (its plans would be the other machine's), naming both.
    """
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{os.fspath(path)!r} is not convreg wisdom (not JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != _WISDOM_FORMAT:
        raise ValueError(f"{os.fspath(path)!r} is not convreg wisdom (format "
                         f"{_WISDOM_FORMAT!r}); write one with convreg.planner.save_wisdom")
    if data.get("cpu") != cpu_model():
        raise ValueError(f"the wisdom in {os.fspath(path)!r} was measured on {data.get('cpu')!r}, "
                         f"not this machine's {cpu_model()!r}: measure again here and save it")
    loaded = 0
    for entry in data.get("plans", ()):
        try:
            signature = _signature(entry["signature"])
            plan = Plan(str(entry["op"]), str(entry["algorithm"]), "measured",
                        tuple((str(n), float(t)) for n, t in entry["times"]))
        except (KeyError, TypeError, ValueError):
            continue  # a damaged entry: that signature is simply measured again
        _state.wisdom[signature] = plan
        loaded += 1
    return loaded


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, tuple) else value


def _signature(value: Any) -> Any:
    """A signature back from JSON: lists become tuples; only ints and strings are kept
    (the purity rule's key types), anything else refused."""
    if isinstance(value, list):
        return tuple(_signature(v) for v in value)
    if type(value) in (int, str):
        return value
    raise TypeError(f"not a signature element: {value!r}")


def _measure(op: str, algorithms: Mapping[str, Callable[..., Any]], contenders: Sequence[str],
             args: Sequence[Any]) -> tuple[Plan, Any]:
    """Time the contenders in :data:`ROUNDS` rounds, each once a round (after an untimed
    run of its own, but for the very first), and keep each one's best, until the time
    limit; return the plan and a result of the fastest.

    ``contenders[0]`` is the rules' choice: if its first run alone uses up
    the time limit, it is the plan ("estimated", with its time).
    """
    best: dict[str, float] = {}
    best_time, best_result = float("inf"), None
    began = time.perf_counter()
    for turn, name in enumerate([*contenders] * ROUNDS):
        if turn:
            # Untimed, so that the timed run follows the contender itself, not
            # the one before: that one's idle threads (an OpenMP team's; before
            # the GEMMs ran on convreg's own team, OpenBLAS's spinning after a
            # GEMM) made the blocked kernel 2.1x slower right after im2col on 2
            # threads (VGG 64-channel forward pass, 30.5 ms against 14.3). The
            # very first run is timed at once: a call of seconds then costs one
            # run before the time limit stops it.
            algorithms[name](*args)
        start = time.perf_counter()
        result = algorithms[name](*args)
        seconds = time.perf_counter() - start
        best[name] = min(best.get(name, seconds), seconds)
        if seconds < best_time:
            best_time, best_result = seconds, result
        del result  # at most two results alive: the best and the one being computed
        if time.perf_counter() - began >= _state.time_limit:
            break  # keep the fastest of those timed
    fastest = min(best, key=best.__getitem__)
    how = "measured" if len(best) > 1 else "estimated"
    return Plan(op, fastest, how, tuple(best.items())), best_result


def run(op: str, signature: tuple[Any, ...], algorithms: Mapping[str, Callable[..., Any]],
        admissible: Sequence[str], estimate: Callable[[], str], work: int,
        args: Sequence[Any], contenders: Callable[[str], Sequence[str]] | None = None) -> Any:
    """Run ``op`` by the plan for ``signature``, making the plan first if there is none.

    ``algorithms`` maps every name to a function of ``args``; ``admissible``
    names those that can compute this call; ``estimate()`` returns the
    rules' choice, one of them; ``work`` is the call's multiply-adds.
    ``contenders(estimate)``, if given, names the admissible algorithms worth
    timing in ``measure`` mode (a backend leaves out those its rules know to
    lose by far, which would only make the first call slow); by default all.
    The signature must be made of exact ints, strings and tuples of them
    (the purity rule: no two arguments a front end tells apart may share a
    plan).
    """
    if _state.forced is not None:
        name = _state.forced if _state.forced in admissible else estimate()
        logger.debug("%s %s: forced %s", op, signature, name)
        return algorithms[name](*args)
    if _state.mode == "off":
        return algorithms[estimate()](*args)
    plan = _state.plans.get(signature)
    if plan is None and _state.mode == "measure":
        plan = _state.wisdom.get(signature)
        if plan is not None and plan.algorithm in admissible:
            _state.plans[signature] = plan
            logger.debug("%s %s: %s (wisdom)", op, signature, plan.algorithm)
        else:
            plan = None
    if plan is not None:
        return algorithms[plan.algorithm](*args)
    if _state.mode == "measure" and work >= _state.min_work and len(admissible) > 1:
        with _state.lock:
            plan = _state.plans.get(signature)  # another thread may have measured it
            if plan is None:
                rules = estimate()
                timed = admissible if contenders is None else contenders(rules)
                timed = [rules, *(name for name in timed if name != rules)]
                plan, result = _measure(op, algorithms, timed, args)
                _state.plans[signature] = plan
                logger.debug("%s %s: measured %s", op, signature,
                             ", ".join(f"{n} {t * 1e3:.3g} ms" for n, t in plan.times))
                return result
        return algorithms[plan.algorithm](*args)
    plan = Plan(op, admissible[0] if len(admissible) == 1 else estimate(),
                "single" if len(admissible) == 1 else "estimated")
    _state.plans[signature] = plan
    logger.debug("%s %s: %s (%s)", op, signature, plan.algorithm, plan.how)
    return algorithms[plan.algorithm](*args)


_env_wisdom()

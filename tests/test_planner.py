"""The planner: modes, caching, forcing, and every algorithm proven by the conformance kit.

Timings are never asserted: the measure-mode tests use stand-in algorithms
whose relative cost is made by construction (one does more work), so the
choice they check follows from the algorithms, not from the machine.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import AVAILABLE

import convreg
from convreg import planner
from convreg.plugins import cython

pytestmark = pytest.mark.skipif("cython" not in {b.name for b in AVAILABLE},
                                reason="the cython backend (the one with plans) is not built")


@pytest.fixture(autouse=True)
def _fresh_planner():
    planner.set_planner(None)
    planner.clear()
    yield
    planner.set_planner(None)
    planner.clear()


def _fakes(calls: list[str]):
    """Stand-in algorithms: 'slow' sleeps, 'fast' does not; both return the same answer."""

    def fast(a):
        calls.append("fast")
        return a + 1

    def slow(a):
        calls.append("slow")
        time.sleep(0.02)
        return a + 1

    return {"slow": slow, "fast": fast}


def test_measure_is_the_default_mode():
    assert planner.DEFAULT_MODE == "measure"
    env = {k: v for k, v in os.environ.items() if k != "CONVREG_PLANNER"}
    out = subprocess.run([sys.executable, "-c", "import convreg; print(convreg.get_planner())"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "measure", out.stderr


def test_estimate_mode_asks_the_rules_once_per_signature():
    planner.set_planner("estimate")
    calls: list[str] = []
    asked = []

    def rules():
        asked.append(1)
        return "slow"

    for _ in range(3):
        assert planner.run("op", ("op", (1, 2)), _fakes(calls), ("slow", "fast"), rules, 1 << 30,
                           (1,)) == 2
    assert calls == ["slow"] * 3 and len(asked) == 1
    (plan,) = planner.plans().values()
    assert (plan.algorithm, plan.how, plan.times) == ("slow", "estimated", ())


def test_measure_mode_times_every_candidate_once_and_keeps_the_fastest():
    planner.set_planner("measure", min_work=0)
    calls: list[str] = []
    for _ in range(3):
        planner.run("op", ("op", 7), _fakes(calls), ("slow", "fast"), lambda: "slow", 10, (1,))
    plan = planner.plans()[("op", 7)]
    assert plan.algorithm == "fast" and plan.how == "measured"
    assert [name for name, _ in plan.times] == ["slow", "fast"]
    # Measured in ROUNDS rounds, taking turns, on the first call only; never chosen. Each
    # timed run but the first follows an untimed one of the same algorithm.
    turns = ["slow", "fast"] * planner.ROUNDS
    assert calls[:2 * len(turns) - 1] == [turns[0]] + [n for n in turns[1:] for _ in (0, 1)]
    assert calls.count("slow") == 2 * planner.ROUNDS - 1
    assert calls[2 * len(turns) - 1:] == ["fast", "fast"]


class _Clock:
    """A stand-in for ``time.perf_counter`` that only the stand-in algorithms move."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def algorithms(self, calls: list[str]) -> dict:
        def take(name: str, seconds: float):
            def algorithm(a):
                calls.append(name)
                self.now += seconds
                return a + 1
            return algorithm
        return {"slow": take("slow", 1.0), "fast": take("fast", 0.25)}


def test_measure_mode_stops_at_the_time_limit_keeping_the_fastest_timed(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(planner, "time", clock)
    planner.set_planner("measure", min_work=0, time_limit=1.2)
    calls: list[str] = []
    # The contenders list the rules' choice last; it is timed first all the same.
    planner.run("op", ("op", 5), clock.algorithms(calls), ("slow", "fast"), lambda: "slow", 10,
                (1,), lambda estimate: ("fast", "slow"))
    plan = planner.plans()[("op", 5)]
    assert calls == ["slow", "fast", "fast"]  # 1.5 s used: no second round
    assert (plan.algorithm, plan.how, plan.times) == ("fast", "measured",
                                                      (("slow", 1.0), ("fast", 0.25)))


def test_each_contender_is_timed_after_a_run_of_its_own(monkeypatch):
    """A stand-in for a kernel that runs slow right after another algorithm (whose
    threads still spin): timed straight after "blas", "omp" would lose every round."""
    clock = _Clock()
    monkeypatch.setattr(planner, "time", clock)
    planner.set_planner("measure", min_work=0, time_limit=math.inf)
    calls: list[str] = []

    def take(name: str):
        def algorithm(a):
            after_other = bool(calls) and calls[-1] != name
            calls.append(name)
            clock.now += 0.5 if name == "blas" else (1.0 if after_other else 0.25)
            return a + 1
        return algorithm

    planner.run("op", ("op", 9), {"blas": take("blas"), "omp": take("omp")}, ("blas", "omp"),
                lambda: "blas", 10, (1,))
    plan = planner.plans()[("op", 9)]
    assert plan.algorithm == "omp" and dict(plan.times) == {"blas": 0.5, "omp": 0.25}


def test_a_first_run_past_the_time_limit_keeps_the_rules_choice(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(planner, "time", clock)
    planner.set_planner("measure", min_work=0, time_limit=0.5)
    calls: list[str] = []
    for _ in range(2):
        planner.run("op", ("op", 6), clock.algorithms(calls), ("slow", "fast"), lambda: "slow",
                    10, (1,))
    plan = planner.plans()[("op", 6)]
    assert calls == ["slow", "slow"]  # never timed "fast": the first call cost one run
    assert (plan.algorithm, plan.how, plan.times) == ("slow", "estimated", (("slow", 1.0),))


def test_measure_mode_leaves_small_problems_to_the_rules():
    planner.set_planner("measure")  # default min_work
    calls: list[str] = []
    planner.run("op", ("op", 1), _fakes(calls), ("slow", "fast"), lambda: "slow",
                planner.MEASURE_MIN_WORK - 1, (1,))
    assert calls == ["slow"] and planner.plans()[("op", 1)].how == "estimated"


def test_off_mode_caches_nothing_and_a_mode_change_drops_plans():
    planner.run("op", ("op", 1), _fakes([]), ("slow", "fast"), lambda: "fast", 1, (1,))
    assert planner.plans()
    planner.set_planner("off")
    assert not planner.plans()
    planner.run("op", ("op", 1), _fakes([]), ("slow", "fast"), lambda: "fast", 1, (1,))
    assert not planner.plans()


def test_force_runs_the_named_algorithm_where_admissible_else_the_rules():
    calls: list[str] = []
    with planner.force("slow"):
        planner.run("op", ("op", 1), _fakes(calls), ("slow", "fast"), lambda: "fast", 1, (1,))
        planner.run("op", ("op", 2), _fakes(calls), ("fast",), lambda: "fast", 1, (1,))
    assert calls == ["slow", "fast"] and not planner.plans()  # forcing caches nothing


def test_bad_modes_are_refused():
    with pytest.raises(ValueError, match="one of 'estimate', 'measure', 'off'"):
        planner.set_planner("patient")
    with pytest.raises(ValueError, match="min_work"):
        planner.set_planner("measure", min_work=-1)
    for bad in (1.0, True):
        with pytest.raises(TypeError, match="min_work"):
            planner.set_planner("measure", min_work=bad)
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="time_limit"):
            planner.set_planner("measure", time_limit=bad)
    for bad in ("1", True, None.__class__):
        with pytest.raises(TypeError, match="time_limit"):
            planner.set_planner("measure", time_limit=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="algorithm name"):
        with planner.force(3):  # type: ignore[arg-type]
            pass


def test_environment_variables_choose_mode_and_force():
    code = ("import convreg; print(convreg.get_planner(), convreg.planner.forced())")
    env = dict(os.environ, CONVREG_PLANNER="measure", CONVREG_PLAN="im2col")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.split() == ["measure", "im2col"], out.stderr
    env["CONVREG_PLANNER"] = "fast please"
    out = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "not a planner mode" in out.stderr


def test_signatures_are_pure_and_name_everything_the_choice_depends_on():
    x, w = np.ones((2, 4, 9, 9), np.float32), np.ones((8, 4, 3, 3), np.float32)
    convreg.set_num_threads(2)  # explicit: the default may be 1 (one CPU, OMP_NUM_THREADS)
    convreg.conv2d(x, w, padding=1)
    convreg.conv2d(x, w, padding=np.int64(1))  # the front end normalises: the same signature
    convreg.conv2d(x.astype(np.float64), w.astype(np.float64), padding=1)
    convreg.set_num_threads(1)
    convreg.conv2d(x, w, padding=1)
    sigs = list(planner.plans())
    assert len(sigs) == 3  # float32, float64, and one thread
    for sig in sigs:
        for part in sig:
            assert type(part) in (str, int) or (type(part) is tuple
                                               and all(type(v) is int for v in part)), sig


def test_the_plan_of_a_call_is_logged(caplog):
    with caplog.at_level(logging.DEBUG, logger="convreg.plan"):
        convreg.conv2d(np.ones((1, 16, 8, 8)), np.ones((16, 16, 3, 3)))
    assert any("conv2d" in r.getMessage() and "estimated" in r.getMessage()
               for r in caplog.records)


def test_measure_mode_leaves_out_the_contenders_that_lose_by_far():
    planner.set_planner("measure", min_work=0)
    x, w = np.ones((1, 32, 10, 10)), np.ones((32, 32, 3, 3))
    convreg.conv2d(x, w, stride=2)
    (plan,) = planner.plans().values()
    names = [n for n, _ in plan.times]
    assert names[0] == cython.algorithm("conv2d", x.shape, w.shape, (4, 4), (2, 2),
                                        (0, 0, 0, 0), 1)  # the rules' choice runs first
    # No implicit at stride 2, no direct at 32 channels. Float64 vectors hold 8 (AVX-512)
    # or 4 (AVX2) channels: the one- and two-vector blocked tiles both contend where the
    # ISA takes two-vector blocks, and are one kernel where it does not.
    wide = cython._conv.isa() >= cython.WIDE_BLOCKS_MIN_ISA
    assert set(names) == {"blocked", "im2col"} | ({"blocked-narrow"} if wide else set())


def test_measure_mode_on_the_cython_backend_returns_the_right_answer():
    planner.set_planner("measure", min_work=0)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 8, 9, 9)), rng.standard_normal((8, 8, 3, 3))
    y = convreg.conv2d(x, w, padding=1)  # measured: every algorithm ran, the fastest answered
    np.testing.assert_allclose(y, convreg.conv2d(x, w, padding=1, backend="reference"),
                               rtol=1e-12, atol=1e-12)
    (plan,) = planner.plans().values()
    # 8 channels: the direct loops contend; one float64 vector holds them, so there is
    # no separate narrow tile; Winograd needs 16 channels summed, "planes" one;
    # "pixels" is an input gradient.
    assert plan.how == "measured"
    assert {n for n, _ in plan.times} == (set(cython.ALGORITHMS)
                                          - {"blocked-narrow", "winograd", "planes", "pixels"})


@pytest.mark.parametrize("algorithm", cython.ALGORITHMS)
def test_the_conformance_kit_passes_with_each_algorithm_forced(algorithm):
    pytest.importorskip("hypothesis")
    from convreg.testing import check

    with planner.force(algorithm):
        results = check("cython", max_examples=25,
                        ops=["conv2d", "conv2d_grad_input", "conv2d_grad_weight"])
    failures = [f"{r.op}: {r.failure}" for r in results if r.status != "pass"]
    assert not failures, "\n".join(failures)


def _tiles_of_every_isa() -> list[str]:
    if cython._IMPORT_ERROR is not None:
        return []
    names: list[str] = []
    for level in cython._corr2d.isa_levels():
        cython._corr2d.cap_isa(level)
        names += [n for n in cython.corr2d_tiles() if n not in names]
    cython._corr2d.cap_isa(None)
    return names


@pytest.mark.parametrize("tile", _tiles_of_every_isa())
def test_the_conformance_kit_passes_with_each_correlation_tile_forced(tile):
    """Every register tile of corr2d_rows.h, on the ISA that compiles it (the cap
    goes down to it), through the kit's correlation and convolution properties."""
    pytest.importorskip("hypothesis")
    from convreg.testing import check

    level = next(lv for lv in reversed(cython._corr2d.isa_levels())
                 if (cython._corr2d.cap_isa(lv), tile in cython.corr2d_tiles())[1])
    try:
        with planner.force(tile):
            assert tile in cython.corr2d_tiles()
            results = check("cython", max_examples=25, ops=["corr2d", "convolve2d"])
    finally:
        cython._corr2d.cap_isa(None)
    failures = [f"{r.op}: {r.failure}" for r in results if r.status != "pass"]
    assert not failures, f"ISA level {level}: " + "\n".join(failures)


def test_measure_mode_times_each_correlation_tile_and_keeps_one():
    planner.set_planner("measure", min_work=0)
    rng = np.random.default_rng(3)
    X, K = rng.standard_normal((300, 280)), rng.standard_normal((7, 5))
    got = convreg.corr2d(X, K, mode="same", backend="cython")
    (signature, plan), = planner.plans().items()
    assert signature[0] == "corr2d" and signature[1] == (306, 284) and signature[2] == (7, 5)
    assert plan.how == "measured" and {n for n, _ in plan.times} == set(cython.corr2d_tiles())
    assert cython.plan_of("corr2d", (306, 284), (7, 5), convreg.get_num_threads()) == plan
    # Every tile sums in the same order: the measured plan's answer is the rules' bit for bit.
    planner.set_planner("estimate")
    np.testing.assert_array_equal(got, convreg.corr2d(X, K, mode="same", backend="cython"))


@pytest.mark.parametrize("algorithm", cython.ALGORITHMS)
def test_a_forced_algorithm_is_the_one_that_runs(algorithm, monkeypatch):
    ran = []
    for table in (cython._CONV2D, cython._GRAD_INPUT, cython._GRAD_WEIGHT):
        for name, fn in list(table.items()):
            monkeypatch.setitem(table, name,
                                lambda *a, _n=name, _f=fn: ran.append(_n) or _f(*a))
    # Stride 1, 3x3, 16 channels: every algorithm is admissible but "planes", which
    # takes one input channel per group (a depthwise layer) ...
    groups = 4 if algorithm == "planes" else 1
    x = np.ones((2, 16 // (4 if groups > 1 else 1), 6, 6))
    w = np.ones((16, x.shape[1] // groups, 3, 3))
    with planner.force(algorithm):
        y = convreg.conv2d(x, w, groups=groups)
        convreg.conv2d_grad_input(y, w, x.shape, groups=groups)
        convreg.conv2d_grad_weight(x, y, w.shape, groups=groups)
    # ... and Winograd has no weight gradient, "planes" no gradient, "pixels" only the
    # input gradient: the rules take the others.
    for op, got in zip(("conv2d", "conv2d_grad_input", "conv2d_grad_weight"), ran):
        owns = (algorithm != "planes" or op == "conv2d") and (
            algorithm != "winograd" or op != "conv2d_grad_weight") and (
            algorithm != "pixels" or op == "conv2d_grad_input")
        assert got == (algorithm if owns else
                       cython.algorithm(op, x.shape, w.shape, (4, 4), (1, 1), (0, 0, 0, 0),
                                        groups)), op


def test_plan_cli_times_each_algorithm_and_names_the_choices():
    out = subprocess.run([sys.executable, "-m", "convreg", "plan", "--input", "2,8,12,12",
                          "--weight", "16,8,3,3", "--padding", "1", "--threads", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for op in ("conv2d:", "conv2d_grad_input:", "conv2d_grad_weight:"):
        assert op in out.stdout
    # 16 channels fill one float32 vector: no narrow tile. Winograd: the input gradient
    # only (it sums the 16 output channels; the forward pass sums 8; no weight gradient).
    # planes: 1 channel a group; pixels: the input gradient only.
    expected = {"blocked-narrow": 0, "winograd": 1, "planes": 0, "pixels": 1}
    for name in cython.ALGORITHMS:
        assert out.stdout.count(f"  {name} ") == expected.get(name, 3), name
    assert out.stdout.count("<- fastest") == 3 and out.stdout.count("the rules' choice") == 3
    bad = subprocess.run([sys.executable, "-m", "convreg", "plan", "--input", "2,8,12",
                          "--weight", "16,8,3,3"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "N,C,H,W" in bad.stderr


def test_plan_cli_times_each_correlation_tile_of_an_image():
    out = subprocess.run([sys.executable, "-m", "convreg", "plan", "--input", "300,200",
                          "--weight", "9,9", "--threads", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "corr2d:" in out.stdout and "conv2d" not in out.stdout
    for name in cython.corr2d_tiles():
        assert out.stdout.count(f"  {name} ") == 1, name
    assert out.stdout.count("<- fastest") == 1 and out.stdout.count("the rules' choice") == 1
    bad = subprocess.run([sys.executable, "-m", "convreg", "plan", "--input", "300,200",
                          "--weight", "9,9", "--op", "conv2d"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "not an op of these shapes (corr2d)" in bad.stderr


@pytest.mark.parametrize("dtype, channels", [(np.float32, 40), (np.float64, 20)])
@pytest.mark.parametrize("stride", [(1, 1), (2, 1)])
def test_the_narrow_blocked_tile_agrees_where_it_differs(dtype, channels, stride):
    """Channels beyond one vector on both sides: "blocked" runs two-vector blocks,
    "blocked-narrow" one-vector ones; both against the reference, all three ops."""
    from convreg.testing import assert_close

    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2 * channels, 9, 8)).astype(dtype)
    w = rng.standard_normal((2 * channels, channels, 3, 2)).astype(dtype)
    kw = dict(stride=stride, padding=1, groups=2)
    ref = [a.astype(np.float64) for a in (x, w)]
    want = convreg.conv2d(*ref, backend="reference", **kw)
    g = rng.standard_normal(want.shape).astype(dtype)
    want_dx = convreg.conv2d_grad_input(g.astype(np.float64), ref[1], x.shape,
                                        backend="reference", **kw)
    want_dw = convreg.conv2d_grad_weight(ref[0], g.astype(np.float64), w.shape,
                                         backend="reference", **kw)
    for how in ("blocked", "blocked-narrow"):
        with planner.force(how):
            y = convreg.conv2d(x, w, **kw)
            dx = convreg.conv2d_grad_input(g, w, x.shape, **kw)
            dw = convreg.conv2d_grad_weight(x, g, w.shape, **kw)
        scale = float(np.abs(x).max() * np.abs(w).max())
        assert_close(y, want, dtype=dtype, scale=scale, terms=w[0].size)
        assert_close(dx, want_dx, dtype=dtype, scale=float(np.abs(g).max() * np.abs(w).max()),
                     terms=w.shape[0] * 6)
        assert_close(dw, want_dw, dtype=dtype, scale=float(np.abs(g).max() * np.abs(x).max()),
                     terms=g[:, 0].size)


# -- wisdom ---------------------------------------------------------------------


def _measured_fake_plan(calls):
    planner.set_planner("measure", min_work=0)
    planner.run("op", ("op", (3, 4), "f"), _fakes(calls), ("slow", "fast"), lambda: "slow", 10,
                (1,))
    return planner.plans()[("op", (3, 4), "f")]


def test_wisdom_saved_and_loaded_skips_the_measuring(tmp_path):
    calls: list[str] = []
    plan = _measured_fake_plan(calls)
    path = tmp_path / "wisdom.json"
    assert planner.save_wisdom(path) == 1
    planner.clear()
    assert planner.load_wisdom(path) == 1
    calls.clear()
    planner.run("op", ("op", (3, 4), "f"), _fakes(calls), ("slow", "fast"), lambda: "slow", 10,
                (1,))
    assert calls == ["fast"]  # no timing: the wisdom's choice ran once
    assert planner.plans()[("op", (3, 4), "f")] == plan
    planner.set_planner("estimate")  # a change of mode drops plans, not wisdom
    planner.set_planner("measure", min_work=0)
    calls.clear()
    planner.run("op", ("op", (3, 4), "f"), _fakes(calls), ("slow", "fast"), lambda: "slow", 10,
                (1,))
    assert calls == ["fast"]


def test_wisdom_is_ignored_by_the_rules_and_dropped_where_not_admissible(tmp_path):
    _measured_fake_plan([])
    path = tmp_path / "wisdom.json"
    planner.save_wisdom(path)
    for mode in ("estimate", "off"):
        planner.set_planner(mode)
        planner.clear()
        planner.load_wisdom(path)
        calls: list[str] = []
        planner.run("op", ("op", (3, 4), "f"), _fakes(calls), ("slow", "fast"), lambda: "slow",
                    10, (1,))
        assert calls == ["slow"], mode  # the rules, not the wisdom
    planner.set_planner("measure", min_work=1 << 40)  # nothing measured from here on
    planner.load_wisdom(path)
    calls = []
    planner.run("op", ("op", (3, 4), "f"), _fakes(calls), ("slow",), lambda: "slow", 10, (1,))
    assert calls == ["slow"]  # "fast" is not admissible here: the wisdom's plan is dropped


def test_wisdom_from_another_cpu_or_not_wisdom_is_refused(tmp_path):
    _measured_fake_plan([])
    path = tmp_path / "wisdom.json"
    planner.save_wisdom(path)
    data = json.loads(path.read_text())
    data["cpu"] = "Some Other CPU"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="measured on 'Some Other CPU'"):
        planner.load_wisdom(other)
    for text in ("not json", json.dumps({"plans": []})):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(ValueError, match="not convreg wisdom"):
            planner.load_wisdom(tmp_path / "bad.json")
    # a damaged entry is skipped, the others load
    data = json.loads(path.read_text())
    data["plans"].append({"signature": [1.5], "op": "op", "algorithm": "fast", "times": []})
    path.write_text(json.dumps(data))
    assert planner.load_wisdom(path) == 1


def test_convreg_wisdom_makes_a_later_process_choose_alike_without_timing(tmp_path):
    path = tmp_path / "wisdom.json"
    measure = ("import numpy as np, convreg\n"
               "convreg.set_planner('measure', min_work=0)\n"
               "x, w = np.ones((2, 8, 12, 12), np.float32), np.ones((16, 8, 3, 3), np.float32)\n"
               "convreg.conv2d(x, w, padding=1)\n")
    first = subprocess.run([sys.executable, "-c", measure +
                            f"print(convreg.planner.save_wisdom({str(path)!r}))\n"
                            "print([p.algorithm for p in convreg.planner.plans().values()])"],
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    saved, chosen = first.stdout.splitlines()
    assert saved == "1"
    env = {**os.environ, "CONVREG_WISDOM": str(path)}
    second = subprocess.run([sys.executable, "-c", "import logging\n"
                             "logging.basicConfig(level=logging.DEBUG)\n" + measure +
                             "print([p.algorithm for p in convreg.planner.plans().values()])"],
                            capture_output=True, text=True, timeout=120, env=env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == chosen
    assert "(wisdom)" in second.stderr and "measured" not in second.stderr
    (tmp_path / "bad.json").write_text("{}")
    bad = subprocess.run([sys.executable, "-c", "import convreg"], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "CONVREG_WISDOM": str(tmp_path / "bad.json")})
    assert bad.returncode == 0 and "CONVREG_WISDOM" in bad.stderr and "not convreg wisdom" in bad.stderr

"""The benchmark command runs and reports; its timings are never asserted."""

from __future__ import annotations

import subprocess
import sys

import pytest

import convreg
from convreg import bench


def test_bench_command_prints_the_table():
    out = subprocess.run(
        [sys.executable, "-m", "convreg", "bench", "--group", "chapter", "--threads", "1",
         "--repeats", "1", "--min-time", "0.001"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "| chapter 6x8 * 1x2 | corr2d | 1 |" in out.stdout
    assert "convreg:cython" in out.stdout and "x scipy.signal" in out.stdout
    assert "NumPy" in out.stdout and "float32" in out.stdout


def test_bench_times_only_the_backends_named():
    out = subprocess.run(
        [sys.executable, "-m", "convreg", "bench", "--group", "chapter", "--threads", "1",
         "--repeats", "1", "--min-time", "0.001", "--backend", "reference"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "convreg:reference" in out.stdout and "convreg:cython" not in out.stdout
    assert "x scipy.signal" in out.stdout  # the peers are still timed


def test_bench_rejects_an_unknown_backend():
    out = subprocess.run([sys.executable, "-m", "convreg", "bench", "--backend", "nosuch"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no available backend named nosuch" in out.stderr
    assert "reference" in out.stderr  # it lists what is available


def test_bench_rejects_an_unknown_group():
    out = subprocess.run([sys.executable, "-m", "convreg", "bench", "--group", "nosuch"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no case group named nosuch; groups: " in out.stderr


def test_bench_takes_groups_as_a_comma_list_and_writes_no_bar_to_a_file():
    out = subprocess.run([sys.executable, "-m", "convreg", "bench", "--group", "chapter,image",
                          "--threads", "1", "--repeats", "1", "--min-time", "0.001",
                          "--backend", "cython"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "chapter" in out.stdout and "image" in out.stdout
    assert "\r" not in out.stderr and "convreg bench" not in out.stderr  # stderr is not a terminal


@pytest.mark.parametrize("case", bench.CASES, ids=lambda c: c.name)
def test_case_flop_counts(case):
    """FLOPs are those of the direct definition: 2 per multiply-add."""
    if case.kind == "image":
        (H, W), (kh, kw) = case.x, case.w
        assert case.flops() == 2 * (H - kh + 1) * (W - kw + 1) * kh * kw
    else:
        N, C, H, W = case.x
        O, _, kh, kw = case.w
        oh = (H + 2 * case.padding - kh) // case.stride + 1
        ow = (W + 2 * case.padding - kw) // case.stride + 1
        assert case.flops() == 2 * N * O * oh * ow * C * kh * kw


def test_measure_takes_the_median():
    calls = []
    t = bench.measure(lambda: calls.append(1), repeats=3, min_time=0.0)
    assert t >= 0 and len(calls) == 2 + 3  # two warm-up calls, then one call per repeat


def test_measure_together_alternates_the_runs_and_rotates_their_order():
    order: list[str] = []
    fns = {name: (lambda name=name: order.append(name)) for name in "abc"}
    seconds = bench.measure_together(fns, repeats=4, min_time=0.0)
    assert sorted(seconds) == ["a", "b", "c"] and all(s >= 0 for s in seconds.values())
    # Two warm-up calls each, then one run of one call per function a round,
    # each round starting one later: a machine's drift reaches every function.
    assert order[:6] == ["a", "a", "b", "b", "c", "c"]
    assert order[6:] == list("abc" "bca" "cab" "abc")


def test_the_bench_times_each_rows_implementations_together(monkeypatch):
    together = []

    def fake(fns, *, repeats, min_time):
        together.append(sorted(fns))
        return {name: 1e-3 for name in fns}

    monkeypatch.setattr(bench, "measure_together", fake)
    monkeypatch.setattr(bench, "peak_gflops", lambda repeats: 100.0)
    torch = bench._torch()
    torch_threads = torch.get_num_threads() if torch is not None else None
    threads = convreg.get_num_threads()
    case = next(c for c in bench.CASES if c.group == "chapter" and c.kind == "layer")
    rows = bench.run([case], [1, 3], repeats=1, min_time=0.0, progress=False,
                     backends=["reference"])
    assert {(r.op, r.threads) for r in rows} == {(op, n) for op in ("forward", "grad_input",
                                                                    "grad_weight") for n in (1, 3)}
    for names in together:  # convreg's backend and every installed peer, in one call
        assert "convreg:reference" in names
        assert len(names) == 1 + ("torch" in names)
    # Every thread count is put back: PyTorch's too, which a later torch op would
    # otherwise hand on to OpenMP's default and so to convreg's.
    assert convreg.get_num_threads() == threads
    if torch is not None:
        assert torch.get_num_threads() == torch_threads
        torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2))
        assert convreg.get_num_threads() == threads

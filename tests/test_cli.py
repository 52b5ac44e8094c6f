"""The command line, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import convreg


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "convreg", *args], capture_output=True,
                          text=True, timeout=600)


def test_info_lists_every_backend():
    out = run("info")
    assert out.returncode == 0, out.stderr
    for b in convreg.backends():
        assert b.name in out.stdout and b.reason in out.stdout
    assert "OpenMP:" in out.stdout and "threads per call:" in out.stdout
    assert f"convreg {convreg.__version__}" in out.stdout


def test_demo_runs_the_chapter_and_backends_agree():
    out = run("demo")
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "[[19.0, 25.0], [37.0, 43.0]]" in text
    assert "each row: [0.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0]" in text
    assert "all zero = True" in text
    assert "[[56.0, 72.0], [104.0, 120.0]]" in text
    assert ("2x2 max pooling of 0..8, stride 1 (by default the stride is the window, as in "
            "PyTorch): [[4.0, 5.0], [7.0, 8.0]]") in text
    assert "2x2 average pooling of 0..8, stride 1: [[2.0, 3.0], [5.0, 6.0]]" in text
    assert "[[5.0, 7.0], [13.0, 15.0]]" in text
    assert "(1, 512, 7, 7)" in text
    assert "DIFFER" not in text and "every backend agreed" in text
    for b in convreg.backends():
        if b.available:
            assert f"{b.name} agrees" in text
    # the learned kernel lands near [1, -1]
    learned = text.split("learned kernel: [[")[1].split("]]")[0]
    a, b = (float(v) for v in learned.split(","))
    assert abs(a - 1) < 0.05 and abs(b + 1) < 0.05


def test_demo_on_one_backend():
    out = run("demo", "--backend", "reference")
    assert out.returncode == 0 and "cython agrees" not in out.stdout


def test_demo_refuses_an_unknown_backend():
    out = run("demo", "--backend", "nosuch")
    assert out.returncode != 0 and "not available: nosuch" in out.stderr


def test_console_script_and_help():
    out = run("--help")
    assert out.returncode == 0 and "demo" in out.stdout and "info" in out.stdout

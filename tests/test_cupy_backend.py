"""The cupy backend: its array-generic algorithms on the CPU (NumPy as the array module),
its availability reasons, its CUDA source, and the conformance kit on a GPU when present."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import numpy as np
import pytest

import convreg
from convreg import registry
from convreg.plugins import cupy as cupy_plugin
from convreg.testing import check

LOOPBACK = '''
import numpy as np
from convreg.hookspecs import hookimpl
from convreg.plugins.cupy import ArrayModuleOps

class Loopback(ArrayModuleOps):
    """The cupy backend's algorithms with NumPy as the array module."""
    name = "cupy-on-numpy"
    api_version = 1
    priority = -10
    array_types = (np.ndarray,)

    def __init__(self):
        super().__init__(np)

    def available(self):
        return True, "the cupy backend's code on the CPU"

@hookimpl
def convreg_backends():
    return [Loopback()]
'''


def test_the_gpu_algorithms_pass_the_conformance_kit_on_the_cpu(make_plugin):
    make_plugin("loopbackdist", LOOPBACK)
    registry.load(reload=True)
    results = check("cupy-on-numpy", max_examples=40)
    failures = {r.op: r.failure for r in results if r.status != "pass"}
    assert not failures, failures
    assert {r.op for r in results} == set(registry.OPS)


def test_cupy_is_listed_with_a_reason_when_it_cannot_run():
    info = next(b for b in convreg.backends() if b.name == "cupy")
    assert info.source == "built in" and set(info.ops) == set(registry.OPS)
    if cupy_plugin.cupy is None:
        assert not info.available and "pip install 'convreg[cupy]'" in info.reason


class _FakeRuntime:
    def __init__(self, count=None, error=None):
        self.count, self.error = count, error

    def getDeviceCount(self):
        if self.error:
            raise self.error
        return self.count


class _FakeCupy:
    __version__ = "99.0"
    ndarray = type("ndarray", (), {})

    def __init__(self, runtime):
        self.cuda = type("cuda", (), {"runtime": runtime})


@pytest.mark.parametrize("cupy, expected", [
    (None, "CuPy is not installed"),
    (_FakeCupy(_FakeRuntime(error=RuntimeError("cudaErrorInsufficientDriver"))),
     "the CUDA driver did not answer: cudaErrorInsufficientDriver"),
    (_FakeCupy(_FakeRuntime(count=0)), "no CUDA device is visible"),
])
def test_availability_reasons(monkeypatch, cupy, expected):
    monkeypatch.setattr(cupy_plugin, "cupy", cupy)
    ok, reason = cupy_plugin.CupyBackend.available(object.__new__(cupy_plugin.CupyBackend))
    assert not ok and expected in reason


def test_numpy_arrays_sent_to_cupy_by_name_are_refused():
    with pytest.raises(convreg.BackendError, match="backend 'cupy'"):
        convreg.corr2d(np.ones((3, 3)), np.ones((2, 2)), backend="cupy")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (CUDA toolkit) not installed")
def test_the_tiled_kernel_compiles(tmp_path):
    source = pathlib.Path(cupy_plugin.__file__).with_name("_corr2d_tiled.cu").read_text()
    unit = tmp_path / "unit.cu"
    unit.write_text(source + "\ntemplate __global__ void corr2d_tiled<float>(const float*, "
                    "const float*, float*, long long, long long, int, int, long long, long long);"
                    "\ntemplate __global__ void corr2d_tiled<double>(const double*, const double*,"
                    " double*, long long, long long, int, int, long long, long long);\n")
    out = subprocess.run(["nvcc", "-c", "-std=c++17", str(unit), "-o", str(tmp_path / "u.o")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr


@pytest.mark.skipif(not next(b for b in convreg.backends() if b.name == "cupy").available,
                    reason="no usable CUDA device here: the GPU conformance run is owed")
def test_conformance_kit_on_the_gpu():
    import cupy

    results = check("cupy", max_examples=40)
    assert all(r.status == "pass" for r in results), [r for r in results if r.status != "pass"]
    X = cupy.arange(9.0).reshape(3, 3)
    assert isinstance(convreg.corr2d(X, cupy.asarray([[0.0, 1.0], [2.0, 3.0]])), cupy.ndarray)
    assert convreg.get_backend("corr2d", cupy.ndarray) == "cupy"


GPU_BENCHMARK = pathlib.Path(__file__).parents[1] / "benchmarks" / "gpu.py"


@pytest.mark.skipif(next(b for b in convreg.backends() if b.name == "cupy").available,
                    reason="a GPU is here: run benchmarks/gpu.py itself and record it")
def test_the_gpu_benchmark_refuses_without_a_gpu_and_says_why():
    """Where no GPU is usable the benchmark times nothing, writes nothing and exits 2
    with the reason (so no GPU figure can come from a machine without one)."""
    import sys

    out = subprocess.run([sys.executable, str(GPU_BENCHMARK)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2, out
    assert out.stdout == ""
    assert "needs CuPy and a CUDA device" in out.stderr
    reason = next(b for b in convreg.backends() if b.name == "cupy").reason
    assert "CuPy does not import" in out.stderr or reason in out.stderr

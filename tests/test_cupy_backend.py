"""The cupy backend without a GPU, as far as a CPU can take it, and on a GPU when present.

- its array-generic algorithms with NumPy as the array module (``cupy-on-numpy``);
- the backend class itself, its CUDA sources and their launch configuration,
  with NumPy arrays and the CPU emulator of CUDA launches (``cupy-emulated``,
  tests/cuda_emulator.py), also under AddressSanitizer;
- its availability reasons, nvcc compiling its sources, and the benchmark's refusal;
- the conformance kit on the real ``cupy`` backend where a device is usable.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import shutil
import subprocess
import sys

import cuda_emulator
import numpy as np
import pytest
from conftest import assert_close

import convreg
from convreg import registry
from convreg.plugins import cupy as cupy_plugin
from convreg.testing import check, scale

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


EMULATED = '''
import numpy as np
import cuda_emulator
from convreg.hookspecs import hookimpl
from convreg.plugins.cupy import CupyBackend

class Emulated(CupyBackend):
    """The cupy backend's own class, CUDA kernels included, on NumPy arrays and the CPU."""
    name = "cupy-emulated"
    priority = -10
    array_types = (np.ndarray,)

    def __init__(self):
        super().__init__(cuda_emulator.nan_filled_numpy(), cuda_emulator.RawModule)

    def available(self):
        return True, "the cupy backend with its CUDA kernels emulated on the CPU"

@hookimpl
def convreg_backends():
    return [Emulated()]
'''

needs_cxx = pytest.mark.skipif(cuda_emulator.compiler() is None,
                               reason="no C++ compiler (g++ or $CXX) for the CUDA emulator")


@pytest.fixture
def emulated(make_plugin):
    """The ``cupy-emulated`` backend object, registered as a plugin."""
    make_plugin("emulateddist", EMULATED)
    registry.load(reload=True)
    return registry._registry.entries["cupy-emulated"].backend


def _launches(backend, kernel):
    return sum(k.launches for (name, _), k in backend._kernels.items() if name == kernel)


@needs_cxx
def test_the_gpu_backend_with_its_kernels_emulated_passes_the_conformance_kit(emulated):
    results = check("cupy-emulated", max_examples=25)
    failures = {r.op: r.failure for r in results if r.status != "pass"}
    assert not failures, failures
    assert {r.op for r in results} == set(registry.OPS)
    # the kit reached every CUDA kernel, not only the array-module fallbacks
    assert all(_launches(emulated, k) > 0 for k in cupy_plugin._KERNELS), emulated._kernels


# x shape, weight shape, stride, padding, dilation, groups: each crosses an edge of the
# direct kernel's tiling (partial tiles, a second channel block, groups, even 'same').
DIRECT_LAYERS = [
    ((2, 1, 28, 28), (6, 1, 5, 5), 1, 2, 1, 1),  # LeNet's first layer at batch 2
    ((2, 6, 14, 14), (16, 6, 5, 5), 1, 0, 1, 1),  # LeNet's second: two blocks of 8 outputs
    ((1, 3, 33, 17), (9, 3, 3, 3), 2, 1, 1, 1),  # partial tiles, stride 2, 8 + 1 outputs
    ((2, 6, 20, 21), (12, 2, 3, 3), (1, 2), (3, 1), 2, 3),  # groups, dilation, uneven stride
    ((1, 4, 9, 40), (4, 1, 3, 4), 1, "same", 1, 4),  # depthwise; even kernel: asymmetric pad
    ((3, 2, 5, 5), (2, 2, 5, 5), 1, 0, 1, 1),  # kernel the size of the input: one pixel
]


@needs_cxx
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", DIRECT_LAYERS)
def test_the_direct_kernel_agrees_with_the_reference(emulated, dtype, x_shape, w_shape, stride,
                                                     padding, dilation, groups):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    pair = (stride, stride) if isinstance(stride, int) else stride
    dil = (dilation, dilation)
    assert cupy_plugin.algorithm(x_shape, w_shape, pair, dil, x.itemsize) == "direct"
    before = _launches(emulated, "conv2d_direct")
    y = convreg.conv2d(x, w, b, backend="cupy-emulated", **args)
    assert _launches(emulated, "conv2d_direct") == before + 1
    expected = convreg.conv2d(x, w, b, backend="reference", **args)
    assert_close(y, expected, dtype=dtype, scale=scale(x, w) + scale(b),
                 terms=w[0].size + 1)


@needs_cxx
def test_batches_past_the_grid_limit_are_launched_in_slices(emulated, monkeypatch):
    monkeypatch.setattr(cupy_plugin, "_GRID_YZ_LIMIT", 2)  # CUDA's is 65535 images
    x = np.random.default_rng(1).standard_normal((5, 2, 6, 7))
    w = np.random.default_rng(2).standard_normal((3, 2, 3, 3))
    y = convreg.conv2d(x, w, padding=1, backend="cupy-emulated")
    assert _launches(emulated, "conv2d_direct") == 3  # images 0-1, 2-3, 4
    assert_close(y, convreg.conv2d(x, w, padding=1, backend="reference"), dtype=np.float64,
                 scale=scale(x, w), terms=w[0].size)


@needs_cxx
def test_images_past_the_grid_x_limit_take_the_generic_path(emulated, monkeypatch):
    monkeypatch.setattr(cupy_plugin, "_GRID_X_LIMIT", 3)  # CUDA's is 2^31 - 1 tiles
    x = np.random.default_rng(4).standard_normal((1, 2, 40, 40))
    w = np.random.default_rng(5).standard_normal((3, 2, 3, 3))
    y = convreg.conv2d(x, w, backend="cupy-emulated")  # 3 x 3 tiles of 16^2 outputs
    assert _launches(emulated, "conv2d_direct") == 0
    assert_close(y, convreg.conv2d(x, w, backend="reference"), dtype=np.float64,
                 scale=scale(x, w), terms=w[0].size)


@needs_cxx
@pytest.mark.parametrize("k, tiled", [(3, True), (40, True), (90, False)])
def test_the_tiled_kernel_and_its_fallback_for_kernels_past_shared_memory(emulated, k, tiled):
    """(16 + k - 1)^2 doubles must fit 48 KiB: k = 90 takes the array-module path."""
    rng = np.random.default_rng(k)
    X, K = rng.standard_normal((100, 70)), rng.standard_normal((k, k // 2 + 1))
    for mode in ("valid", "full"):
        if mode == "valid" and k > 70:
            continue
        Y = convreg.corr2d(X, K, mode=mode, backend="cupy-emulated")
        assert_close(Y, convreg.corr2d(X, K, mode=mode, backend="cython"), dtype=np.float64,
                     scale=scale(X, K), terms=K.size)
    assert (_launches(emulated, "corr2d_tiled") > 0) == tiled


# kernel, stride, padding, dilation, ceil_mode
POOLS = [
    ((2, 2), (2, 2), (0, 0), (1, 1), False),  # the chapter's 2x2
    ((3, 3), (1, 1), (1, 1), (1, 1), False),  # overlapping windows over padding
    ((3, 2), (2, 3), (1, 0), (2, 1), True),  # ceil_mode windows past the edge, dilation
]


def _pooling_agrees(backend, dtype, kernel, stride, padding, dilation, ceil_mode):
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, size=(2, 3, 11, 10)).astype(dtype)  # ties: the first maximum
    x[0, 0, 1, 1:5] = np.nan  # several NaNs in a window: the first NaN takes the gradient
    window = dict(kernel_size=kernel, stride=stride, padding=padding)
    on = dict(backend=backend)
    y = convreg.max_pool2d(x, dilation=dilation, ceil_mode=ceil_mode, **window, **on)
    expected = convreg.max_pool2d(x, dilation=dilation, ceil_mode=ceil_mode, **window)
    np.testing.assert_array_equal(y, expected)  # a maximum is exact, NaN where NaN
    g = rng.standard_normal(y.shape).astype(dtype)
    dx = convreg.max_pool2d_grad(g, x, dilation=dilation, ceil_mode=ceil_mode, **window, **on)
    windows_per_input = -(-kernel[0] // stride[0]) * -(-kernel[1] // stride[1])
    assert_close(dx, convreg.max_pool2d_grad(g, x, dilation=dilation, ceil_mode=ceil_mode,
                                             **window, backend="reference"),
                 dtype=dtype, scale=scale(g), terms=windows_per_input)
    x = np.nan_to_num(x)
    for include in (True, False):
        avg = dict(ceil_mode=ceil_mode, count_include_pad=include, **window)
        y = convreg.avg_pool2d(x, **avg, **on)  # no dilation: its own output shape
        assert_close(y, convreg.avg_pool2d(x, **avg, backend="reference"), dtype=dtype,
                     scale=scale(x), terms=x[0, 0, :kernel[0], :kernel[1]].size)
        g = rng.standard_normal(y.shape).astype(dtype)
        dx = convreg.avg_pool2d_grad(g, x.shape, **avg, **on)
        assert_close(dx, convreg.avg_pool2d_grad(g, x.shape, **avg, backend="reference"),
                     dtype=dtype, scale=scale(g), terms=windows_per_input)


@needs_cxx
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil_mode", POOLS)
def test_the_pooling_kernels_agree_with_the_reference(emulated, dtype, kernel, stride, padding,
                                                      dilation, ceil_mode):
    _pooling_agrees("cupy-emulated", dtype, kernel, stride, padding, dilation, ceil_mode)
    pools = ("max_pool2d", "max_pool2d_grad", "avg_pool2d", "avg_pool2d_grad")
    assert all(_launches(emulated, k) > 0 for k in pools)


@needs_cxx
@pytest.mark.parametrize("backend", ["cupy-emulated", "cupy-on-numpy"])
def test_max_pooling_of_minus_infinity_routes_to_the_image_not_the_padding(
        emulated, make_plugin, backend):
    """Windows whose elements are all -inf tie with the -inf padding: the gradient still goes
    to the first element inside the image (the array-module path once gave it to padding)."""
    make_plugin("loopbackdist", LOOPBACK)
    registry.load(reload=True)
    x = np.full((1, 2, 4, 5), -np.inf)
    x[0, 1, 2, 3] = 1.0
    g = np.arange(1.0, 41.0).reshape(1, 2, 4, 5)
    dx = convreg.max_pool2d_grad(g, x, 3, stride=1, padding=1, backend=backend)
    np.testing.assert_array_equal(
        dx, convreg.max_pool2d_grad(g, x, 3, stride=1, padding=1, backend="reference"))
    assert dx.sum() == g.sum()  # no window's gradient is lost


@needs_cxx
def test_the_pooling_kernels_loop_past_their_grid(emulated, monkeypatch):
    """One block of 256 threads covers all 660 elements of each array (grid-stride loop)."""
    monkeypatch.setattr(cupy_plugin, "_POOL_MAX_BLOCKS", 1)
    _pooling_agrees("cupy-emulated", np.float64, *POOLS[1])


@pytest.mark.parametrize("x_shape, w_shape, stride, dilation, expected", [
    ((256, 1, 28, 28), (6, 1, 5, 5), (1, 1), (1, 1), "direct"),  # LeNet
    ((256, 6, 14, 14), (16, 6, 5, 5), (1, 1), (1, 1), "direct"),
    ((64, 64, 56, 56), (64, 64, 3, 3), (1, 1), (1, 1), "im2col"),  # VGG
    ((64, 256, 28, 28), (64, 256, 1, 1), (1, 1), (1, 1), "im2col"),  # 1x1
    ((8, 3, 32, 32), (17, 3, 3, 3), (1, 1), (1, 1), "im2col"),  # 17 outputs per group
    ((8, 57, 32, 32), (8, 57, 3, 3), (1, 1), (1, 1), "im2col"),  # 513 products per output
    ((8, 64, 32, 32), (64, 1, 3, 3), (1, 1), (1, 1), "direct"),  # depthwise
    ((1, 1, 900, 900), (1, 1, 3, 3), (1, 1), (100, 100), "im2col"),  # patch past 48 KiB
    ((1, 1, 900, 900), (1, 1, 3, 3), (4, 4), (1, 1), "direct"),  # 64 x 64 x 4 B patch
    ((1, 70000, 8, 8), (70000, 1, 3, 3), (1, 1), (1, 1), "im2col"),  # 70000 groups: grid.y
])
def test_the_algorithm_choice(x_shape, w_shape, stride, dilation, expected):
    assert cupy_plugin.algorithm(x_shape, w_shape, stride, dilation, 4) == expected


ASAN = subprocess.run([cuda_emulator.compiler(), "-print-file-name=libasan.so"],
                      capture_output=True, text=True).stdout.strip() \
    if cuda_emulator.compiler() else ""  # the runtime of the compiler that builds the kernels
needs_asan = pytest.mark.skipif(not os.path.isabs(ASAN),
                                reason="g++ has no AddressSanitizer runtime (libasan)")


def _under_asan(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, LD_PRELOAD=ASAN, ASAN_OPTIONS="detect_leaks=0",
               CONVREG_EXPECT_ASAN="1")
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=pathlib.Path(__file__).parents[1], timeout=600)


@needs_cxx
@needs_asan
def test_the_cuda_kernels_under_address_sanitizer():
    """The emulated-kernel tests again, kernels and guards instrumented: any access out of
    an array or past the shared memory asked aborts the run with ASan's report."""
    out = _under_asan("-m", "pytest", "-q", "-p", "no:cacheprovider", __file__,
                      "-k", "direct_kernel_agrees or slices or tiled_kernel_and or pooling_kernels")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-8000:]
    assert " passed" in out.stdout and "skipped" not in out.stdout


@needs_cxx
@needs_asan
def test_address_sanitizer_reports_a_kernel_that_reads_out_of_bounds():
    script = (
        "import numpy as np, sys; sys.path.insert(0, 'tests')\n"
        "from cuda_emulator import RawModule, under_asan\n"
        "assert under_asan()\n"
        "m = RawModule(code='__global__ void f(const float* a, float* b) "
        "{ b[threadIdx.x] = a[threadIdx.x + 1]; }', name_expressions=('f',))\n"
        "m.get_function('f')((1,), (4,), (np.ones(4, np.float32), np.ones(4, np.float32)))\n")
    out = _under_asan("-c", script)
    assert out.returncode != 0 and "AddressSanitizer" in out.stderr, out.stderr[-4000:]
    assert "kernel.cu:1" in out.stderr  # the report points at the kernel's source line


def test_emulated_runs_are_instrumented_when_asked():
    """The ASan run above sets CONVREG_EXPECT_ASAN; this keeps it from passing uninstrumented."""
    if os.environ.get("CONVREG_EXPECT_ASAN"):
        assert cuda_emulator.under_asan()


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


def test_numpy_arrays_sent_to_a_working_cupy_backend_are_told_to_move(monkeypatch):
    """As on a GPU machine (cupy available, taking only its own arrays): the error says
    to move the arrays with cupy.asarray, and nothing is copied silently."""
    registry.load()
    entry = registry._registry.entries["cupy"]
    device_array = type("ndarray", (), {"__module__": "cupy._core.core"})
    monkeypatch.setattr(entry, "info", dataclasses.replace(entry.info, available=True,
                                                           reason="a stand-in device"))
    monkeypatch.setattr(entry.backend, "array_types", (device_array,))
    monkeypatch.setattr(registry._registry, "cache", {})
    with pytest.raises(convreg.BackendError,
                       match=r"does not accept numpy\.ndarray .*cupy\.asarray\(\.\.\.\)"):
        convreg.corr2d(np.ones((3, 3)), np.ones((2, 2)), backend="cupy")
    with pytest.raises(convreg.BackendError, match="cupy.asarray"):
        with convreg.use_backend("cupy"):
            convreg.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)))
    # automatic selection never sends NumPy arrays to it
    assert convreg.get_backend("conv2d", np.ndarray) == "cython"


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (CUDA toolkit) not installed")
@pytest.mark.parametrize("source", sorted({f for f, _ in cupy_plugin._KERNELS.values()}))
def test_nvcc_compiles_each_cuda_source_for_hopper(tmp_path, source):
    """Every template instance the backend asks for, compiled for sm_90 (H100/H200):
    no errors, no warnings, and no register spills."""
    code = pathlib.Path(cupy_plugin.__file__).with_name(source).read_text()
    instances = ", ".join(f"(void*)&{i}" for i in cupy_plugin._instances(source).values())
    unit = tmp_path / "unit.cu"
    unit.write_text(f"{code}\nvoid* convreg_instances[] = {{{instances}}};\n")
    out = subprocess.run(["nvcc", "-c", "-std=c++17", "-arch=sm_90", "-Werror", "all-warnings",
                          "-Xptxas", "-v", str(unit), "-o", str(tmp_path / "u.o")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    spills = re.findall(r"(\d+) bytes spill (?:stores|loads)", out.stderr)
    # ptxas reports stores and loads for every instance; each count must be 0
    assert len(spills) == 2 * len(cupy_plugin._instances(source)), out.stderr
    assert set(spills) == {"0"}, out.stderr


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


@needs_cxx
@pytest.mark.parametrize("w_shape, kw", [((6, 4, 1, 1), {}), ((8, 2, 3, 3), {"stride": 2, "groups": 2}),
                                         ((32, 4, 3, 3), {"padding": 1})])
def test_an_empty_batch_works_for_every_op_on_the_gpu_backend(emulated, w_shape, kw):
    # The boundary issue's rule, checked on the GPU backend's own code: N = 0
    # gives PyTorch's shapes and launches nothing that could fail on a device.
    x, w = np.zeros((0, 4, 7, 7)), np.ones(w_shape)
    y = convreg.conv2d(x, w, backend="cupy-emulated", **kw)
    assert y.shape == convreg.conv2d(x, w, backend="reference", **kw).shape
    assert convreg.conv2d_grad_input(y, w, x.shape, backend="cupy-emulated", **kw).shape == x.shape
    assert convreg.conv2d_grad_weight(x, y, w.shape, backend="cupy-emulated", **kw).shape == w.shape
    for op, second in (("max_pool2d", x), ("avg_pool2d", x.shape)):
        p = getattr(convreg, op)(x, 3, 2, 1, backend="cupy-emulated")
        assert p.shape == (0, 4, 4, 4)
        assert getattr(convreg, op + "_grad")(p, second, 3, 2, 1,
                                              backend="cupy-emulated").shape == x.shape

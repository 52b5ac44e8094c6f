"""The CPU emulator of CUDA launches (cuda_emulator.py) that the cupy backend's tests
rely on: a correct kernel gives the right answer, and each check it promises fires
on a kernel with exactly that bug."""

from __future__ import annotations

import numpy as np
import pytest
from cuda_emulator import EmulatorError, RawModule, compiler

pytestmark = pytest.mark.skipif(compiler() is None, reason="no C++ compiler (g++ or $CXX)")

SOURCE = r"""
template <typename T>
__global__ void copy(const T* src, T* dst, long long n) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dst[i] = src[i];
}

// Each block reverses its slice through shared memory: needs the barrier.
__global__ void reverse_blocks(const float* src, float* dst) {
    extern __shared__ unsigned char shared_bytes[];
    float* s = reinterpret_cast<float*>(shared_bytes);
    const long long base = (long long)blockIdx.x * blockDim.x;
    s[threadIdx.x] = src[base + threadIdx.x];
    __syncthreads();
    dst[base + threadIdx.x] = s[blockDim.x - 1 - threadIdx.x];
}

__global__ void write_one_past(float* dst, long long n) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) dst[i] = 1.0f;  // the bug: <=
}

__global__ void read_one_past(const float* src, float* dst, long long n) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dst[i] = src[i + 1];  // the bug: the last thread reads src[n]
}

__global__ void return_before_barrier(float* dst) {
    extern __shared__ unsigned char shared_bytes[];
    float* s = reinterpret_cast<float*>(shared_bytes);
    if (threadIdx.x == 0) return;  // the bug: thread 0 leaves, the others wait for it
    s[threadIdx.x] = 1.0f;
    __syncthreads();
    dst[threadIdx.x] = s[threadIdx.x];
}

__global__ void overflow_shared(float* dst) {
    extern __shared__ unsigned char shared_bytes[];
    float* s = reinterpret_cast<float*>(shared_bytes);
    s[threadIdx.x + 1] = 1.0f;  // the bug: the launch asked for blockDim.x floats
    __syncthreads();
    dst[threadIdx.x] = s[threadIdx.x];
}

__global__ void read_unwritten_shared(float* dst) {
    extern __shared__ unsigned char shared_bytes[];
    float* s = reinterpret_cast<float*>(shared_bytes);
    if (threadIdx.x > 0) s[threadIdx.x] = 2.0f;  // the bug: s[0] is never written
    __syncthreads();
    dst[threadIdx.x] = s[threadIdx.x];
}
"""
NAMES = ("copy<float>", "copy<double>", "reverse_blocks", "write_one_past", "read_one_past",
         "return_before_barrier", "overflow_shared", "read_unwritten_shared")


@pytest.fixture(scope="module")
def module():
    return RawModule(code=SOURCE, name_expressions=NAMES)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_correct_kernel_over_several_blocks(module, dtype):
    src = np.arange(300, dtype=dtype)
    src.flags.writeable = False  # inputs stay untouched, read-only ones too
    dst = np.zeros_like(src)
    kernel = module.get_function("copy<float>" if dtype == np.float32 else "copy<double>")
    kernel((3,), (128,), (src, dst, np.int64(300)))  # the last block is partial
    np.testing.assert_array_equal(dst, src)
    size = np.dtype(dtype).itemsize
    assert kernel.parameters == (f"*f{size}", f"*f{size}", "i8")


def test_shared_memory_and_the_barrier(module):
    src = np.arange(96, dtype=np.float32)
    dst = np.empty_like(src)
    module.get_function("reverse_blocks")((3,), (32,), (src, dst), shared_mem=32 * 4)
    np.testing.assert_array_equal(dst, src.reshape(3, 32)[:, ::-1].ravel())


def test_a_write_out_of_bounds_is_caught(module):
    dst = np.zeros(100, np.float32)
    with pytest.raises(EmulatorError, match="wrote outside array argument 0"):
        module.get_function("write_one_past")((1,), (128,), (dst, np.int64(100)))


def test_a_read_out_of_bounds_reads_nan(module):
    src, dst = np.ones(100, np.float32), np.zeros(100, np.float32)
    module.get_function("read_one_past")((1,), (128,), (src, dst, np.int64(100)))
    assert np.isnan(dst[-1]) and not np.isnan(dst[:-1]).any()


def test_a_thread_that_skips_a_barrier_is_caught(module):
    with pytest.raises(EmulatorError, match="returned while others of its block reached"):
        module.get_function("return_before_barrier")((1,), (32,), (np.zeros(32, np.float32),),
                                                     shared_mem=32 * 4)


def test_a_write_past_the_shared_memory_asked_is_caught(module):
    with pytest.raises(EmulatorError, match="past the 128 bytes of dynamic shared memory"):
        module.get_function("overflow_shared")((1,), (32,), (np.zeros(32, np.float32),),
                                               shared_mem=32 * 4)


def test_unwritten_shared_memory_reads_nan(module):
    dst = np.zeros(32, np.float32)
    module.get_function("read_unwritten_shared")((1,), (32,), (dst,), shared_mem=32 * 4)
    assert np.isnan(dst[0]) and (dst[1:] == 2).all()


@pytest.mark.parametrize("args, match", [
    ((np.ones(4, np.float32), np.ones(4, np.float32), np.int32(4)),
     "a scalar of dtype int32 does not match"),
    ((np.ones(4, np.float32), np.ones(4, np.float32), 4), "pass a NumPy scalar"),
    ((np.ones(4), np.ones(4, np.float32), np.int64(4)), "an array of dtype float64 does not match"),
    ((np.ones(4, np.float32), np.float32(1), np.int64(4)), "is a pointer: pass an array"),
    ((np.ones((4, 2), np.float32)[:, 0], np.ones(4, np.float32), np.int64(4)), "not C-contiguous"),
    ((np.ones(4, np.float32), np.ones(4, np.float32)), "takes 3 arguments, got 2"),
])
def test_arguments_must_match_the_kernel_parameters(module, args, match):
    with pytest.raises(EmulatorError, match=match):
        module.get_function("copy<float>")((1,), (4,), args)


def test_a_write_into_a_read_only_array_is_caught(module):
    dst = np.zeros(4, np.float32)
    dst.flags.writeable = False
    with pytest.raises(EmulatorError, match="a read-only input"):
        module.get_function("copy<float>")((1,), (4,), (np.ones(4, np.float32), dst,
                                                        np.int64(4)))


@pytest.mark.parametrize("grid, block, shared, match", [
    ((1,), (33, 32), 0, "illegal block"),
    ((1, 65536), (32,), 0, "illegal grid"),
    ((0,), (32,), 0, "illegal grid"),
    ((1,), (32,), 48 * 1024 + 1, "49153 bytes of dynamic shared memory"),
])
def test_launches_beyond_cuda_limits_are_refused(module, grid, block, shared, match):
    a = np.ones(32, np.float32)
    with pytest.raises(EmulatorError, match=match):
        module.get_function("copy<float>")(grid, block, (a, a.copy(), np.int64(32)),
                                           shared_mem=shared)


def test_an_unknown_kernel_name_is_refused(module):
    with pytest.raises(EmulatorError, match="not among the module's name_expressions"):
        module.get_function("copy<int>")


def test_a_source_that_does_not_compile_says_why():
    with pytest.raises(EmulatorError, match="could not compile"):
        RawModule(code="__global__ void broken(float* x) { x[0] = undeclared; }",
                  name_expressions=("broken",))

"""A stand-in for ``cupy.RawModule`` that runs convreg's CUDA sources on the CPU.

The cupy backend compiles its ``.cu`` files with ``cupy.RawModule`` and
launches them as ``kernel(grid, block, args, shared_mem=...)``. On a machine
without a GPU the tests hand the backend :class:`RawModule` from here
instead: the same source is compiled by g++ with ``cuda_emulator.h`` in front
of it (blocks run one after another, each block's threads as real threads
with a real barrier) and launched with the same call, NumPy arrays standing
for device arrays. So the kernels' index arithmetic, tiling, barriers and
launch configuration are exercised everywhere; only the GPU's speed and its
memory model beyond one block are not.

Checks made on every launch, each an error a GPU would not report:

- every argument matches its kernel parameter: a NumPy array for a pointer
  parameter, of the pointee's dtype kind and size (``float*`` takes float32
  only); a NumPy scalar for a value parameter, of the same kind and size
  (``long long`` takes ``np.int64``, not ``np.int32``). CuPy passes what it
  is given, so a mismatch there silently reads the wrong bytes;
- every array is C-contiguous (the kernels index it as such);
- every array is copied into a buffer with ``GUARD`` bytes of 0xFF on each
  side; after the launch the guards must be intact (else: an out-of-bounds
  write), and a read out of bounds reads NaN, which shows in the result;
- the launch limits, shared-memory canary and early-return rule of
  ``cuda_emulator.h``.

After the launch the arrays the kernel changed are copied back, so outputs
land where CuPy's kernel would have written them (and a write into a
read-only input is an error).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import pathlib
import shutil
import subprocess
import tempfile
import types
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["EmulatorError", "RawKernel", "RawModule", "compiler", "nan_filled_numpy",
           "under_asan"]

HEADER = pathlib.Path(__file__).with_name("cuda_emulator.h")
GUARD = 4096  # bytes of 0xFF (NaN as float and double) on each side of every array
FLAGS = ("-std=c++20", "-O1", "-g", "-fPIC", "-shared", "-pthread", "-Wall", "-Werror",
         "-Wno-unknown-pragmas")  # CUDA's #pragma unroll


class EmulatorError(RuntimeError):
    """A launch that would be wrong on a GPU (bad arguments, limits, memory bounds)."""


def compiler() -> str | None:
    """The C++ compiler the emulator uses ($CXX, else g++), or None when there is none."""
    return shutil.which(os.environ.get("CXX", "g++"))


def nan_filled_numpy() -> types.SimpleNamespace:
    """NumPy as an array module whose ``empty`` is filled with NaN.

    A backend that allocates its output with ``xp.empty`` and leaves an
    element unwritten then returns NaN there instead of whatever the
    allocator happened to hold, so the comparison with the reference fails.
    """
    xp = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    xp.empty = lambda shape, dtype=float, order="C": np.full(shape, np.nan, dtype, order=order)
    return xp


@functools.cache
def under_asan() -> bool:
    """True when this process runs with AddressSanitizer's runtime (LD_PRELOAD=libasan.so)."""
    return hasattr(ctypes.CDLL(None), "__asan_init")


def _poison(regions: Sequence[tuple[int, int]], poison: bool) -> None:
    """Mark ``(address, size)`` regions unaddressable (or addressable again) under ASan."""
    if not under_asan():
        return
    runtime = ctypes.CDLL(None)
    mark = runtime.__asan_poison_memory_region if poison else runtime.__asan_unpoison_memory_region
    for address, size in regions:
        mark(ctypes.c_void_p(address), ctypes.c_size_t(size))


def _build(code: str, names: Sequence[str]) -> ctypes.CDLL:
    """Compile ``code`` with one launch and one signature function per name expression.

    Under AddressSanitizer the library is instrumented too, so each
    out-of-bounds access in a kernel is reported with its line.
    """
    flags = FLAGS + (("-fsanitize=address", "-fno-omit-frame-pointer") if under_asan() else ())
    wrappers = "".join(
        f'\nextern "C" int emulator_launch_{i}(const unsigned* g, const unsigned* b, '
        f"std::size_t shared, void** args, char* err, std::size_t n) {{\n"
        f"    return cuda_emulator::launch(&{name}, g, b, shared, args, err, n);\n}}\n"
        f'extern "C" const char* emulator_signature_{i}() {{\n'
        f"    return cuda_emulator::signature(&{name});\n}}\n"
        for i, name in enumerate(names))
    source = (f'#include "cuda_emulator.h"\n#line 1 "kernel.cu"\n{code}\n'
              f'#line 1 "wrappers"\n{wrappers}')
    key = hashlib.sha256("\0".join((source, HEADER.read_text(), *flags)).encode()).hexdigest()
    cache = pathlib.Path(tempfile.gettempdir()) / f"convreg-cuda-emulator-{os.getuid()}"
    cache.mkdir(exist_ok=True)
    library = cache / f"{key[:24]}.so"
    if not library.exists():
        cxx = compiler()
        if cxx is None:
            raise EmulatorError("no C++ compiler (g++ or $CXX) to build the CUDA emulator")
        unit = cache / f"{key[:24]}.cpp"
        unit.write_text(source)
        partial = library.with_suffix(f".{os.getpid()}.tmp")
        out = subprocess.run([cxx, *flags, "-I", str(HEADER.parent), str(unit), "-o",
                              str(partial)], capture_output=True, text=True)
        if out.returncode != 0:
            raise EmulatorError(f"{cxx} could not compile the kernel source:\n{out.stderr}")
        os.replace(partial, library)  # atomic: a concurrent run sees all of it or none
    return ctypes.CDLL(str(library))


class RawModule:
    """``cupy.RawModule(code=..., options=..., name_expressions=...)`` on the CPU."""

    def __init__(self, *, code: str, options: Sequence[str] = (),
                 name_expressions: Sequence[str] = ()) -> None:
        self.names = tuple(name_expressions)
        self.options = tuple(options)  # nvrtc's; g++ takes its own FLAGS
        self._library = _build(code, self.names)

    def get_function(self, name: str) -> RawKernel:
        if name not in self.names:
            raise EmulatorError(f"{name!r} is not among the module's name_expressions "
                                f"{self.names}; CuPy would not find it either")
        return RawKernel(self._library, self.names.index(name), name)


def _code(dtype: np.dtype) -> str:
    """A dtype as cuda_emulator.h's type code of the C type it stands for ("f4", "i8")."""
    return f"{'i' if dtype.kind == 'u' else dtype.kind}{dtype.itemsize}"


def _dim3(value: int | Sequence[int], what: str) -> tuple[int, int, int]:
    dims = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if not 1 <= len(dims) <= 3 or not all(isinstance(d, (int, np.integer)) for d in dims):
        raise EmulatorError(f"{what} must be an int or a tuple of 1-3 ints, got {value!r}")
    return tuple(int(d) for d in dims) + (1,) * (3 - len(dims))


class RawKernel:
    """One kernel of a :class:`RawModule`, called as CuPy calls a ``RawKernel``."""

    def __init__(self, library: ctypes.CDLL, index: int, name: str) -> None:
        self.name = name
        self._launch = getattr(library, f"emulator_launch_{index}")
        self._launch.restype = ctypes.c_int
        self._launch.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint),
                                 ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.c_char_p, ctypes.c_size_t]
        signature = getattr(library, f"emulator_signature_{index}")
        signature.restype = ctypes.c_char_p
        # one code per parameter: "f4" (float), "i8" (long long), "*f8" (double*), ...
        self.parameters = tuple(signature().decode().split(",")[:-1])
        self.launches = 0

    def _slot(self, i: int, arg: Any, parameter: str, guarded: list) -> Any:
        where = f"argument {i} of {self.name} (parameter type code {parameter!r})"
        if parameter.startswith("*"):
            if not isinstance(arg, np.ndarray):
                raise EmulatorError(f"{where} is a pointer: pass an array, "
                                    f"not {type(arg).__name__}")
            if _code(arg.dtype) != parameter[1:]:
                raise EmulatorError(f"{where}: an array of dtype {arg.dtype} does not match")
            if not arg.flags.c_contiguous:
                raise EmulatorError(f"{where}: the array is not C-contiguous")
            buffer = np.full(arg.nbytes + 2 * GUARD, 0xFF, np.uint8)
            buffer[GUARD:GUARD + arg.nbytes] = arg.reshape(-1).view(np.uint8)
            guarded.append((arg, buffer))
            return ctypes.c_void_p(buffer.ctypes.data + GUARD)
        if not isinstance(arg, np.generic):
            raise EmulatorError(f"{where}: pass a NumPy scalar (np.int64(...), np.float32(...)) "
                                f"so its size is explicit, not {type(arg).__name__}")
        if _code(arg.dtype) != parameter:
            raise EmulatorError(f"{where}: a scalar of dtype {arg.dtype} does not match")
        return ctypes.create_string_buffer(arg.tobytes(), arg.itemsize)

    def __call__(self, grid: int | Sequence[int], block: int | Sequence[int],
                 args: Sequence[Any], *, shared_mem: int = 0, stream: Any = None) -> None:
        if len(args) != len(self.parameters):
            raise EmulatorError(f"{self.name} takes {len(self.parameters)} arguments, "
                                f"got {len(args)}")
        guarded: list[tuple[np.ndarray, np.ndarray]] = []
        slots = [self._slot(i, a, p, guarded)
                 for i, (a, p) in enumerate(zip(args, self.parameters))]
        argv = (ctypes.c_void_p * len(slots))(*(ctypes.addressof(s) for s in slots))
        g = (ctypes.c_uint * 3)(*_dim3(grid, "grid"))
        b = (ctypes.c_uint * 3)(*_dim3(block, "block"))
        message = ctypes.create_string_buffer(1024)
        guards = [(buffer.ctypes.data + offset, GUARD) for arg, buffer in guarded
                  for offset in (0, GUARD + arg.nbytes)]
        _poison(guards, True)  # under AddressSanitizer: report any access to a guard
        try:
            failed = self._launch(g, b, int(shared_mem), argv, message, len(message))
        finally:
            _poison(guards, False)
        self.launches += 1
        if failed:
            raise EmulatorError(f"{self.name}: {message.value.decode()}")
        for i, (arg, buffer) in enumerate(guarded):
            if (buffer[:GUARD] != 0xFF).any() or (buffer[GUARD + arg.nbytes:] != 0xFF).any():
                raise EmulatorError(f"{self.name} wrote outside array argument {i} "
                                    f"(shape {arg.shape}, {arg.dtype})")
            written = buffer[GUARD:GUARD + arg.nbytes]
            flat = arg.reshape(-1).view(np.uint8)
            if (flat != written).any():
                if not arg.flags.writeable:
                    raise EmulatorError(f"{self.name} wrote into array argument {i}, a "
                                        "read-only input")
                flat[:] = written

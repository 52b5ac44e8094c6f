# The tiny kernels' entry (_conv.conv2d_tiny, _corr2d.corr2d_tiny): arrays
# taken through the buffer protocol, which costs a fraction of creating a
# typed memoryview per array (a quarter to a third of a call of microseconds).

from cpython.buffer cimport (PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBUF_WRITABLE, PyBuffer_Release,
                             PyObject_GetBuffer)

#: The tiny kernels' limit in multiply-adds: they neither tick nor thread, so
#: they take only what runs in microseconds.
TINY_MAX_WORK = 1 << 20


cdef class _Operands:
    """Two C-contiguous inputs and a writable C-contiguous output, held as buffers
    until this object goes (at the end of the function that made it)."""

    cdef Py_buffer a, b, out
    cdef int held

    def __cinit__(self, a, b, out):
        cdef int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT
        PyObject_GetBuffer(a, &self.a, flags)
        self.held = 1
        PyObject_GetBuffer(b, &self.b, flags)
        self.held = 2
        PyObject_GetBuffer(out, &self.out, flags | PyBUF_WRITABLE)
        self.held = 3

    def __dealloc__(self):
        if self.held >= 3:
            PyBuffer_Release(&self.out)
        if self.held >= 2:
            PyBuffer_Release(&self.b)
        if self.held >= 1:
            PyBuffer_Release(&self.a)

    cdef str dtype(self, int ndim, str op):
        """The common format, "f" or "d"; raises unless all three are ``ndim``-D of it."""
        if self.a.ndim != ndim or self.b.ndim != ndim or self.out.ndim != ndim:
            raise ValueError(f"{op} takes {ndim}-D arrays")
        fmt = self.a.format.decode()
        if (fmt not in ("f", "d") or self.b.format.decode() != fmt
                or self.out.format.decode() != fmt):
            raise TypeError(f"{op} takes float32 or float64 arrays, all of one dtype")
        return fmt

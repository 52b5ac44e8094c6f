"""Batched GEMMs on convreg's OpenMP team: each piece one single-threaded BLAS call.

Why not BLAS's own threads. They spin-wait after every call (OpenBLAS: about
0.1 s), and an OpenMP team started meanwhile shares the cores with them: on
2 threads a 0.9 ms blocked weight gradient took 4.8 ms right after a small
NumPy GEMM (measured; OpenBLAS issue 3187 describes the clash). The
algorithms built on GEMM (im2col, Winograd, implicit GEMM) therefore cut
their GEMMs into independent pieces and run them on the same team as their
other loops, with BLAS held at one thread meanwhile
(``convreg.threads.one_blas_thread``): scikit-learn's pattern for k-means.
One pool then does all the work, and nothing spins against the next call.

Layout. A matrix is row-major: ``(rows, columns)``, adjacent columns and a
row stride that is its BLAS leading dimension; the batch axis takes any
stride. BLAS is column-major, so ``C = A @ B`` runs as ``C^T = B^T A^T`` on
the same memory.

Contract (checked here, before the loops, which index unchecked): the
arrays are of one dtype, their shapes agree, every row stride is at least
the row's length (unless the matrix has at most one row), and every
dimension fits a 32-bit BLAS int.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid

include "interrupt.pxi"
include "blas.pxi"

cdef Py_ssize_t _ld(Py_ssize_t stride, Py_ssize_t column_stride, Py_ssize_t itemsize,
                    Py_ssize_t rows, Py_ssize_t columns, str name) except -1:
    """A matrix's leading dimension (its row stride in items), checked for BLAS, whose
    columns must be adjacent."""
    if columns > 1 and column_stride != itemsize:
        raise ValueError(f"{name}: columns {column_stride} bytes apart, not adjacent")
    if stride % itemsize:
        raise ValueError(f"{name}: row stride {stride} is not a multiple of {itemsize} bytes")
    cdef Py_ssize_t ld = stride // itemsize
    if rows <= 1 or columns == 0:  # BLAS never steps by ld, but asks ld >= max(1, columns)
        ld = max(ld, columns, 1)
    if ld < max(1, columns) or ld > _INT_MAX:
        raise ValueError(f"{name}: row stride {ld} items does not fit rows of {columns}")
    return ld


def _check(str function, Py_ssize_t a, Py_ssize_t b, str what):
    if a != b:
        raise ValueError(f"{function}: {what} ({a} and {b}) differ")


def matmul(const floating[:, :, :] A, const floating[:, :, :] B, floating[:, :, :] C,
           int num_threads):
    """``C[i] = A[i] @ B[i]`` for every ``i`` (``A[0]`` for all when ``A`` holds one matrix).

    Pieces: each product's columns, cut so that the team has about four
    pieces per thread.
    """
    cdef Py_ssize_t batch = C.shape[0], m = C.shape[1], n = C.shape[2], k = A.shape[2]
    if A.shape[0] != 1:
        _check("matmul", A.shape[0], batch, "A's and C's batch")
    _check("matmul", B.shape[0], batch, "B's and C's batch")
    _check("matmul", A.shape[1], m, "A's and C's rows")
    _check("matmul", B.shape[1], k, "A's columns and B's rows")
    _check("matmul", B.shape[2], n, "B's and C's columns")
    if m > _INT_MAX or n > _INT_MAX or k > _INT_MAX:
        raise ValueError(f"matmul: ({m} x {k}) @ ({k} x {n}) exceeds a 32-bit BLAS int")
    cdef Py_ssize_t size = sizeof(floating)
    cdef Py_ssize_t lda = _ld(A.strides[1], A.strides[2], size, m, k, "A")
    cdef Py_ssize_t ldb = _ld(B.strides[1], B.strides[2], size, k, n, "B")
    cdef Py_ssize_t ldc = _ld(C.strides[1], C.strides[2], size, m, n, "C")
    if batch == 0 or m == 0 or n == 0:
        return
    cdef Py_ssize_t i, j, q, j0, width
    if k == 0:  # BLAS would scale C by beta = 0; said here, not left to it
        for i in range(batch):
            for j in range(m):
                C[i, j, :] = 0
        return
    cdef Py_ssize_t pieces, step
    pieces, step = pieces_of(batch, n, num_threads)
    cdef Py_ssize_t a_step = 0 if A.shape[0] == 1 else 1
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for q in prange(batch * pieces, schedule="static", num_threads=num_threads):
            i, j0, width = piece(q, pieces, step, n)
            if width <= 0 or convreg_tick(&halt, m * width * k):
                continue
            # C_i[:, j0:j0+width]^T = B_i[:, j0:j0+width]^T A_i^T (column-major)
            _gemm(b"N", b"N", <int>width, <int>m, <int>k, &B[i, 0, j0], <int>ldb,
                  &A[i * a_step, 0, 0], <int>lda, 0, &C[i, 0, j0], <int>ldc)
    convreg_interrupt_finish(&halt)


def matmul_nt_sum(const floating[:, :, :] A, const floating[:, :, :] B,
                  floating[:, :, :] partial, int num_threads):
    """``partial[t] += A[i][:, s] @ B[i][:, s]^T`` for the pieces ``(i, s)`` thread ``t``
    takes, so that ``partial.sum(0)`` grows by ``sum_i A[i] @ B[i]^T``.

    ``A`` is ``(batch, m, L)``, ``B`` ``(batch, n, L)``, ``partial`` ``(T, m,
    n)`` with ``T >= num_threads``. Pieces: each product's ``L`` summed
    terms, cut as :func:`matmul` cuts columns.
    """
    cdef Py_ssize_t batch = A.shape[0], m = A.shape[1], L = A.shape[2], n = B.shape[1]
    _check("matmul_nt_sum", B.shape[0], batch, "A's and B's batch")
    _check("matmul_nt_sum", B.shape[2], L, "A's and B's columns")
    _check("matmul_nt_sum", partial.shape[1], m, "A's and the sums' rows")
    _check("matmul_nt_sum", partial.shape[2], n, "B's rows and the sums' columns")
    check_partial_sums("matmul_nt_sum", partial.shape[0], num_threads)
    if m > _INT_MAX or n > _INT_MAX or L > _INT_MAX:
        raise ValueError(f"matmul_nt_sum: ({m} x {L}) @ ({L} x {n}) exceeds a 32-bit BLAS int")
    cdef Py_ssize_t size = sizeof(floating)
    cdef Py_ssize_t lda = _ld(A.strides[1], A.strides[2], size, m, L, "A")
    cdef Py_ssize_t ldb = _ld(B.strides[1], B.strides[2], size, n, L, "B")
    cdef Py_ssize_t ldp = _ld(partial.strides[1], partial.strides[2], size, m, n, "partial")
    if batch == 0 or m == 0 or n == 0 or L == 0:
        return
    cdef Py_ssize_t pieces, step
    pieces, step = pieces_of(batch, L, num_threads)
    cdef Py_ssize_t i, q, l0, width
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for q in prange(batch * pieces, schedule="static", num_threads=num_threads):
            i, l0, width = piece(q, pieces, step, L)
            if width <= 0 or convreg_tick(&halt, m * width * n):
                continue
            # partial_t^T (n x m) += B_i[:, s] (n x width) A_i[:, s]^T (width x m)
            _gemm(b"T", b"N", <int>n, <int>m, <int>width, &B[i, 0, l0], <int>ldb,
                  &A[i, 0, l0], <int>lda, 1, &partial[threadid(), 0, 0], <int>ldp)
    convreg_interrupt_finish(&halt)

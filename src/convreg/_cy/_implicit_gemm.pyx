"""Stride-1 convolution as implicit GEMM: one BLAS call per kernel tap, no im2col.

The functions take one image (or any run of ``Hp x Wp`` grids laid out
channel-major: ``xcn[c, m]``, the grids one after another). Tap ``(a, b)``
of the output at grid position ``m = i*Wp + j`` reads
``xcn[c, m + a*dh*Wp + b*dw]``: a *fixed offset* from the output's own
position on the padded grid. So a tap is one GEMM over a shifted view of
the input,
``Y (O x M) += W_ab (O x C) @ X_ab (C x M)``, accumulated in place by BLAS
(``beta = 1``), with no column matrix. Positions ``m`` outside an image's
``H_out x W_out`` corner are computed and dropped by the caller (a fraction
``1 - H_out W_out / (Hp Wp)`` of the flops: 7% for VGG's 56x56 layer, 23%
for 14x14). The gradients are the same GEMMs transposed; the output
gradient is given on the same grid with zeros outside the corners, so those
positions add nothing. BLAS is SciPy's (``scipy.linalg.cython_blas``),
called without the GIL; its own threads parallelise each GEMM. The two
GEMMs are looked up when this module is imported, from the function
pointers SciPy exports (its ``__pyx_capi__``, what a Cython ``cimport``
reads too), so building convreg needs no SciPy, only running it.

Contract (checked by convreg/plugins/cython.py before entry): arrays are
C-contiguous and of one dtype; ``xcn``/``dxcn`` are ``(C, T)`` and the grid
arrays ``(O, T)`` with ``T = N*Hp*Wp``; ``M = T - dh*(kh-1)*Wp - dw*(kw-1)``
is positive; the tap-major weights are ``(kh, kw, groups, O/groups,
C/groups)`` (forward, weight gradient) or ``(kh, kw, groups, C/groups,
O/groups)`` (input gradient); ``T`` fits a 32-bit BLAS int.
"""

from cpython.pycapsule cimport PyCapsule_GetName, PyCapsule_GetPointer
from cython cimport floating

include "interrupt.pxi"

# scipy.linalg.cython_blas's signatures (Fortran BLAS: every argument by pointer).
ctypedef void (*sgemm_t)(char* transa, char* transb, int* m, int* n, int* k, float* alpha,
                         float* a, int* lda, float* b, int* ldb, float* beta, float* c,
                         int* ldc) noexcept nogil
ctypedef void (*dgemm_t)(char* transa, char* transb, int* m, int* n, int* k, double* alpha,
                         double* a, int* lda, double* b, int* ldb, double* beta, double* c,
                         int* ldc) noexcept nogil

cdef sgemm_t sgemm
cdef dgemm_t dgemm


cdef void* _blas(str name) except NULL:
    """SciPy's exported BLAS function ``name``; the capsule's name is its C signature,
    which PyCapsule_GetPointer checks against itself."""
    from scipy.linalg import cython_blas
    capsule = cython_blas.__pyx_capi__[name]
    return PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule))


sgemm = <sgemm_t>_blas("sgemm")
dgemm = <dgemm_t>_blas("dgemm")


cdef inline void _gemm(char* ta, char* tb, int m, int n, int k, const floating* a, int lda,
                       const floating* b, int ldb, floating* c, int ldc) noexcept nogil:
    """Column-major ``C (m x n) += op(A) op(B)``."""
    cdef floating one = 1
    if floating is float:
        sgemm(ta, tb, &m, &n, &k, &one, <float*>a, &lda, <float*>b, &ldb, &one, c, &ldc)
    else:
        dgemm(ta, tb, &m, &n, &k, &one, <double*>a, &lda, <double*>b, &ldb, &one, c, &ldc)


def forward(const floating[:, ::1] xcn, const floating[:, :, :, :, ::1] wt,
            floating[:, ::1] y, Py_ssize_t Wp, Py_ssize_t dh, Py_ssize_t dw):
    """``y[g*Og + o, m] += sum_{c,a,b} wt[a, b, g, o, c] xcn[g*Cg + c, m + a*dh*Wp + b*dw]``."""
    cdef Py_ssize_t kh = wt.shape[0], kw = wt.shape[1], G = wt.shape[2]
    cdef Py_ssize_t Og = wt.shape[3], Cg = wt.shape[4], T = xcn.shape[1]
    cdef int M = <int>(T - dh * (kh - 1) * Wp - dw * (kw - 1))
    cdef Py_ssize_t g, a, b
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for g in range(G):
            for a in range(kh):
                for b in range(kw):
                    if convreg_tick(&halt, M * Og * Cg):  # between GEMMs
                        break
                    # Y^T (M x Og) += X_ab^T (M x Cg) W_ab^T (Cg x Og), column-major views
                    _gemm(b"N", b"N", M, <int>Og, <int>Cg,
                          &xcn[g * Cg, a * dh * Wp + b * dw], <int>T,
                          &wt[a, b, g, 0, 0], <int>Cg, &y[g * Og, 0], <int>T)
    convreg_interrupt_finish(&halt)



def grad_input(const floating[:, ::1] gy, const floating[:, :, :, :, ::1] wt,
               floating[:, ::1] dxcn, Py_ssize_t Wp, Py_ssize_t dh, Py_ssize_t dw):
    """``dxcn[g*Cg + c, m + a*dh*Wp + b*dw] += sum_o wt[a, b, g, c, o] gy[g*Og + o, m]``."""
    cdef Py_ssize_t kh = wt.shape[0], kw = wt.shape[1], G = wt.shape[2]
    cdef Py_ssize_t Cg = wt.shape[3], Og = wt.shape[4], T = dxcn.shape[1]
    cdef int M = <int>(T - dh * (kh - 1) * Wp - dw * (kw - 1))
    cdef Py_ssize_t g, a, b
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for g in range(G):
            for a in range(kh):
                for b in range(kw):
                    if convreg_tick(&halt, M * Og * Cg):  # between GEMMs
                        break
                    # dX_ab^T (M x Cg) += G^T (M x Og) W_ab (Og x Cg)
                    _gemm(b"N", b"N", M, <int>Cg, <int>Og, &gy[g * Og, 0], <int>T,
                          &wt[a, b, g, 0, 0], <int>Og,
                          &dxcn[g * Cg, a * dh * Wp + b * dw], <int>T)
    convreg_interrupt_finish(&halt)



def grad_weight(const floating[:, ::1] xcn, const floating[:, ::1] gy,
                floating[:, :, :, :, ::1] dwt, Py_ssize_t Wp, Py_ssize_t dh, Py_ssize_t dw):
    """``dwt[a, b, g, o, c] += sum_m gy[g*Og + o, m] xcn[g*Cg + c, m + a*dh*Wp + b*dw]``."""
    cdef Py_ssize_t kh = dwt.shape[0], kw = dwt.shape[1], G = dwt.shape[2]
    cdef Py_ssize_t Og = dwt.shape[3], Cg = dwt.shape[4], T = xcn.shape[1]
    cdef int M = <int>(T - dh * (kh - 1) * Wp - dw * (kw - 1))
    cdef Py_ssize_t g, a, b
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for g in range(G):
            for a in range(kh):
                for b in range(kw):
                    if convreg_tick(&halt, M * Og * Cg):  # between GEMMs
                        break
                    # dW_ab^T (Cg x Og) += X_ab (Cg x M) G^T (M x Og)
                    _gemm(b"T", b"N", <int>Cg, <int>Og, M,
                          &xcn[g * Cg, a * dh * Wp + b * dw], <int>T,
                          &gy[g * Og, 0], <int>T, &dwt[a, b, g, 0, 0], <int>Cg)
    convreg_interrupt_finish(&halt)

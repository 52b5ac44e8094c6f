# The BLAS GEMMs, for the kernel modules that include this file after `from
# cython cimport floating`: NumPy's OpenBLAS where convreg._blas finds it (64-bit
# ints), SciPy's otherwise (scipy.linalg.cython_blas, 32-bit ints); the module
# docstring of convreg/_blas.py says why. Both are looked up when the module is
# imported, so building convreg needs neither, only running it.

from cpython.pycapsule cimport PyCapsule_GetName, PyCapsule_GetPointer
from libc.stdint cimport int64_t

# Fortran BLAS: every argument by pointer.
ctypedef void (*sgemm_t)(char* transa, char* transb, int* m, int* n, int* k, float* alpha,
                         float* a, int* lda, float* b, int* ldb, float* beta, float* c,
                         int* ldc) noexcept nogil
ctypedef void (*dgemm_t)(char* transa, char* transb, int* m, int* n, int* k, double* alpha,
                         double* a, int* lda, double* b, int* ldb, double* beta, double* c,
                         int* ldc) noexcept nogil
ctypedef void (*sgemm64_t)(char* transa, char* transb, int64_t* m, int64_t* n, int64_t* k,
                           float* alpha, float* a, int64_t* lda, float* b, int64_t* ldb,
                           float* beta, float* c, int64_t* ldc) noexcept nogil
ctypedef void (*dgemm64_t)(char* transa, char* transb, int64_t* m, int64_t* n, int64_t* k,
                           double* alpha, double* a, int64_t* lda, double* b, int64_t* ldb,
                           double* beta, double* c, int64_t* ldc) noexcept nogil

# The largest dimension a 32-bit BLAS int holds.
cdef int _INT_MAX = 2147483647

# SciPy's, always set; NumPy's 64-bit-int ones, NULL unless chosen. The
# kernels check every dimension against a 32-bit int whichever runs.
cdef sgemm_t sgemm
cdef dgemm_t dgemm
cdef sgemm64_t sgemm64 = NULL
cdef dgemm64_t dgemm64 = NULL


cdef void* _blas(str name) except NULL:
    """SciPy's exported BLAS function ``name``; the capsule's name is its C signature,
    which PyCapsule_GetPointer checks against itself."""
    from scipy.linalg import cython_blas
    capsule = cython_blas.__pyx_capi__[name]
    return PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule))


cdef inline void _gemm(char* ta, char* tb, int m, int n, int k, const floating* a, int lda,
                       const floating* b, int ldb, floating beta, floating* c,
                       int ldc) noexcept nogil:
    """Column-major ``C (m x n) = op(A) op(B) + beta C``."""
    cdef floating one = 1
    cdef int64_t m8 = m, n8 = n, k8 = k, lda8 = lda, ldb8 = ldb, ldc8 = ldc
    if floating is float:
        if sgemm64 != NULL:
            sgemm64(ta, tb, &m8, &n8, &k8, &one, <float*>a, &lda8, <float*>b, &ldb8, &beta, c,
                    &ldc8)
        else:
            sgemm(ta, tb, &m, &n, &k, &one, <float*>a, &lda, <float*>b, &ldb, &beta, c, &ldc)
    else:
        if dgemm64 != NULL:
            dgemm64(ta, tb, &m8, &n8, &k8, &one, <double*>a, &lda8, <double*>b, &ldb8, &beta, c,
                    &ldc8)
        else:
            dgemm(ta, tb, &m, &n, &k, &one, <double*>a, &lda, <double*>b, &ldb, &beta, c, &ldc)


cdef bint _gemm_agrees() noexcept:
    """Whether the chosen GEMMs compute a small product exactly (integers): a library
    found by name but called wrongly is dropped here, not met as wrong results."""
    cdef float[6] af = [1, 2, 3, 4, 5, 6]
    cdef float[6] bf = [7, 8, 9, 10, 11, 12]
    cdef float[4] cf = [-1, -1, -1, -1]
    cdef double[6] ad = [1, 2, 3, 4, 5, 6]
    cdef double[6] bd = [7, 8, 9, 10, 11, 12]
    cdef double[4] cd = [-1, -1, -1, -1]
    # column-major A (2 x 3) B (3 x 2) = [[76, 100], [103, 136]] stored by columns
    _gemm[float](b"N", b"N", 2, 2, 3, af, 2, bf, 3, 0, cf, 2)
    _gemm[double](b"N", b"N", 2, 2, 3, ad, 2, bd, 3, 0, cd, 2)
    return (cf[0] == 76 and cf[1] == 100 and cf[2] == 103 and cf[3] == 136
            and cd[0] == 76 and cd[1] == 100 and cd[2] == 103 and cd[3] == 136)


cdef int _choose_blas() except -1:
    """Point the GEMMs at NumPy's BLAS or SciPy's (convreg._blas) and record which."""
    global sgemm, dgemm, sgemm64, dgemm64
    from convreg import _blas as which

    sgemm = <sgemm_t>_blas("sgemm")
    dgemm = <dgemm_t>_blas("dgemm")
    found = which.selected()
    if found is not None:
        sgemm64 = <sgemm64_t><size_t>found.sgemm
        dgemm64 = <dgemm64_t><size_t>found.dgemm
        if _gemm_agrees():  # each module's own pointers, so each checks them
            which.chosen = found.name
            return 0
        which.reject(found)
        sgemm64, dgemm64 = NULL, NULL
    which.chosen = "SciPy's BLAS (scipy.linalg.cython_blas, 32-bit ints)"
    return 0


_choose_blas()


# A GEMM's columns (or summed terms) in one piece at least, when a kernel
# cuts its GEMMs into pieces for the OpenMP team: narrower pieces run below
# BLAS's speed.
cdef Py_ssize_t MIN_PIECE = 128


cdef inline (Py_ssize_t, Py_ssize_t) pieces_of(Py_ssize_t batch, Py_ssize_t length,
                                               int num_threads) noexcept nogil:
    """Pieces to cut ``length`` into so that ``batch`` GEMMs give each thread about four
    (none on one thread: a GEMM cut runs slower than whole), and each piece's
    length but the last's (the ``step`` :func:`piece` takes)."""
    cdef Py_ssize_t pieces = 1
    if num_threads > 1:
        pieces = max(1, min((4 * num_threads + batch - 1) // batch, length // MIN_PIECE))
    return pieces, (length + pieces - 1) // pieces


cdef inline int check_partial_sums(str function, Py_ssize_t sums, int num_threads) except -1:
    """A kernel whose thread ``t`` adds into partial sum ``t`` needs one per thread."""
    if sums < num_threads:
        raise ValueError(f"{function}: {sums} partial sums for {num_threads} threads")
    return 0


cdef inline (Py_ssize_t, Py_ssize_t, Py_ssize_t) piece(Py_ssize_t q, Py_ssize_t pieces,
                                                       Py_ssize_t step,
                                                       Py_ssize_t length) noexcept nogil:
    """Task ``q`` of a loop over GEMMs cut into ``pieces`` of ``step``: the GEMM, the
    piece's first column (or term) and its width (at most 0 past ``length``)."""
    cdef Py_ssize_t first = (q % pieces) * step
    return q // pieces, first, min(step, length - first)

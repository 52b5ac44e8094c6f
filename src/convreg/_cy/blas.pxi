# SciPy's BLAS GEMMs (scipy.linalg.cython_blas), for the kernel modules that
# include this file after `from cython cimport floating`. They are looked up
# when the module is imported, from the function pointers SciPy exports (its
# __pyx_capi__, what a Cython cimport reads too), so building convreg needs no
# SciPy, only running it.

from cpython.pycapsule cimport PyCapsule_GetName, PyCapsule_GetPointer

# Fortran BLAS: every argument by pointer.
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
                       const floating* b, int ldb, floating beta, floating* c,
                       int ldc) noexcept nogil:
    """Column-major ``C (m x n) = op(A) op(B) + beta C``."""
    cdef floating one = 1
    if floating is float:
        sgemm(ta, tb, &m, &n, &k, &one, <float*>a, &lda, <float*>b, &ldb, &beta, c, &ldc)
    else:
        dgemm(ta, tb, &m, &n, &k, &one, <double*>a, &lda, <double*>b, &ldb, &beta, c, &ldc)


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

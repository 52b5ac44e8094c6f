"""What OpenMP runtime the kernels were built with, and its default thread count."""

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define CONVREG_HAVE_OPENMP 1
    #else
    #define CONVREG_HAVE_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    #endif
    """
    bint CONVREG_HAVE_OPENMP
    int omp_get_max_threads() nogil


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(CONVREG_HAVE_OPENMP)


def default_num_threads():
    """OpenMP's default team size (honours ``OMP_NUM_THREADS``); 1 without OpenMP."""
    return omp_get_max_threads()

/* Ctrl-C (and any Python signal handler that raises) during a compiled kernel.
 *
 * A kernel runs without the GIL, so Python's signal handlers cannot run
 * until it returns: a 5 s correlation used to take 5 s to notice Ctrl-C.
 * Here the kernel's loops call convreg_tick() once per unit of work:
 *
 *   - every thread reads the shared `stop` flag and, once it is set, skips
 *     the rest of its work (the output is then discarded, never returned);
 *   - the calling thread (OpenMP thread 0, the thread that released the
 *     GIL) also counts the work done since it last looked at the clock, and
 *     every CONVREG_POLL_SECONDS takes the GIL and runs Python's pending
 *     signal handlers (PyErr_CheckSignals). If one raises, the exception is
 *     kept and `stop` is set; convreg_interrupt_finish() raises it again
 *     once the kernel has left its parallel region.
 *
 * Only Python's main thread runs signal handlers, so only a kernel called
 * from it polls: a kernel called from another thread never takes the GIL.
 * The cost is a subtraction and a relaxed load per unit of work, a coarse
 * clock read every CONVREG_POLL_WORK multiply-adds, and one GIL round trip
 * every CONVREG_POLL_SECONDS: measured within noise on the bench
 * (benchmarks/RESULTS.md).
 *
 * Cython includes Python.h before this header.
 */
#ifndef CONVREG_INTERRUPT_H
#define CONVREG_INTERRUPT_H

#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#define CONVREG_THREAD_NUM() omp_get_thread_num()
#else
#define CONVREG_THREAD_NUM() 0
#endif

#ifndef CLOCK_MONOTONIC_COARSE
#define CLOCK_MONOTONIC_COARSE CLOCK_MONOTONIC
#endif

/* Poll Python's handlers at most this often (Ctrl-C is seen within about
 * this plus one unit of work). */
#define CONVREG_POLL_SECONDS 0.02
/* Read the clock after about this much work (multiply-adds or elements
 * copied) on the calling thread: well under a millisecond on any CPU. */
#define CONVREG_POLL_WORK ((Py_ssize_t)1 << 20)

typedef struct {
    /* Written by the calling thread only. */
    int poll;              /* 1: called from Python's main thread */
    Py_ssize_t budget;     /* work left before the next clock read */
    double deadline;       /* monotonic seconds of the next poll */
    PyObject *type, *value, *traceback;  /* what a handler raised */
    /* Read by every thread: on a cache line of its own, so that the
     * calling thread's writes above do not evict it from the others'. */
    char pad[64];
    int stop;
    char pad2[64];
} convreg_interrupt;

/* Python's main thread, as threading.main_thread().ident; set by each
 * kernel module at import and again in a child after fork (interrupt.pxi). */
static unsigned long convreg_main_thread = 0;

static inline double convreg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Call with the GIL held, before the kernel releases it. */
static inline convreg_interrupt convreg_interrupt_start(void)
{
    convreg_interrupt s;
    s.poll = PyThread_get_thread_ident() == convreg_main_thread;
    s.budget = CONVREG_POLL_WORK;
    s.deadline = s.poll ? convreg_now() + CONVREG_POLL_SECONDS : 0.0;
    s.type = s.value = s.traceback = NULL;
    s.stop = 0;
    return s;
}

static void convreg_interrupt_poll(convreg_interrupt *s)
{
    double now = convreg_now();
    if (now < s->deadline)
        return;
    s->deadline = now + CONVREG_POLL_SECONDS;
    PyGILState_STATE gil = PyGILState_Ensure();
    if (PyErr_CheckSignals() < 0) {
        PyErr_Fetch(&s->type, &s->value, &s->traceback);
        __atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
    }
    PyGILState_Release(gil);
}

/* Without the GIL, from any thread, once per unit of `work`: whether the
 * kernel should skip the rest of its work. */
static inline int convreg_tick(convreg_interrupt *s, Py_ssize_t work)
{
    if (s->poll && CONVREG_THREAD_NUM() == 0) {
        s->budget -= work;
        if (s->budget <= 0) {
            s->budget = CONVREG_POLL_WORK;
            convreg_interrupt_poll(s);
        }
    }
    return __atomic_load_n(&s->stop, __ATOMIC_RELAXED);
}

/* With the GIL, after the kernel: raise what a handler raised (-1), else 0. */
static inline int convreg_interrupt_finish(convreg_interrupt *s)
{
    if (!s->stop)
        return 0;
    PyErr_Restore(s->type, s->value, s->traceback);
    return -1;
}

#endif

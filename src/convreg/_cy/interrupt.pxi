# Ctrl-C inside the kernels (interrupt.h): each kernel module includes this
# file, holds its own copy of the header's state, and keeps it told which
# thread is Python's main thread (the one that runs signal handlers).

import os as _os
import threading as _threading

cdef extern from "interrupt.h" nogil:
    ctypedef struct convreg_interrupt:
        pass
    unsigned long convreg_main_thread
    convreg_interrupt convreg_interrupt_start()
    bint convreg_tick(convreg_interrupt* s, Py_ssize_t work)
    int convreg_interrupt_finish(convreg_interrupt* s) except -1


def _note_main_thread():
    # After fork the forking thread is the child's main thread.
    global convreg_main_thread
    convreg_main_thread = _threading.main_thread().ident


_note_main_thread()
_os.register_at_fork(after_in_child=_note_main_thread)

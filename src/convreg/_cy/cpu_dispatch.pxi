# The run-time ISA choice of cpu_dispatch.h, for a .pyx that includes it.
# Each extension module holds its own copy of the header's state, so each
# includes this file and exposes these two functions.

cdef extern from "cpu_dispatch.h" nogil:
    int convreg_isa()
    int convreg_isa_detected()
    int convreg_isa_cap


def isa_levels():
    """The instruction sets this module's kernels can run here, narrowest first:
    0 baseline, 1 AVX2 + FMA, 2 AVX-512 (``cpu_dispatch.h``)."""
    return list(range(convreg_isa_detected() + 1))


def isa():
    """The instruction set this module's kernels run now: the CPU's widest, or the cap."""
    return convreg_isa()


def cap_isa(level):
    """Run this module's kernels as if the CPU had at most ISA ``level`` (None: lift the cap).

    For tests: every per-ISA variant's code then runs on one machine. A cap
    above what the CPU has changes nothing.
    """
    global convreg_isa_cap
    convreg_isa_cap = -1 if level is None else int(level)

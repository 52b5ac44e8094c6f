/* Choosing a kernel's instruction set when it runs, not when it is built.
 *
 * A kernel whose tile sizes depend on the register file (32 vector
 * registers with AVX-512, 16 with AVX2) is defined once per instruction set
 * with CONVREG_AVX512 / CONVREG_AVX2, as PREFIX_avx512, PREFIX_avx2 and
 * PREFIX_base, and called through CONVREG_DISPATCH with convreg_isa()'s
 * answer, so a portable wheel still runs the widest vectors the machine
 * has. (Kernels whose code is the same on every ISA use GCC's
 * target_clones instead, CONVREG_CLONES below: corr2d_rows.h's one-row
 * loop, winograd.h's transforms.)
 *
 * Helpers that such a kernel inlines must carry the same target attribute:
 * GCC refuses to inline across targets.
 */
#ifndef CONVREG_CPU_DISPATCH_H
#define CONVREG_CPU_DISPATCH_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CONVREG_X86_DISPATCH 1
#define CONVREG_AVX512 __attribute__((target("arch=skylake-avx512")))
#define CONVREG_AVX2 __attribute__((target("arch=haswell")))
#define CONVREG_INLINE static inline __attribute__((always_inline))
#else
#define CONVREG_INLINE static inline
#endif

/* Kernels whose code is the same on every ISA are compiled once per level
 * with target_clones and chosen by an ifunc when the library loads. The
 * clones are named by x86-64 ABI level, which the ifunc tests feature by
 * feature (v4: AVX-512 F/BW/CD/DQ/VL, v3: AVX2 + FMA). Named by CPU
 * ("arch=skylake-avx512", "arch=haswell") they were chosen by CPU *model*
 * (__builtin_cpu_is): an Ice Lake Xeon or an AMD EPYC matched neither and
 * ran the SSE2 clone, without FMA. GCC names the levels from version 11. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    __GNUC__ >= 11
#define CONVREG_CLONES \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CONVREG_CLONES
#endif

/* GCC/Clang vector types, one per register width (zmm, ymm, xmm), named by
 * bytes: a kernel compiled for an ISA uses that ISA's own width. (A 64-byte
 * type under the AVX2 or SSE2 target is not split into registers: GCC kept
 * whole register tiles on the stack, and the AVX2 kernels ran slower than
 * the SSE2 ones.) */
#if defined(__GNUC__)
typedef float convreg_vf32_64 __attribute__((vector_size(64)));
typedef double convreg_vf64_64 __attribute__((vector_size(64)));
typedef float convreg_vf32_32 __attribute__((vector_size(32)));
typedef double convreg_vf64_32 __attribute__((vector_size(32)));
typedef float convreg_vf32_16 __attribute__((vector_size(16)));
typedef double convreg_vf64_16 __attribute__((vector_size(16)));
#endif

#define CONVREG_ISA_AVX512 2
#define CONVREG_ISA_AVX2 1
#define CONVREG_ISA_BASE 0

/* The widest ISA this CPU runs. __builtin_cpu_supports reads a table libgcc
 * fills before main, so calling it from any thread is safe. */
static int convreg_isa_detected(void)
{
#ifdef CONVREG_X86_DISPATCH
    /* The AVX-512 variants are compiled for Skylake-AVX512, which adds BW, DQ
     * and VL to F: a CPU without them (Xeon Phi) takes the AVX2 ones. */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        return CONVREG_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CONVREG_ISA_AVX2;
#endif
    return CONVREG_ISA_BASE;
}

/* A narrower ISA the tests ask for, so that every variant's code runs on
 * the one machine CI has (-1: none). Per extension module: each includes
 * this header. Never above the detected ISA. */
static int convreg_isa_cap = -1;

static int convreg_isa(void)
{
    const int isa = convreg_isa_detected();
    return convreg_isa_cap >= 0 && convreg_isa_cap < isa ? convreg_isa_cap : isa;
}

/* Call PREFIX_avx512, PREFIX_avx2 or PREFIX_base with the parenthesized
 * ARGS, as isa says: the one dispatch every per-ISA kernel family uses. */
#ifdef CONVREG_X86_DISPATCH
#define CONVREG_DISPATCH(isa, PREFIX, ARGS)                                              \
    do {                                                                                 \
        if ((isa) == CONVREG_ISA_AVX512)                                                 \
            PREFIX##_avx512 ARGS;                                                        \
        else if ((isa) == CONVREG_ISA_AVX2)                                              \
            PREFIX##_avx2 ARGS;                                                          \
        else                                                                             \
            PREFIX##_base ARGS;                                                          \
    } while (0)
#else
#define CONVREG_DISPATCH(isa, PREFIX, ARGS) PREFIX##_base ARGS
#endif

#endif

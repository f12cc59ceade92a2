/* CPU feature detection and the one SIMD level of the process (see cpu.h). */
#include "cpu.h"
#include "umapc/common.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(UMAPC_HAVE_NEON_KERNELS) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1ul << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1ul << 20)
#endif
#endif

#if defined(__SSE2__) || defined(_M_X64)
#include <xmmintrin.h>
#define UMAPC_FP_X86   1
#define FP_X86_FTZ_DAZ 0x8040u
#elif defined(__aarch64__)
#define UMAPC_FP_AARCH64 1
#define FP_AARCH64_FZ    (1ull << 24)
#endif

static unsigned detect(void) {
    unsigned f = 0;
#if defined(UMAPC_HAVE_X86_KERNELS)
    /* __builtin_cpu_supports also checks (xgetbv) that the OS saves the wide registers. */
    __builtin_cpu_init();
    f |= __builtin_cpu_supports("avx2") ? UMAPC_CPU_AVX2 : 0u;
    f |= __builtin_cpu_supports("fma") ? UMAPC_CPU_FMA : 0u;
    f |= __builtin_cpu_supports("avx512f") ? UMAPC_CPU_AVX512F : 0u;
    f |= __builtin_cpu_supports("avx512bw") ? UMAPC_CPU_AVX512BW : 0u;
    f |= __builtin_cpu_supports("avx512dq") ? UMAPC_CPU_AVX512DQ : 0u;
    f |= __builtin_cpu_supports("avx512vl") ? UMAPC_CPU_AVX512VL : 0u;
    f |= __builtin_cpu_supports("avx512vnni") ? UMAPC_CPU_AVX512VNNI : 0u;
#elif defined(UMAPC_HAVE_NEON_KERNELS)
#if defined(__linux__)
    unsigned long hw = getauxval(AT_HWCAP);
    f |= (hw & HWCAP_ASIMD) ? UMAPC_CPU_NEON : 0u;
    f |= (hw & HWCAP_ASIMDDP) ? UMAPC_CPU_DOTPROD : 0u;
#else
    /* AArch64 always has Advanced SIMD; without a portable query dotprod stays off. */
    f |= UMAPC_CPU_NEON;
#endif
#endif
    return f;
}

unsigned umapc_cpu_level_mask(umapc_level level) {
    switch (level) {
    case UMAPC_LEVEL_AVX2:
        return UMAPC_CPU_NEEDS_AVX2;
    case UMAPC_LEVEL_AVX512:
        return UMAPC_CPU_NEEDS_AVX512 | UMAPC_CPU_AVX512VNNI;
    case UMAPC_LEVEL_NEON:
        return UMAPC_CPU_NEEDS_NEON | UMAPC_CPU_DOTPROD;
    case UMAPC_LEVEL_SCALAR:
    default:
        return 0;
    }
}

/* The kernel files of a level exist only in builds for its architecture. */
int umapc_cpu_level_runs(unsigned detected, umapc_level level) {
    switch (level) {
    case UMAPC_LEVEL_SCALAR:
        return 1;
#if defined(UMAPC_HAVE_X86_KERNELS)
    case UMAPC_LEVEL_AVX2:
        return (detected & UMAPC_CPU_NEEDS_AVX2) == UMAPC_CPU_NEEDS_AVX2;
    case UMAPC_LEVEL_AVX512:
        return (detected & UMAPC_CPU_NEEDS_AVX512) == UMAPC_CPU_NEEDS_AVX512;
#endif
#if defined(UMAPC_HAVE_NEON_KERNELS)
    case UMAPC_LEVEL_NEON:
        return (detected & UMAPC_CPU_NEEDS_NEON) == UMAPC_CPU_NEEDS_NEON;
#endif
    default:
        return 0;
    }
}

umapc_level umapc_cpu_best_level(unsigned detected) {
    static const umapc_level best_first[] = {UMAPC_LEVEL_AVX512, UMAPC_LEVEL_AVX2,
                                             UMAPC_LEVEL_NEON};
    for (size_t i = 0; i < sizeof best_first / sizeof best_first[0]; i++) {
        if (umapc_cpu_level_runs(detected, best_first[i])) {
            return best_first[i];
        }
    }
    return UMAPC_LEVEL_SCALAR;
}

static const char *const level_names[] = {"scalar", "avx2", "avx512", "neon"};

const char *umapc_cpu_level_name(umapc_level level) {
    unsigned i = (unsigned)level;
    return i < sizeof level_names / sizeof level_names[0] ? level_names[i] : "scalar";
}

umapc_level umapc_cpu_resolve(unsigned detected, const char *request) {
    if (request != NULL) {
        for (unsigned i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
            if (strcmp(request, level_names[i]) == 0 &&
                umapc_cpu_level_runs(detected, (umapc_level)i)) {
                return (umapc_level)i;
            }
        }
    }
    return umapc_cpu_best_level(detected);
}

/* Detected bits and level packed in one word, so one atomic load gives a consistent pair. Two
 * threads racing through the first call compute and store the same word, so no lock is needed. */
#define STATE_READY       (1u << 31)
#define STATE_LEVEL_SHIFT 16

static _Atomic unsigned cpu_state;

static unsigned state(void) {
    unsigned s = atomic_load_explicit(&cpu_state, memory_order_acquire);
    if (s == 0) {
        unsigned detected = detect();
        umapc_level level = umapc_cpu_resolve(detected, getenv("UMAPC_SIMD"));
        s = STATE_READY | ((unsigned)level << STATE_LEVEL_SHIFT) | detected;
        atomic_store_explicit(&cpu_state, s, memory_order_release);
    }
    return s;
}

unsigned umapc_cpu_detected(void) {
    return state() & ((1u << STATE_LEVEL_SHIFT) - 1);
}

umapc_level umapc_cpu_level(void) {
    return (umapc_level)((state() & ~STATE_READY) >> STATE_LEVEL_SHIFT);
}

unsigned umapc_cpu_features(void) {
    umapc_level level = umapc_cpu_level();
    unsigned mask = 0;
    /* A level allows its own bits and those of the levels below it on the same architecture. */
    for (unsigned l = 0; l <= (unsigned)level; l++) {
        if (umapc_cpu_level_runs(umapc_cpu_detected(), (umapc_level)l)) {
            mask |= umapc_cpu_level_mask((umapc_level)l);
        }
    }
    return umapc_cpu_detected() & mask;
}

const char *umapc_simd_level(void) {
    return umapc_cpu_level_name(umapc_cpu_level());
}

int umapc_cpu_runs(umapc_level level) {
    return level >= 0 && level < UMAPC_LEVEL_COUNT &&
           umapc_cpu_level_runs(umapc_cpu_detected(), level);
}

umapc_fp_mode umapc_cpu_flush_denormals(void) {
    umapc_fp_mode mode = {0};
#if defined(UMAPC_FP_X86)
    mode.saved = _mm_getcsr();
    _mm_setcsr((unsigned)mode.saved | FP_X86_FTZ_DAZ);
#elif defined(UMAPC_FP_AARCH64)
    unsigned long long fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    mode.saved = fpcr;
    __asm__ volatile("msr fpcr, %0" : : "r"(fpcr | FP_AARCH64_FZ));
#endif
    return mode;
}

void umapc_cpu_restore_fp(umapc_fp_mode mode) {
#if defined(UMAPC_FP_X86)
    _mm_setcsr((unsigned)mode.saved);
#elif defined(UMAPC_FP_AARCH64)
    __asm__ volatile("msr fpcr, %0" : : "r"(mode.saved));
#else
    (void)mode;
#endif
}

/* The one place that knows which SIMD instructions this CPU runs and which level the kernels use.
 *
 * Every stage asks here instead of probing the CPU itself, so that all stages run at the same
 * level and the UMAPC_SIMD override (scalar, avx2, avx512, neon) reaches all of them. The level
 * is detected on first use and fixed for the life of the process. */
#ifndef UMAPC_SRC_CPU_H
#define UMAPC_SRC_CPU_H

/* Which kernel files the build has: meson compiles the x86 ones only for x86 targets and the NEON
 * ones only for aarch64, and these are the same conditions. */
#if defined(__x86_64__) || defined(__i386__)
#define UMAPC_HAVE_X86_KERNELS 1
#endif
#if defined(__aarch64__)
#define UMAPC_HAVE_NEON_KERNELS 1
#endif

/* Feature bits, as the hardware and OS offer them (the OS part: the wide registers are saved). */
enum {
    UMAPC_CPU_AVX2 = 1u << 0,
    UMAPC_CPU_FMA = 1u << 1,
    UMAPC_CPU_AVX512F = 1u << 2,
    UMAPC_CPU_AVX512BW = 1u << 3,
    UMAPC_CPU_AVX512DQ = 1u << 4,
    UMAPC_CPU_AVX512VL = 1u << 5,
    UMAPC_CPU_AVX512VNNI = 1u << 6,
    UMAPC_CPU_NEON = 1u << 8,
    UMAPC_CPU_DOTPROD = 1u << 9,
};

/* What a level needs: the x86 kernel files are compiled with these flags, so the compiler may use
 * any of them there. */
#define UMAPC_CPU_NEEDS_AVX2 (UMAPC_CPU_AVX2 | UMAPC_CPU_FMA)
#define UMAPC_CPU_NEEDS_AVX512                                                                     \
    (UMAPC_CPU_NEEDS_AVX2 | UMAPC_CPU_AVX512F | UMAPC_CPU_AVX512BW | UMAPC_CPU_AVX512DQ |          \
     UMAPC_CPU_AVX512VL)
#define UMAPC_CPU_NEEDS_NEON UMAPC_CPU_NEON

/* Ordered within an architecture: scalar < avx2 < avx512 on x86, scalar < neon on ARM. VNNI and
 * dotprod are features on top of avx512 and neon, not levels. */
typedef enum umapc_level {
    UMAPC_LEVEL_SCALAR = 0,
    UMAPC_LEVEL_AVX2 = 1,
    UMAPC_LEVEL_AVX512 = 2,
    UMAPC_LEVEL_NEON = 3,
    UMAPC_LEVEL_COUNT = 4 /* for tables of kernels indexed by level */
} umapc_level;

/* Whether kernels of this level may run on this CPU: the test every stage's table of kernels by
 * level (an array indexed by umapc_level, NULL where the build has none) applies. */
int umapc_cpu_runs(umapc_level level);

/* Feature bits of this CPU, whatever the level in use. */
unsigned umapc_cpu_detected(void);

/* The level every stage uses: the best this CPU has, or UMAPC_SIMD where it names a level the CPU
 * has. */
umapc_level umapc_cpu_level(void);

/* Feature bits the level in use allows (detected bits of the level and below, plus VNNI at avx512
 * and dotprod at neon): what kernel choosers test, so UMAPC_SIMD=avx2 also turns VNNI off. */
unsigned umapc_cpu_features(void);

/* "scalar", "avx2", "avx512" or "neon". */
const char *umapc_cpu_level_name(umapc_level level);

/* Whether a CPU with these feature bits runs the kernels of level. */
int umapc_cpu_level_runs(unsigned detected, umapc_level level);

/* The best level of these feature bits. */
umapc_level umapc_cpu_best_level(unsigned detected);

/* The level for these feature bits and a UMAPC_SIMD value (NULL: unset): the requested level if
 * the bits run it, else the best (also for an unknown name). The rule umapc_cpu_level applies,
 * without the process's CPU and environment, for tests. */
umapc_level umapc_cpu_resolve(unsigned detected, const char *request);

/* The feature bits kernels of this level (and not of the levels below it) may use. */
unsigned umapc_cpu_level_mask(umapc_level level);

/* The calling thread's floating-point control state, as umapc_cpu_flush_denormals found it. */
typedef struct umapc_fp_mode {
    unsigned long long saved;
} umapc_fp_mode;

/* Makes the calling thread read and write float denormals as zero (x86: MXCSR FTZ and DAZ;
 * AArch64: FPCR.FZ; elsewhere nothing) until umapc_cpu_restore_fp. For loops whose values decay
 * geometrically towards zero, where Intel cores take a microcode assist on every denormal
 * operand; the same flush on every architecture keeps results the same across CPUs. */
umapc_fp_mode umapc_cpu_flush_denormals(void);
void umapc_cpu_restore_fp(umapc_fp_mode mode);

#endif

/* The CPU dispatch: level choice from feature bits and UMAPC_SIMD (made-up CPUs), and the level of
 * this process under whatever UMAPC_SIMD meson test sets. */
#include "check.h"
#include "cpu.h"
#include "umapc/common.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

static const unsigned x86_all = UMAPC_CPU_NEEDS_AVX512 | UMAPC_CPU_AVX512VNNI;

static void test_resolve(void) {
    CHECK(umapc_cpu_resolve(0, NULL) == UMAPC_LEVEL_SCALAR);
    CHECK(umapc_cpu_resolve(0, "avx512") == UMAPC_LEVEL_SCALAR);
    CHECK(umapc_cpu_resolve(0, "neon") == UMAPC_LEVEL_SCALAR);
    CHECK(umapc_cpu_level_runs(0, UMAPC_LEVEL_SCALAR));
    CHECK(strcmp(umapc_cpu_level_name(UMAPC_LEVEL_AVX512), "avx512") == 0);
    CHECK(strcmp(umapc_cpu_level_name((umapc_level)77), "scalar") == 0);
#if defined(UMAPC_HAVE_X86_KERNELS)
    const unsigned x86_avx2 = UMAPC_CPU_AVX2 | UMAPC_CPU_FMA;
    CHECK(umapc_cpu_resolve(x86_all, NULL) == UMAPC_LEVEL_AVX512);
    CHECK(umapc_cpu_resolve(x86_all, "avx2") == UMAPC_LEVEL_AVX2);
    CHECK(umapc_cpu_resolve(x86_all, "scalar") == UMAPC_LEVEL_SCALAR);
    /* An unknown name, a name of another architecture, or a different spelling: the best. */
    CHECK(umapc_cpu_resolve(x86_all, "sse9") == UMAPC_LEVEL_AVX512);
    CHECK(umapc_cpu_resolve(x86_all, "neon") == UMAPC_LEVEL_AVX512);
    CHECK(umapc_cpu_resolve(x86_all, "AVX2") == UMAPC_LEVEL_AVX512);
    CHECK(umapc_cpu_resolve(x86_all, "") == UMAPC_LEVEL_AVX512);
    /* More than the CPU has is capped at its best. */
    CHECK(umapc_cpu_resolve(x86_avx2, "avx512") == UMAPC_LEVEL_AVX2);
    CHECK(umapc_cpu_resolve(x86_avx2, NULL) == UMAPC_LEVEL_AVX2);
    /* A level needs all of its bits: AVX2 without FMA is not avx2, AVX-512 F without VL is not
     * avx512. */
    CHECK(umapc_cpu_resolve(UMAPC_CPU_AVX2, "avx2") == UMAPC_LEVEL_SCALAR);
    CHECK(umapc_cpu_resolve(x86_all & ~UMAPC_CPU_AVX512VL, NULL) == UMAPC_LEVEL_AVX2);
    CHECK(!umapc_cpu_level_runs(x86_all, UMAPC_LEVEL_NEON));
#endif
#if defined(UMAPC_HAVE_NEON_KERNELS)
    unsigned arm = UMAPC_CPU_NEON | UMAPC_CPU_DOTPROD;
    CHECK(umapc_cpu_resolve(arm, NULL) == UMAPC_LEVEL_NEON);
    CHECK(umapc_cpu_resolve(arm, "scalar") == UMAPC_LEVEL_SCALAR);
    CHECK(umapc_cpu_resolve(arm, "avx2") == UMAPC_LEVEL_NEON);
    CHECK(umapc_cpu_resolve(arm, "avx512") == UMAPC_LEVEL_NEON);
    CHECK(umapc_cpu_resolve(arm, "sse9") == UMAPC_LEVEL_NEON);
    CHECK(!umapc_cpu_level_runs(arm, UMAPC_LEVEL_AVX2));
#endif
#if !defined(UMAPC_HAVE_X86_KERNELS)
    /* Bits of another architecture mean nothing to a build without its kernels. */
    CHECK(umapc_cpu_resolve(x86_all, "avx512") != UMAPC_LEVEL_AVX512);
#endif
#if !defined(UMAPC_HAVE_NEON_KERNELS)
    CHECK(umapc_cpu_resolve(UMAPC_CPU_NEON, "neon") == UMAPC_LEVEL_SCALAR);
#endif
}

/* The level of this process follows UMAPC_SIMD as meson test set it. */
static void test_process(void) {
    unsigned detected = umapc_cpu_detected();
    umapc_level best = umapc_cpu_best_level(detected), level = umapc_cpu_level();
    const char *request = getenv("UMAPC_SIMD");
    umapc_level want = best;
    for (int l = 0; request != NULL && l < 4; l++) {
        if (strcmp(request, umapc_cpu_level_name((umapc_level)l)) == 0 &&
            umapc_cpu_level_runs(detected, (umapc_level)l)) {
            want = (umapc_level)l;
        }
    }
    CHECK(level == want);
    CHECK(umapc_cpu_level_runs(detected, level));
    CHECK(strcmp(umapc_simd_level(), umapc_cpu_level_name(level)) == 0);
    unsigned features = umapc_cpu_features();
    CHECK((features & ~detected) == 0);
    if (level != UMAPC_LEVEL_AVX512) {
        CHECK((features & (UMAPC_CPU_AVX512F | UMAPC_CPU_AVX512VNNI)) == 0);
    }
    if (level == UMAPC_LEVEL_SCALAR) {
        CHECK(features == 0);
    }
    if (level == UMAPC_LEVEL_AVX512) {
        CHECK((features & UMAPC_CPU_NEEDS_AVX512) == UMAPC_CPU_NEEDS_AVX512);
        CHECK((features & UMAPC_CPU_AVX512VNNI) == (detected & UMAPC_CPU_AVX512VNNI));
    }
    if (level == UMAPC_LEVEL_NEON) {
        CHECK((features & UMAPC_CPU_DOTPROD) == (detected & UMAPC_CPU_DOTPROD));
    }
    printf("UMAPC_SIMD=%s: level %s of best %s, features 0x%x of detected 0x%x\n",
           request != NULL ? request : "(unset)", umapc_simd_level(), umapc_cpu_level_name(best),
           features, detected);
}

/* First use from many threads at once: all see the same level (run this before anything else in
 * the process has asked). */
static void test_first_use_threads(void) {
    int levels[64];
#pragma omp parallel for num_threads(8) schedule(static, 1)
    for (int i = 0; i < 64; i++) {
        levels[i] = (int)umapc_cpu_level();
    }
    for (int i = 1; i < 64; i++) {
        CHECK(levels[i] == levels[0]);
    }
}

/* A product below FLT_MIN is 0 inside the flush and a denormal again once the mode is restored
 * (on CPUs without a flush mode both are the denormal). volatile: computed at run time. */
static void test_flush_denormals(void) {
    volatile float tiny = FLT_MIN, half = 0.5f;
    float before = tiny * half;
    CHECK(before > 0.0f && before < FLT_MIN);
    umapc_fp_mode mode = umapc_cpu_flush_denormals();
    float inside = tiny * half;
#if defined(__SSE2__) || defined(_M_X64) || defined(__aarch64__)
    CHECK(inside == 0.0f);
#else
    CHECK(inside == before);
#endif
    umapc_cpu_restore_fp(mode);
    float after = tiny * half;
    CHECK(after == before);
}

int main(void) {
    test_flush_denormals();
    test_first_use_threads();
    test_resolve();
    test_process();
    CHECK_DONE();
}

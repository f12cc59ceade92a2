/* Helpers shared by every stage; not part of the public API. */
#ifndef UMAPC_INTERNAL_H
#define UMAPC_INTERNAL_H

#include "umapc/common.h"

#include <stdarg.h>
#include <stddef.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* The calling thread's number in its OpenMP team and the team's size (0 and 1 without OpenMP):
 * the one place the library asks OpenMP. */
static inline int umapc_thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static inline int umapc_team_size(void) {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

#if defined(__GNUC__)
#define UMAPC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define UMAPC_LIKELY(x)    __builtin_expect(!!(x), 1)
#define UMAPC_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#else
#define UMAPC_PRINTF(f, a)
#define UMAPC_LIKELY(x)   (x)
#define UMAPC_UNLIKELY(x) (x)
#endif

/* Fills err (when not NULL) with status and a formatted message; returns status so that callers
 * can write `return umapc_fail(err, UMAPC_ERR_..., "...")`. */
umapc_status umapc_fail(umapc_error *err, umapc_status status, const char *fmt, ...)
    UMAPC_PRINTF(3, 4);

/* Reports progress; returns nonzero when the caller asked to stop. Call from one thread only
 * (in OpenMP regions: thread 0), and not more often than needed (it may take the GIL). */
int umapc_progress_report(const umapc_progress *progress, const char *stage, size_t done,
                          size_t total);

/* Allocation aligned to 64 bytes (a cache line and an AVX-512 register); free with
 * umapc_aligned_free. Returns NULL on overflow or exhaustion. */
void *umapc_aligned_alloc(size_t count, size_t size);
void umapc_aligned_free(void *ptr);

/* a * b, or SIZE_MAX when it overflows. */
size_t umapc_mul_size(size_t a, size_t b);

/* The thread count of optional run options (NULL: the default, all usable CPUs). */
static inline int umapc_run_threads(const umapc_run_options *opts) {
    return opts != NULL ? opts->n_threads : 0;
}

/* The index file's trailing checksum over its first size bytes (src/knn/index.c); the tests use
 * it to forge files whose content, not their checksum, is wrong. */
uint64_t umapc_index_checksum(const uint8_t *bytes, size_t size);

/* Seedable counter-based random numbers (SplitMix64 / Philox style): the value depends only on
 * (seed, stream, counter), so results do not depend on how work is split across threads. */
static inline uint64_t umapc_hash64(uint64_t x) {
    /* SplitMix64 finaliser: a bijection with good avalanche, cheap enough to inline per sample. */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}
static inline uint64_t umapc_rand_at(uint64_t seed, uint64_t stream, uint64_t counter) {
    return umapc_hash64(seed ^
                        umapc_hash64(stream ^ umapc_hash64(counter + 0x9e3779b97f4a7c15ULL)));
}

/* Sequential generator for code that runs on one thread. */
typedef struct umapc_rng {
    uint64_t state;
} umapc_rng;
void umapc_rng_seed(umapc_rng *rng, uint64_t seed);
uint64_t umapc_rng_next(umapc_rng *rng);
/* Uniform in [0, bound) without modulo bias worth caring about (bound < 2^32). */
uint32_t umapc_rng_below(umapc_rng *rng, uint32_t bound);
/* Uniform in [0, 1). */
double umapc_rng_uniform(umapc_rng *rng);

/* A max-heap of len <= cap floats that keeps the cap smallest values offered: heap[0] is the
 * largest kept (the k-th smallest once full). */
static inline void umapc_offer_smallest(float *heap, size_t *len, size_t cap, float value) {
    size_t i;
    if (*len < cap) {
        i = (*len)++;
        while (i > 0 && heap[(i - 1) / 2] < value) {
            heap[i] = heap[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        heap[i] = value;
        return;
    }
    if (!(value < heap[0])) {
        return;
    }
    i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= cap) {
            break;
        }
        if (child + 1 < cap && heap[child] < heap[child + 1]) {
            child++;
        }
        if (!(value < heap[child])) {
            break;
        }
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = value;
}

#endif

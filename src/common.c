#include "internal.h"
#include "umapc/metric.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define UMAPC_STR2(x) #x
#define UMAPC_STR(x)  UMAPC_STR2(x)

const char *umapc_version(void) {
    return UMAPC_STR(UMAPC_VERSION_MAJOR) "." UMAPC_STR(UMAPC_VERSION_MINOR) "." UMAPC_STR(
        UMAPC_VERSION_PATCH);
}

const char *umapc_status_name(umapc_status status) {
    switch (status) {
    case UMAPC_OK:
        return "ok";
    case UMAPC_ERR_INVALID_ARGUMENT:
        return "invalid argument";
    case UMAPC_ERR_OUT_OF_MEMORY:
        return "out of memory";
    case UMAPC_ERR_IO:
        return "i/o error";
    case UMAPC_ERR_CORRUPT:
        return "corrupt data";
    case UMAPC_ERR_INTERRUPTED:
        return "interrupted";
    case UMAPC_ERR_NOT_CONVERGED:
        return "not converged";
    case UMAPC_ERR_INTERNAL:
        return "internal error";
    }
    return "unknown status";
}

umapc_status umapc_fail(umapc_error *err, umapc_status status, const char *fmt, ...) {
    if (err != NULL) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, args);
        va_end(args);
        err->status = status;
    }
    return status;
}

int umapc_progress_report(const umapc_progress *progress, const char *stage, size_t done,
                          size_t total) {
    if (progress == NULL || progress->fn == NULL) {
        return 0;
    }
    return progress->fn(progress->user, stage, done, total);
}

int umapc_resolve_threads(int n_threads) {
    if (n_threads > 0) {
        return n_threads;
    }
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    return 1;
#endif
}

size_t umapc_mul_size(size_t a, size_t b) {
    if (a != 0 && b > SIZE_MAX / a) {
        return SIZE_MAX;
    }
    return a * b;
}

void *umapc_aligned_alloc(size_t count, size_t size) {
    size_t bytes = umapc_mul_size(count, size);
    if (bytes == SIZE_MAX) {
        return NULL;
    }
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes == 0) {
        bytes = 64;
    }
    return aligned_alloc(64, bytes);
}

void umapc_aligned_free(void *ptr) {
    free(ptr);
}

uint64_t umapc_hash64(uint64_t x) {
    /* SplitMix64 finaliser: a bijection with good avalanche, cheap enough for per-edge use. */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

void umapc_rng_seed(umapc_rng *rng, uint64_t seed) {
    rng->state = umapc_hash64(seed + 0x9e3779b97f4a7c15ULL);
}

uint64_t umapc_rng_next(umapc_rng *rng) {
    rng->state += 0x9e3779b97f4a7c15ULL;
    return umapc_hash64(rng->state);
}

uint32_t umapc_rng_below(umapc_rng *rng, uint32_t bound) {
    return (uint32_t)(((umapc_rng_next(rng) >> 32) * (uint64_t)bound) >> 32);
}

double umapc_rng_uniform(umapc_rng *rng) {
    return (double)(umapc_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

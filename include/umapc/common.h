/* umapc: shared types of the C API. */
#ifndef UMAPC_COMMON_H
#define UMAPC_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UMAPC_VERSION_MAJOR 0
#define UMAPC_VERSION_MINOR 1
#define UMAPC_VERSION_PATCH 0

#if defined(_WIN32)
#define UMAPC_API __declspec(dllexport)
#elif defined(__GNUC__)
#define UMAPC_API __attribute__((visibility("default")))
#else
#define UMAPC_API
#endif

/* Every call returns one of these; UMAPC_OK is zero so `if (status)` tests for failure. */
typedef enum umapc_status {
    UMAPC_OK = 0,
    UMAPC_ERR_INVALID_ARGUMENT = 1, /* caller passed something out of range or inconsistent */
    UMAPC_ERR_OUT_OF_MEMORY = 2,
    UMAPC_ERR_IO = 3,         /* a file could not be opened, read or written */
    UMAPC_ERR_CORRUPT = 4,    /* a file is truncated, has a bad checksum or unknown version */
    UMAPC_ERR_INTERRUPTED = 5 /* the progress callback asked to stop */
    /* No call fails for want of convergence: the spectral layout reports it in a flag. */
} umapc_status;

/* Filled by a failing call with a human-readable message; may be NULL when the caller does not
 * care. A successful call leaves it untouched. */
typedef struct umapc_error {
    umapc_status status;
    char message[512];
} umapc_error;

/* Progress and cancellation. Called from one thread at a time, at most a few times per second of
 * work; `done` counts up to `total` within `stage`. Return nonzero to stop: the call then cleans up
 * and returns UMAPC_ERR_INTERRUPTED. */
typedef int (*umapc_progress_fn)(void *user, const char *stage, size_t done, size_t total);

typedef struct umapc_progress {
    umapc_progress_fn fn; /* NULL: no reporting, no cancellation */
    void *user;
} umapc_progress;

/* Index type of neighbour lists everywhere in the API (pynndescent uses int32 too). */
typedef int32_t umapc_idx;

UMAPC_API const char *umapc_version(void);
UMAPC_API const char *umapc_status_name(umapc_status status);

/* CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota. */
UMAPC_API int umapc_usable_cpus(void);

/* Number of threads a call will use for n_threads as given by the caller: <= 0 means all usable
 * CPUs (-1 is scikit-learn's spelling), otherwise the value itself capped at umapc_usable_cpus().
 */
UMAPC_API int umapc_resolve_threads(int n_threads);

/* Options of a call whose only setting is how many threads it runs on. Every call that runs
 * threads takes them from an options struct, this one or its stage's (NULL: the defaults). */
typedef struct umapc_run_options {
    int n_threads; /* <= 0: all usable CPUs. Default 0. */
} umapc_run_options;

UMAPC_API void umapc_run_options_init(umapc_run_options *opts);

/* Name of the SIMD level the kernels use in this process: "scalar", "avx2" or "avx512" on x86,
 * "scalar" or "neon" on 64-bit ARM. It is the CPU's best, or the level the environment variable
 * UMAPC_SIMD names where the CPU has it (more than the CPU has, or an unknown name, gives the
 * best). Detected on first use and then fixed for the process; safe to call from any thread. */
UMAPC_API const char *umapc_simd_level(void);

/* Frees a buffer the library allocated and handed over (the meta bytes of umapc_index_load and
 * umapc_index_deserialize, the bytes of umapc_index_serialize): the library's own allocator,
 * which need not be the caller's. NULL is ignored. */
UMAPC_API void umapc_free(void *buffer);

#ifdef __cplusplus
}
#endif

#endif

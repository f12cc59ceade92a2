#include "internal.h"
#include "umapc/metric.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* CPUs allowed by a cgroup CPU quota (v2 cpu.max, else v1 cfs quota/period), rounded up; 0 when
 * there is no quota or it cannot be read. */
static int cgroup_cpus(void) {
    long long quota = -1, period = 0;
    FILE *fp = fopen("/sys/fs/cgroup/cpu.max", "r");
    if (fp != NULL) {
        char max[32] = {0};
        if (fscanf(fp, "%31s %lld", max, &period) == 2 && strcmp(max, "max") != 0) {
            quota = strtoll(max, NULL, 10);
        }
        fclose(fp);
    } else {
        fp = fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r");
        if (fp != NULL) {
            if (fscanf(fp, "%lld", &quota) != 1) {
                quota = -1;
            }
            fclose(fp);
        }
        fp = fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r");
        if (fp != NULL) {
            if (fscanf(fp, "%lld", &period) != 1) {
                period = 0;
            }
            fclose(fp);
        }
    }
    if (quota <= 0 || period <= 0) {
        return 0;
    }
    long long cpus = (quota + period - 1) / period;
    return cpus > 65536 ? 65536 : (int)cpus;
}

int umapc_usable_cpus(void) {
    /* The cgroup quota cannot change under a running process in practice; read it once. */
    static _Atomic int quota_cpus = -1;
    int cpus = 0;
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        cpus = CPU_COUNT(&set);
    }
#endif
    if (cpus <= 0) {
#ifdef _OPENMP
        cpus = omp_get_num_procs();
#else
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        cpus = online > 0 && online < 65536 ? (int)online : 1;
#endif
    }
    int quota = quota_cpus;
    if (quota < 0) {
        quota = cgroup_cpus();
        quota_cpus = quota;
    }
    if (quota > 0 && quota < cpus) {
        cpus = quota;
    }
    return cpus > 0 ? cpus : 1;
}

int umapc_resolve_threads(int n_threads) {
    int usable = umapc_usable_cpus();
    /* More threads than CPUs only adds per-thread buffers and contention, and a thread count
     * the OS cannot create aborts the process inside libgomp. */
    if (n_threads > 0 && n_threads < usable) {
        return n_threads;
    }
    return usable;
}

void umapc_run_options_init(umapc_run_options *opts) {
    opts->n_threads = 0;
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

void umapc_free(void *buffer) {
    free(buffer);
}

/* Distinct rows by hashing: one pass, a row compared in full only when its hash meets another's
 * slot, so the cost is O(n dim) instead of the O(n log n dim) of sorting rows. */
#include "internal.h"
#include "umapc/unique.h"

#include <stdlib.h>
#include <string.h>

static uint64_t row_hash(const float *row, size_t dim) {
    uint64_t h = 0x243f6a8885a308d3ULL ^ (uint64_t)dim;
    for (size_t d = 0; d < dim; d++) {
        uint32_t bits;
        memcpy(&bits, &row[d], sizeof bits);
        h = umapc_hash64(h ^ bits);
    }
    return h;
}

umapc_status umapc_unique_rows(const float *x, size_t n, size_t dim, umapc_idx *first,
                               umapc_idx *inverse, size_t *n_unique, umapc_error *err) {
    if (x == NULL || first == NULL || inverse == NULL || n_unique == NULL || dim == 0 ||
        n > INT32_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "unique_rows: need a matrix of at most 2^31 - 1 rows and >= 1 column");
    }
    /* a table at most half full: slot holds 1 + the position in first of a distinct row */
    size_t cap = 16;
    while (cap < 2 * n) {
        cap *= 2;
    }
    umapc_idx *slot = calloc(cap, sizeof *slot);
    if (slot == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "unique_rows: out of memory");
    }
    size_t count = 0, bytes = dim * sizeof *x;
    for (size_t i = 0; i < n; i++) {
        const float *row = x + i * dim;
        size_t s = (size_t)row_hash(row, dim) & (cap - 1);
        while (slot[s] != 0 && memcmp(x + (size_t)first[slot[s] - 1] * dim, row, bytes) != 0) {
            s = (s + 1) & (cap - 1);
        }
        if (slot[s] == 0) {
            first[count] = (umapc_idx)i;
            slot[s] = (umapc_idx)(++count);
        }
        inverse[i] = slot[s] - 1;
    }
    free(slot);
    *n_unique = count;
    return UMAPC_OK;
}

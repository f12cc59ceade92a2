/* Distinct rows by hashing: one pass, a row compared in full only when its hash meets another's
 * slot, so the cost is O(n dim) instead of the O(n log n dim) of sorting rows. Dense and sparse
 * rows share the table; only how a row is hashed and compared differs. */
#include "internal.h"
#include "umapc/unique.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_words(uint64_t h, const void *words, size_t count) {
    const unsigned char *p = words;
    for (size_t w = 0; w < count; w++) {
        uint32_t bits;
        memcpy(&bits, p + 4 * w, sizeof bits);
        h = umapc_hash64(h ^ bits);
    }
    return h;
}

/* A row of either kind: its hash, and whether two rows are equal bit for bit. */
typedef struct row_set {
    uint64_t (*hash)(const struct row_set *rs, size_t i);
    int (*equal)(const struct row_set *rs, size_t i, size_t j);
    const float *x;
    size_t dim;
    const umapc_csr *csr;
} row_set;

static uint64_t dense_hash(const row_set *rs, size_t i) {
    return hash_words(0x243f6a8885a308d3ULL ^ (uint64_t)rs->dim, rs->x + i * rs->dim, rs->dim);
}

static int dense_equal(const row_set *rs, size_t i, size_t j) {
    return memcmp(rs->x + i * rs->dim, rs->x + j * rs->dim, rs->dim * sizeof *rs->x) == 0;
}

static uint64_t csr_hash(const row_set *rs, size_t i) {
    const umapc_csr *c = rs->csr;
    size_t lo = (size_t)c->indptr[i], nnz = (size_t)c->indptr[i + 1] - lo;
    uint64_t h = hash_words(0x243f6a8885a308d3ULL ^ (uint64_t)nnz, c->indices + lo, nnz);
    return hash_words(h, c->data + lo, nnz);
}

static int csr_equal(const row_set *rs, size_t i, size_t j) {
    const umapc_csr *c = rs->csr;
    size_t li = (size_t)c->indptr[i], lj = (size_t)c->indptr[j];
    size_t nnz = (size_t)c->indptr[i + 1] - li;
    return nnz == (size_t)c->indptr[j + 1] - lj &&
           memcmp(c->indices + li, c->indices + lj, nnz * sizeof *c->indices) == 0 &&
           memcmp(c->data + li, c->data + lj, nnz * sizeof *c->data) == 0;
}

static umapc_status unique_of(const row_set *rs, size_t n, umapc_idx *first, umapc_idx *inverse,
                              size_t *n_unique, umapc_error *err) {
    /* a table at most half full: slot holds 1 + the position in first of a distinct row */
    size_t cap = 16;
    while (cap < 2 * n) {
        cap *= 2;
    }
    umapc_idx *slot = calloc(cap, sizeof *slot);
    if (slot == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "unique_rows: out of memory");
    }
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        size_t s = (size_t)rs->hash(rs, i) & (cap - 1);
        while (slot[s] != 0 && !rs->equal(rs, (size_t)first[slot[s] - 1], i)) {
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

umapc_status umapc_unique_rows(const float *x, size_t n, size_t dim, umapc_idx *first,
                               umapc_idx *inverse, size_t *n_unique, umapc_error *err) {
    if (x == NULL || first == NULL || inverse == NULL || n_unique == NULL || dim == 0 ||
        n > INT32_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "unique_rows: need a matrix of at most 2^31 - 1 rows and >= 1 column");
    }
    row_set rs = {dense_hash, dense_equal, x, dim, NULL};
    return unique_of(&rs, n, first, inverse, n_unique, err);
}

umapc_status umapc_unique_csr_rows(const umapc_csr *x, umapc_idx *first, umapc_idx *inverse,
                                   size_t *n_unique, umapc_error *err) {
    if (x == NULL || first == NULL || inverse == NULL || n_unique == NULL ||
        x->n_rows > INT32_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "unique_rows: need sparse rows, at most 2^31 - 1 of them");
    }
    umapc_status st = umapc_csr_check(x, err);
    if (st != UMAPC_OK) {
        return st;
    }
    row_set rs = {csr_hash, csr_equal, NULL, 0, x};
    return unique_of(&rs, x->n_rows, first, inverse, n_unique, err);
}

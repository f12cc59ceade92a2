/* Sparse rows: every sparse kernel against the dense metric on the densified rows, the structure
 * checks, and the sparse NN-descent graph against the exact sparse graph. */
#include "check.h"
#include "umapc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define N   300
#define DIM 64

typedef struct csr_buf {
    int64_t indptr[N + 1];
    int32_t indices[N * DIM];
    float data[N * DIM];
    float dense[N * DIM];
    umapc_csr csr;
} csr_buf;

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Rows near one of four centres, each coordinate kept with probability 1/8; row 7 empty. */
static void fill(csr_buf *b, uint64_t seed) {
    size_t e = 0;
    b->indptr[0] = 0;
    for (size_t i = 0; i < N; i++) {
        size_t centre = i % 4;
        for (size_t d = 0; d < DIM; d++) {
            float v = 0.0f;
            if (i != 7 && (next(&seed) % 8 == 0 || (d % 4 == centre && next(&seed) % 2 == 0))) {
                v = (float)(next(&seed) % 1000) / 250.0f + 0.01f;
            }
            b->dense[i * DIM + d] = v;
            if (v != 0.0f) {
                b->indices[e] = (int32_t)d;
                b->data[e++] = v;
            }
        }
        b->indptr[i + 1] = (int64_t)e;
    }
    b->csr = (umapc_csr){N, DIM, b->indptr, b->indices, b->data};
}

static void test_kernels_equal_dense(const csr_buf *b) {
    for (int kind = 0; kind < UMAPC_METRIC_COUNT_; kind++) {
        if (!umapc_metric_sparse_supported((umapc_metric_kind)kind) ||
            kind == UMAPC_METRIC_JENSEN_SHANNON || kind == UMAPC_METRIC_SYMMETRIC_KL ||
            kind == UMAPC_METRIC_LL_DIRICHLET || kind == UMAPC_METRIC_DOT) {
            /* the divergences follow pynndescent's sparse form, ll_dirichlet umap-learn's (every
             * stored value counts, not only those above 0.9: equal on counts, see
             * test_ll_dirichlet_counts); dot normalises */
            continue;
        }
        umapc_metric m;
        umapc_metric_init(&m);
        m.kind = (umapc_metric_kind)kind;
        m.p = 3.0;
        /* row 7 is empty: no distribution for wasserstein_1d, whose check refuses it */
        int mass = kind == UMAPC_METRIC_WASSERSTEIN_1D;
        if (mass) {
            CHECK(umapc_sparse_check_data(&m, &b->csr, NULL) == UMAPC_ERR_INVALID_ARGUMENT);
        } else {
            CHECK_OK(umapc_sparse_check_data(&m, &b->csr, &ce_));
        }
        for (size_t i = 0; i < N; i += 13) {
            for (size_t j = 0; j < N; j += 7) {
                if (mass && (i == 7 || j == 7)) {
                    continue;
                }
                float got = umapc_sparse_distance(&m, &b->csr, i, &b->csr, j);
                float want = umapc_distance(&m, b->dense + i * DIM, b->dense + j * DIM, DIM);
                CHECK_CLOSE(got, want, 1e-5, 1e-6);
            }
        }
    }
}

static void test_bad_structure(void) {
    int64_t indptr[2] = {0, 2};
    int32_t unsorted[2] = {3, 1}, outside[2] = {1, 9};
    float data[2] = {1.0f, 2.0f};
    umapc_csr x = {1, 5, indptr, unsorted, data};
    umapc_error err = {0};
    CHECK(umapc_csr_check(&x, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    x.indices = outside;
    CHECK(umapc_csr_check(&x, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    int64_t back[2] = {0, -1};
    x.indptr = back;
    CHECK(umapc_csr_check(&x, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    /* a row reaching past the entry count (ASan would see the read) */
    int64_t past[3] = {0, 3, 2};
    int32_t two[2] = {0, 1};
    umapc_csr y = {2, 5, past, two, data};
    CHECK(umapc_csr_check(&y, &err) == UMAPC_ERR_INVALID_ARGUMENT);
}

static void test_nndescent_against_exact(const csr_buf *b) {
    size_t k = 10;
    umapc_idx *ei = malloc(N * k * sizeof *ei), *ni = malloc(N * k * sizeof *ni);
    float *ed = malloc(N * k * sizeof *ed), *nd = malloc(N * k * sizeof *nd);
    umapc_metric m;
    umapc_metric_init(&m);
    m.kind = UMAPC_METRIC_COSINE;
    CHECK_OK(umapc_exact_knn_graph_csr(&m, &b->csr, k, NULL, NULL, ei, ed, &ce_));
    umapc_nndescent_options o;
    umapc_nndescent_options_init(&o);
    o.min_recall = 0.0; /* the search itself, not its exact fallback */
    CHECK_OK(umapc_nndescent_knn_graph_csr(&m, &b->csr, k, &o, NULL, NULL, ni, nd, &ce_));
    size_t found = 0;
    for (size_t i = 0; i < N; i++) {
        CHECK(ni[i * k] == (umapc_idx)i);
        for (size_t c = 1; c < k; c++) {
            found += nd[i * k + c] <= ed[i * k + k - 1] * (1.0f + 1e-5f) + 1e-7f;
        }
    }
    double recall = (double)found / (double)(N * (k - 1));
    if (recall < 0.95) {
        fprintf(stderr, "sparse nndescent recall %.4f\n", recall);
    }
    CHECK(recall >= 0.95); /* one search with heaps of k, no restart */
    free(ei);
    free(ni);
    free(ed);
    free(nd);
}

/* On counts (values >= 1, all past the dense form's 0.9 threshold) the sparse ll_dirichlet equals
 * the dense one on the densified rows; an empty row is refused (no mass). */
static void test_ll_dirichlet_counts(const csr_buf *b) {
    umapc_metric m;
    umapc_metric_init(&m);
    m.kind = UMAPC_METRIC_LL_DIRICHLET;
    CHECK(umapc_sparse_check_data(&m, &b->csr, NULL) == UMAPC_ERR_INVALID_ARGUMENT);
    float *counts = malloc(N * DIM * sizeof *counts),
          *cdata = malloc(b->csr.indptr[N] * sizeof *cdata);
    for (size_t e = 0; e < (size_t)b->csr.indptr[N]; e++) {
        cdata[e] = 1.0f + (float)(e % 5);
    }
    memset(counts, 0, N * DIM * sizeof *counts);
    for (size_t i = 0; i < N; i++) {
        for (int64_t e = b->csr.indptr[i]; e < b->csr.indptr[i + 1]; e++) {
            counts[i * DIM + (size_t)b->csr.indices[e]] = cdata[e];
        }
    }
    umapc_csr c = {N, DIM, b->csr.indptr, b->csr.indices, cdata};
    for (size_t i = 0; i < N; i += 11) {
        for (size_t j = 0; j < N; j += 5) {
            if (i == 7 || j == 7) {
                continue; /* the empty row */
            }
            float got = umapc_sparse_distance(&m, &c, i, &c, j);
            float want = umapc_distance(&m, counts + i * DIM, counts + j * DIM, DIM);
            CHECK_CLOSE(got, want, 1e-5, 1e-6);
        }
    }
    free(counts);
    free(cdata);
}

int main(void) {
    csr_buf *b = malloc(sizeof *b);
    fill(b, 0x9e3779b97f4a7c15ULL);
    test_kernels_equal_dense(b);
    test_ll_dirichlet_counts(b);
    test_bad_structure();
    test_nndescent_against_exact(b);
    free(b);
    CHECK_DONE();
}

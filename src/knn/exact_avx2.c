/* AVX2+FMA GEMM tile for exact search: 6 query rows x 16 data columns. 12 accumulators plus two B
 * vectors and one broadcast fill the 16 ymm registers exactly, keeping both FMA pipes busy. */
#include "exact_kernels.h"

#include <immintrin.h>

#define MR 6
#define NR 16

#define ACC_DECL(r)                                                                                \
    __m256 c##r##_0 = _mm256_setzero_ps();                                                         \
    __m256 c##r##_1 = _mm256_setzero_ps()

#define ACC_FMA(r)                                                                                 \
    do {                                                                                           \
        const __m256 ar = _mm256_broadcast_ss(a + (r));                                            \
        c##r##_0 = _mm256_fmadd_ps(ar, b0, c##r##_0);                                              \
        c##r##_1 = _mm256_fmadd_ps(ar, b1, c##r##_1);                                              \
    } while (0)

#define ACC_STORE(r)                                                                               \
    hits[r] = finish_row(c##r##_0, c##r##_1, args->row_norm[r], args->row_bound[r], &cols,         \
                         tile + (r)*NR)

typedef struct col_consts {
    __m256 norm0, norm1, slack0, slack1, clamp;
} col_consts;

static inline uint32_t finish_row(__m256 acc0, __m256 acc1, float row_norm, float row_bound,
                                  const col_consts *cols, float *out) {
    const __m256 minus_two = _mm256_set1_ps(-2.0f);
    const __m256 rn = _mm256_set1_ps(row_norm);
    const __m256 bound = _mm256_set1_ps(row_bound);
    __m256 v0 = _mm256_fmadd_ps(minus_two, acc0, _mm256_add_ps(rn, cols->norm0));
    __m256 v1 = _mm256_fmadd_ps(minus_two, acc1, _mm256_add_ps(rn, cols->norm1));
    v0 = _mm256_min_ps(v0, cols->clamp);
    v1 = _mm256_min_ps(v1, cols->clamp);
    _mm256_storeu_ps(out, v0);
    _mm256_storeu_ps(out + 8, v1);
    int m0 = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_sub_ps(v0, cols->slack0), bound, _CMP_LE_OQ));
    int m1 = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_sub_ps(v1, cols->slack1), bound, _CMP_LE_OQ));
    return (uint32_t)m0 | ((uint32_t)m1 << 8);
}

static void tile_avx2(size_t dim, const float *a, const float *b, const exact_tile_args *args,
                      float *tile, uint32_t *hits) {
    ACC_DECL(0);
    ACC_DECL(1);
    ACC_DECL(2);
    ACC_DECL(3);
    ACC_DECL(4);
    ACC_DECL(5);
    for (size_t k = 0; k < dim; k++) {
        const __m256 b0 = _mm256_load_ps(b);
        const __m256 b1 = _mm256_load_ps(b + 8);
        ACC_FMA(0);
        ACC_FMA(1);
        ACC_FMA(2);
        ACC_FMA(3);
        ACC_FMA(4);
        ACC_FMA(5);
        a += MR;
        b += NR;
    }
    const col_consts cols = {
        _mm256_loadu_ps(args->col_norm),  _mm256_loadu_ps(args->col_norm + 8),
        _mm256_loadu_ps(args->col_slack), _mm256_loadu_ps(args->col_slack + 8),
        _mm256_set1_ps(args->clamp_max),
    };
    ACC_STORE(0);
    ACC_STORE(1);
    ACC_STORE(2);
    ACC_STORE(3);
    ACC_STORE(4);
    ACC_STORE(5);
}

const exact_gemm_kernel exact_kernel_avx2_table = {tile_avx2, MR, NR, "avx2"};

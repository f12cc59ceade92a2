/* Builds for other architectures than x86: layout.c refers to its x86 kernels unconditionally but
 * calls them only after its own x86-only CPU checks, so these definitions are never reached. They
 * go once layout.c keeps those references behind UMAPC_HAVE_X86_KERNELS. */
#include "layout_kernels.h"

#include <stdlib.h>

void umapc_layout_edge2_avx2(float *cur, const float *emb, const umapc_idx *idx, int n_attr, int n,
                             umapc_idx self, const layout_consts *c) {
    (void)cur, (void)emb, (void)idx, (void)n_attr, (void)n, (void)self, (void)c;
    abort();
}

void umapc_layout_ops_avx512(const layout_sched *s, size_t lo, size_t hi, umapc_idx *other,
                             int32_t *n_neg, uint64_t *stream, int32_t *beg) {
    (void)s, (void)lo, (void)hi, (void)other, (void)n_neg, (void)stream, (void)beg;
    abort();
}

void umapc_layout_block2_avx512(const layout_block *blk, const layout_consts *c) {
    (void)blk, (void)c;
    abort();
}

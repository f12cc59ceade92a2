/* The 2-D layout executor with one point per SIMD lane, written once over a small vector vocabulary
 * that each instruction-set file defines before including this one (layout_avx512.c,
 * layout_avx2.c, layout_neon.c). A point's ops form a dependent chain (each starts where the
 * previous one left the point), so W independent points side by side, and within an op its
 * gradients (the attraction and the negatives, all at one position) U at a time, keep the core
 * busy; a lane whose point is done takes the block's next point.
 *
 * It evaluates exactly the expressions of exec_scalar in layout.c and layout_kernels.h (same
 * operations, same order, no fused multiply-add), so its results are bit-identical to the scalar
 * executor's.
 *
 * Vocabulary: W lanes; VF float vector, VI int32 vector, VM mask; VF_SET1 VI_SET1 VF_ADD VF_SUB
 * VF_MUL VF_DIV VF_MIN VF_MAX VF_GT VF_SEL(m, yes, no) VI_SEL VI_ADD VI_SUB VI_AND VI_OR VI_SRL
 * VI_SLL VI_GT VF_ROUND (to nearest even) VI_FROM_VF (truncating) VF_FROM_VI VF_AS_VI VI_AS_VF
 * VM_AND VM_BITS (lane i -> bit i) VI_LOAD VI_STORE VF_LOAD VF_STORE VI_GATHER(base, idx, m) (0
 * where !m), GATHER_XY(emb, idx, m, &x, &y), and for the negative samples VI_XOR VM_NOT_EQ
 * VI_MULLO (low 32 bits of the product) and VI_MULHI_U32 (high 32 bits of the unsigned product). */
#include "layout_kernels.h"

static inline VF lanes_horner(const float *coeff, int n, VF t) {
    VF p = VF_SET1(coeff[0]);
    for (int i = 1; i < n; i++) {
        p = VF_ADD(VF_MUL(p, t), VF_SET1(coeff[i]));
    }
    return p;
}

static inline VF lanes_log2(VF x) {
    VI xi = VF_AS_VI(x);
    VI e = VI_SUB(VI_AND(VI_SRL(xi, 23), VI_SET1(0xff)), VI_SET1(127));
    VF m = VI_AS_VF(VI_OR(VI_AND(xi, VI_SET1(0x007fffff)), VI_SET1(0x3f800000)));
    VM big = VF_GT(m, VF_SET1(1.41421356f));
    m = VF_SEL(big, VF_MUL(m, VF_SET1(0.5f)), m);
    e = VI_SEL(big, VI_ADD(e, VI_SET1(1)), e);
    VF t = VF_SUB(m, VF_SET1(1.0f));
    return VF_ADD(VF_FROM_VI(e), VF_MUL(t, lanes_horner(LAYOUT_LOG2_POLY, 9, t)));
}

static inline VF lanes_exp2(VF y) {
    y = VF_MIN(VF_MAX(y, VF_SET1(-126.0f)), VF_SET1(126.0f));
    VF r = VF_ROUND(y);
    VF scale = VI_AS_VF(VI_SLL(VI_ADD(VI_FROM_VF(r), VI_SET1(127)), 23));
    return VF_MUL(lanes_horner(LAYOUT_EXP2_POLY, 7, VF_SUB(y, r)), scale);
}

static inline VF lanes_clip(VF v) {
    return VF_MIN(VF_MAX(v, VF_SET1(-4.0f)), VF_SET1(4.0f));
}

/* Where each lane's point and op stand when they are out of registers: the lane's point (index in
 * the block, -1 for none), its next op and its end (k == end without a point). */
typedef struct lanes_state {
    int32_t point[W], k[W], end[W];
    float cx[W], cy[W];
    int32_t next; /* the block's next point not yet given to a lane */
} lanes_state;

/* Writes out the points of the lanes in `done` and gives those lanes the next points; points
 * without ops this epoch pass straight through. Returns how many lanes lost their point for good.
 */
static int lanes_refill(const layout_block *blk, lanes_state *s, unsigned done) {
    int idle = 0;
    for (; done; done &= done - 1) {
        int i = __builtin_ctz(done);
        if (s->point[i] >= 0) {
            size_t j = (size_t)(blk->lo + s->point[i]);
            blk->self_out[2 * j] = s->cx[i];
            blk->self_out[2 * j + 1] = s->cy[i];
            s->point[i] = -1;
        }
        while (s->next < blk->n) {
            int32_t pt = s->next++;
            size_t j = (size_t)(blk->lo + pt);
            if (blk->beg[pt] == blk->beg[pt + 1]) {
                blk->self_out[2 * j] = blk->self_in[2 * j];
                blk->self_out[2 * j + 1] = blk->self_in[2 * j + 1];
                continue;
            }
            s->point[i] = pt;
            s->k[i] = blk->beg[pt];
            s->end[i] = blk->beg[pt + 1];
            s->cx[i] = blk->self_in[2 * j];
            s->cy[i] = blk->self_in[2 * j + 1];
            break;
        }
        if (s->point[i] < 0) {
            s->k[i] = s->end[i] = 0;
            idle++;
        }
    }
    return idle;
}

/* The lanes' ops of this step, loaded once for all their gradients. */
typedef struct lanes_op {
    VM busy;
    VI other, n_neg, key, self;
    VI slot; /* densMAP epochs only: the edge whose weight and moves the attraction uses */
} lanes_op;

/* layout_negative in every lane. */
static inline VI lanes_negative(VI key, int q, uint32_t n_tail) {
    VI h = VI_ADD(key, VI_SET1((int32_t)((uint32_t)q * 0x9e3779b9u)));
    h = VI_XOR(h, VI_SRL(h, 16));
    h = VI_MULLO(h, VI_SET1((int32_t)0x85ebca6bu));
    h = VI_XOR(h, VI_SRL(h, 13));
    h = VI_MULLO(h, VI_SET1((int32_t)0xc2b2ae35u));
    h = VI_XOR(h, VI_SRL(h, 16));
    return VI_MULHI_U32(h, VI_SET1((int32_t)n_tail));
}

/* densMAP's term of the attractions in `live`, added to (gx, gy) where the op is a fit's edge (a
 * slot), as dens_attraction in layout.c adds it: its coefficient a lane at a time
 * (layout_dens_coeff), the rest side by side. */
static inline void lanes_dens_add(const layout_block *blk, const layout_consts *c,
                                  const lanes_op *op, VM live, VF d2, VI idx, VF dx, VF dy, VF *gx,
                                  VF *gy) {
    float d2s[W], cor[W];
    int32_t ts[W], js[W], es[W], on[W];
    VF_STORE(d2s, d2);
    VI_STORE(ts, idx);
    VI_STORE(js, op->self);
    VI_STORE(es, op->slot);
    unsigned bits = (unsigned)VM_BITS(live);
    for (int i = 0; i < W; i++) {
        int dens = ((bits >> i) & 1u) && es[i] >= 0;
        cor[i] = dens ? layout_dens_coeff(blk->dens, c, d2s[i], js[i], ts[i], es[i]) : 0.0f;
        on[i] = dens ? -1 : 0;
    }
    VM dens = VI_GT(VI_SET1(0), VI_LOAD(on));
    VF two_cor = VF_MUL(VF_SET1(2.0f), VF_LOAD(cor));
    *gx = VF_SEL(dens, VF_ADD(*gx, lanes_clip(VF_MUL(two_cor, dx))), *gx);
    *gy = VF_SEL(dens, VF_ADD(*gy, lanes_clip(VF_MUL(two_cor, dy))), *gy);
}

/* Gradients evaluated side by side: each is a chain of ~150 cycles (gather, log2, exp2, division)
 * on its own, and the core overlaps them only when they are interleaved operation by operation. */
#define U 4

/* Gradients s0 .. s0 + nu - 1 of the lanes' ops (0: the attraction, q >= 1: negative q) at (cx,
 * cy), added in that order to (sx, sy); the attraction's move goes to (ax, ay). */
static inline __attribute__((always_inline)) void
lanes_gradients(const layout_block *blk, const layout_consts *c, const lanes_op *op, VF cx, VF cy,
                int s0, const int nu, VF *sx, VF *sy, VF *ax, VF *ay) {
    VM live[U];
    VF dx[U], dy[U], d2[U], x[U], pw[U], gx[U], gy[U];
    VI attract_idx = VI_SET1(0);
    for (int u = 0; u < nu; u++) {
        int q = s0 + u;
        VI idx;
        if (q == 0) {
            live[u] = VM_AND(op->busy, VI_GT(VI_SET1(0), op->other));
            idx = VI_AND(op->other, VI_SET1(0x7fffffff));
            attract_idx = idx;
        } else {
            idx = lanes_negative(op->key, q, blk->n_tail);
            live[u] = VM_AND(VM_AND(op->busy, VI_GT(op->n_neg, VI_SET1(q - 1))),
                             VM_NOT_EQ(idx, op->self));
        }
        VF ox, oy;
        GATHER_XY(blk->emb, idx, live[u], &ox, &oy);
        dx[u] = VF_SUB(cx, ox);
        dy[u] = VF_SUB(cy, oy);
        d2[u] = VF_ADD(VF_MUL(dx[u], dx[u]), VF_MUL(dy[u], dy[u]));
        live[u] = VM_AND(live[u], VF_GT(d2[u], VF_SET1(0.0f)));
        x[u] = VF_MAX(d2[u], VF_SET1(LAYOUT_MIN_D2));
    }
    if (c->b_is_one) {
        for (int u = 0; u < nu; u++) {
            pw[u] = x[u];
        }
    } else {
        for (int u = 0; u < nu; u++) {
            pw[u] = lanes_exp2(VF_MUL(VF_SET1(c->b), lanes_log2(x[u])));
        }
    }
    for (int u = 0; u < nu; u++) {
        VF apw1 = VF_ADD(VF_MUL(VF_SET1(c->a), pw[u]), VF_SET1(1.0f));
        VF coeff = s0 + u == 0
                       ? VF_DIV(VF_MUL(VF_SET1(c->attract), pw[u]), VF_MUL(x[u], apw1))
                       : VF_DIV(VF_SET1(c->repel), VF_MUL(VF_ADD(x[u], VF_SET1(0.001f)), apw1));
        gx[u] = lanes_clip(VF_MUL(coeff, dx[u]));
        gy[u] = lanes_clip(VF_MUL(coeff, dy[u]));
        if (s0 + u == 0 && blk->dens != NULL) {
            lanes_dens_add(blk, c, op, live[u], d2[u], attract_idx, dx[u], dy[u], &gx[u], &gy[u]);
        }
    }
    for (int u = 0; u < nu; u++) {
        *sx = VF_SEL(live[u], VF_ADD(*sx, gx[u]), *sx);
        *sy = VF_SEL(live[u], VF_ADD(*sy, gy[u]), *sy);
        if (s0 + u == 0) {
            *ax = VF_SEL(live[u], VF_MUL(gx[u], VF_SET1(c->alpha)), VF_SET1(0.0f));
            *ay = VF_SEL(live[u], VF_MUL(gy[u], VF_SET1(c->alpha)), VF_SET1(0.0f));
        }
    }
}

/* Records the attraction moves of the lanes whose op has a slot. */
static inline void lanes_record(const layout_block *blk, const lanes_op *op, VI k, VF ax, VF ay) {
    unsigned rec = (unsigned)VM_BITS(VM_AND(op->busy, VI_GT(VI_SET1(0), op->other)));
    if (rec == 0 || blk->moves == NULL) {
        return;
    }
    float mxs[W], mys[W];
    int32_t ks[W];
    VF_STORE(mxs, ax);
    VF_STORE(mys, ay);
    VI_STORE(ks, k);
    for (; rec; rec &= rec - 1) {
        int i = __builtin_ctz(rec);
        int32_t slot = blk->slot[ks[i]];
        if (slot >= 0) {
            blk->moves[2 * (size_t)slot] = mxs[i];
            blk->moves[2 * (size_t)slot + 1] = mys[i];
        }
    }
}

/* One op in every busy lane; returns the lanes whose point has no op left. */
static inline unsigned lanes_step(const layout_block *blk, const layout_consts *c, VI *k, VI end,
                                  VF *cx, VF *cy, VI self) {
    lanes_op op;
    op.busy = VI_GT(end, *k);
    op.other = VI_GATHER(blk->other, *k, op.busy);
    op.n_neg = VI_GATHER(blk->n_neg, *k, op.busy);
    op.key = VI_GATHER((const int32_t *)blk->key, *k, op.busy);
    op.self = self;
    op.slot = blk->dens != NULL ? VI_GATHER(blk->slot, *k, op.busy) : VI_SET1(-1);
    int32_t n_negs[W];
    VI_STORE(n_negs, op.n_neg);
    int n_grad = 1;
    for (int i = 0; i < W; i++) {
        n_grad = n_negs[i] + 1 > n_grad ? n_negs[i] + 1 : n_grad;
    }
    VF sx = VF_SET1(0.0f), sy = VF_SET1(0.0f), ax = sx, ay = sx;
    int s0 = 0;
    for (; s0 + U <= n_grad; s0 += U) {
        lanes_gradients(blk, c, &op, *cx, *cy, s0, U, &sx, &sy, &ax, &ay);
    }
    if (n_grad - s0 == 3) {
        lanes_gradients(blk, c, &op, *cx, *cy, s0, 3, &sx, &sy, &ax, &ay);
    } else if (n_grad - s0 == 2) {
        lanes_gradients(blk, c, &op, *cx, *cy, s0, 2, &sx, &sy, &ax, &ay);
    } else if (n_grad - s0 == 1) {
        lanes_gradients(blk, c, &op, *cx, *cy, s0, 1, &sx, &sy, &ax, &ay);
    }
    lanes_record(blk, &op, *k, ax, ay);
    VF alpha = VF_SET1(c->alpha);
    *cx = VF_SEL(op.busy, VF_ADD(*cx, VF_MUL(alpha, sx)), *cx);
    *cy = VF_SEL(op.busy, VF_ADD(*cy, VF_MUL(alpha, sy)), *cy);
    *k = VI_ADD(*k, VI_SEL(op.busy, VI_SET1(1), VI_SET1(0)));
    return (unsigned)VM_BITS(VM_AND(op.busy, VI_GT(VI_ADD(*k, VI_SET1(1)), end)));
}

/* Lanes left waiting before they are refilled: each refill spills and reloads the registers, so
 * finished lanes are collected a few at a time (they compute nothing meanwhile; the points they
 * held are unaffected, as each point's result depends only on its own ops). */
#define REFILL_AT (W / 4)

static inline VI lanes_self(const layout_block *blk, const lanes_state *s) {
    return blk->self_base < 0 ? VI_SET1(-1)
                              : VI_ADD(VI_LOAD(s->point), VI_SET1(blk->self_base + blk->lo));
}

static void lanes_exec2(const layout_block *blk, const layout_consts *c) {
    lanes_state s;
    s.next = 0;
    for (int i = 0; i < W; i++) {
        s.point[i] = -1;
        s.k[i] = s.end[i] = 0;
    }
    int active = W - lanes_refill(blk, &s, (1u << W) - 1u);
    VI k = VI_LOAD(s.k), end = VI_LOAD(s.end), self = lanes_self(blk, &s);
    VF cx = VF_LOAD(s.cx), cy = VF_LOAD(s.cy);
    unsigned pending = 0;
    while (active > 0) {
        unsigned done = lanes_step(blk, c, &k, end, &cx, &cy, self);
        pending |= done;
        active -= __builtin_popcount(done);
        int waiting = __builtin_popcount(pending);
        if (waiting == 0 || (waiting < REFILL_AT && active > 0)) {
            continue;
        }
        VI_STORE(s.k, k);
        VF_STORE(s.cx, cx);
        VF_STORE(s.cy, cy);
        active += waiting - lanes_refill(blk, &s, pending);
        pending = 0;
        k = VI_LOAD(s.k);
        end = VI_LOAD(s.end);
        self = lanes_self(blk, &s);
        cx = VF_LOAD(s.cx);
        cy = VF_LOAD(s.cy);
    }
    if (pending) {
        VF_STORE(s.cx, cx);
        VF_STORE(s.cy, cy);
        lanes_refill(blk, &s, pending);
    }
}

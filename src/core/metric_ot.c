/* Optimal transport between two histograms under a cost matrix, as pynndescent's kantorovich
 * and sinkhorn define it: both rows normalised to sum 1 and restricted to their nonzero bins, the
 * cost restricted to those rows and columns. Each distance solves its own small problem, with
 * scratch from the heap (its size depends on the rows). */
#include "metric_ot.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define NONE SIZE_MAX

/* pynndescent's sinkhorn_iterations: its round limit and tolerances. */
#define SINKHORN_ROUNDS         1000
#define SINKHORN_TOLERANCE      1e-9
#define SINKHORN_CHANGE_EVERY   20
#define SINKHORN_MARGINAL_EVERY 10

/* The two rows' nonzero bins: na sources, nb sinks, their columns and normalised masses. */
typedef struct ot_bins {
    size_t na, nb, dim;
    size_t *at_a, *at_b;
    double *a, *b;
    const float *cost;
} ot_bins;

static size_t count_nonzero(const float *row, size_t dim) {
    size_t k = 0;
    for (size_t i = 0; i < dim; i++) {
        k += row[i] != 0.0f;
    }
    return k;
}

/* Fills at and mass with row's nonzero bins normalised to sum 1; -1 when the row has no positive
 * mass (a zero row, or one no check let in: negative or non-finite sums). */
static int gather(const float *row, size_t dim, size_t *at, double *mass) {
    double sum = 0.0;
    size_t k = 0;
    for (size_t i = 0; i < dim; i++) {
        if (row[i] != 0.0f) {
            at[k] = i;
            mass[k] = row[i];
            sum += row[i];
            k++;
        }
    }
    if (!(sum > 0.0) || !isfinite(sum)) {
        return -1;
    }
    for (size_t i = 0; i < k; i++) {
        mass[i] /= sum;
    }
    return 0;
}

/* Allocates and fills bins, with room after the masses for `extra` doubles per pair of bins and
 * `doubles` per bin (*work), and after the columns for `indices` size_t per bin and one more
 * (*index); -1 on a row without mass or on exhaustion (nothing left allocated). */
static int bins_open(ot_bins *s, const float *cost, const float *a, const float *b, size_t dim,
                     size_t extra, size_t doubles_per_node, size_t indices_per_node, double **work,
                     size_t **index) {
    s->na = count_nonzero(a, dim);
    s->nb = count_nonzero(b, dim);
    s->dim = dim;
    s->cost = cost;
    size_t nodes = s->na + s->nb;
    if (s->na == 0 || s->nb == 0 || s->na > SIZE_MAX / 8 / (s->nb * (extra + 1) + 1)) {
        return -1;
    }
    size_t doubles = nodes + s->na * s->nb * extra + nodes * doubles_per_node;
    size_t indices = nodes + nodes * indices_per_node + 1;
    s->a = malloc(doubles * sizeof(double));
    s->at_a = malloc(indices * sizeof(size_t));
    if (s->a == NULL || s->at_a == NULL) {
        free(s->a);
        free(s->at_a);
        return -1;
    }
    s->b = s->a + s->na;
    s->at_b = s->at_a + s->na;
    *work = s->a + nodes;
    *index = s->at_a + nodes;
    if (gather(a, dim, s->at_a, s->a) || gather(b, dim, s->at_b, s->b)) {
        free(s->a);
        free(s->at_a);
        return -1;
    }
    return 0;
}

static void bins_close(ot_bins *s) {
    free(s->a);
    free(s->at_a);
}

static inline double cost_of(const ot_bins *s, size_t i, size_t j) {
    return s->cost[s->at_a[i] * s->dim + s->at_b[j]];
}

/* ---- kantorovich: the transportation simplex ---------------------------------------------- */

/* The exact problem is a transportation problem: the network simplex on the complete bipartite
 * graph from the sources (supply a, nodes 0..na-1) to the sinks (demand b, nodes na..). A basis is
 * a spanning tree of na + nb - 1 cells; the north-west corner rule gives the first (a staircase,
 * so a tree even where it moves no mass). Each pivot takes the cell of most negative reduced cost
 * c_ij - u_i - v_j from the next block of cells (the potentials u, v price the tree's cells at
 * their cost), pushes mass around the cycle it closes in the tree and drops the cell that empties
 * first; only the part of the tree that cell cut off gets new parents and potentials. Every plan
 * on the way is feasible, so at max_iter pivots the current one is returned, as pynndescent's
 * network simplex does. */
typedef struct ot_tree {
    ot_bins bins;
    size_t nodes, n_arcs;
    size_t *arc_a, *arc_b; /* per basic cell: its source and its sink (0-based among the sinks) */
    double *flow;          /* per basic cell */
    double *potential;     /* per node: u (sources), v (sinks) */
    /* The tree's incidence lists, doubly linked so that a pivot swaps one cell in O(1): entry 2e
     * is cell e at its source, 2e + 1 at its sink. */
    size_t *head, *next, *prev;
    size_t *up_arc, *depth, *stack; /* per node: its parent's cell from node 0, its depth */
} ot_tree;

static inline size_t other_end(const ot_tree *t, size_t arc, size_t v) {
    return v < t->bins.na ? t->bins.na + t->arc_b[arc] : t->arc_a[arc];
}

static inline size_t end_node(const ot_tree *t, size_t entry) {
    return entry % 2 == 0 ? t->arc_a[entry / 2] : t->bins.na + t->arc_b[entry / 2];
}

static void link_entry(ot_tree *t, size_t entry) {
    size_t v = end_node(t, entry);
    t->prev[entry] = NONE;
    t->next[entry] = t->head[v];
    if (t->head[v] != NONE) {
        t->prev[t->head[v]] = entry;
    }
    t->head[v] = entry;
}

static void unlink_entry(ot_tree *t, size_t entry) {
    if (t->prev[entry] != NONE) {
        t->next[t->prev[entry]] = t->next[entry];
    } else {
        t->head[end_node(t, entry)] = t->next[entry];
    }
    if (t->next[entry] != NONE) {
        t->prev[t->next[entry]] = t->prev[entry];
    }
}

/* Parents, depths and potentials (u_i + v_j = c_ij on every basic cell) of the part of the tree
 * hanging from node top, whose parent cell is up (NONE at the root). */
static void hang(ot_tree *t, size_t top, size_t up) {
    size_t sp = 0;
    t->up_arc[top] = up;
    if (up == NONE) {
        t->depth[top] = 0;
        t->potential[top] = 0.0;
    } else {
        size_t parent = other_end(t, up, top);
        t->depth[top] = t->depth[parent] + 1;
        t->potential[top] = cost_of(&t->bins, t->arc_a[up], t->arc_b[up]) - t->potential[parent];
    }
    t->stack[sp++] = top;
    while (sp > 0) {
        size_t v = t->stack[--sp];
        for (size_t entry = t->head[v]; entry != NONE; entry = t->next[entry]) {
            size_t e = entry / 2;
            if (e == t->up_arc[v]) {
                continue;
            }
            size_t w = other_end(t, e, v);
            t->up_arc[w] = e;
            t->depth[w] = t->depth[v] + 1;
            t->potential[w] = cost_of(&t->bins, t->arc_a[e], t->arc_b[e]) - t->potential[v];
            t->stack[sp++] = w;
        }
    }
}

static void north_west_corner(ot_tree *t) {
    size_t na = t->bins.na, nb = t->bins.nb, i = 0, j = 0;
    double *a = t->bins.a, *b = t->bins.b;
    for (size_t e = 0; e < na + nb - 1; e++) {
        double m = fmin(a[i], b[j]);
        t->arc_a[e] = i;
        t->arc_b[e] = j;
        t->flow[e] = m > 0.0 ? m : 0.0;
        a[i] -= t->flow[e];
        b[j] -= t->flow[e];
        if (i + 1 < na && (j + 1 == nb || a[i] <= b[j])) {
            i++;
        } else {
            j++;
        }
    }
    t->n_arcs = na + nb - 1;
}

/* The most negative reduced cost in the next block of cells from *cursor (cyclically), or, where
 * that block has none below -tolerance, in the blocks after it; NONE when no cell has one. */
static size_t entering_cell(const ot_tree *t, size_t *cursor, size_t block, double tolerance) {
    size_t na = t->bins.na, nb = t->bins.nb, cells = na * nb, best = NONE;
    double lowest = -tolerance;
    for (size_t seen = 0; seen < cells;) {
        size_t end = seen + block < cells ? seen + block : cells;
        for (; seen < end; seen++) {
            size_t c = *cursor;
            *cursor = c + 1 == cells ? 0 : c + 1;
            size_t i = c / nb, j = c % nb;
            double rc = cost_of(&t->bins, i, j) - t->potential[i] - t->potential[na + j];
            if (rc < lowest) {
                lowest = rc;
                best = c;
            }
        }
        if (best != NONE) {
            return best;
        }
    }
    return NONE;
}

/* Pushes mass around the cycle cell (i, j) closes: + on the cell, then - and + in turn along the
 * tree path from sink j back to source i; the first '-' cell to empty leaves the basis. */
static void pivot(ot_tree *t, size_t i, size_t j, size_t *path) {
    size_t na = t->bins.na, x = na + j, y = i, nx = 0, ny = 0;
    size_t *from_y = path + t->nodes; /* arcs climbed from y, in order */
    while (t->depth[x] > t->depth[y]) {
        path[nx++] = t->up_arc[x];
        x = other_end(t, t->up_arc[x], x);
    }
    while (t->depth[y] > t->depth[x]) {
        from_y[ny++] = t->up_arc[y];
        y = other_end(t, t->up_arc[y], y);
    }
    while (x != y) {
        path[nx++] = t->up_arc[x];
        x = other_end(t, t->up_arc[x], x);
        from_y[ny++] = t->up_arc[y];
        y = other_end(t, t->up_arc[y], y);
    }
    size_t from_x = nx; /* path[0 .. from_x) climbs from sink j */
    while (ny > 0) {
        path[nx++] = from_y[--ny];
    }
    double theta = INFINITY;
    size_t leaving = NONE, at = 0;
    for (size_t k = 0; k < nx; k += 2) { /* the '-' cells */
        if (t->flow[path[k]] < theta) {
            theta = t->flow[path[k]];
            leaving = path[k];
            at = k;
        }
    }
    for (size_t k = 0; k < nx; k++) {
        t->flow[path[k]] += k % 2 == 0 ? -theta : theta;
    }
    /* The part cut off by the leaving cell holds the end of (i, j) whose climb crossed it; it
     * hangs from the other end through the new cell. */
    size_t inner = at < from_x ? na + j : i;
    unlink_entry(t, 2 * leaving);
    unlink_entry(t, 2 * leaving + 1);
    t->arc_a[leaving] = i;
    t->arc_b[leaving] = j;
    t->flow[leaving] = theta;
    link_entry(t, 2 * leaving);
    link_entry(t, 2 * leaving + 1);
    hang(t, inner, leaving);
}

float metric_ot_kantorovich(const float *cost, double max_iter, const float *a, const float *b,
                            size_t dim) {
    ot_tree t;
    double *work;
    size_t *index;
    /* doubles per node: the basic cells' flows (one fewer cells than nodes), the potentials;
     * size_t per node: the cells' ends (2), the incidence lists (5), parents, depths and the
     * traversal's stack (3), the cycle (2) */
    if (bins_open(&t.bins, cost, a, b, dim, 0, 2, 12, &work, &index)) {
        return NAN;
    }
    size_t na = t.bins.na, nb = t.bins.nb, nodes = na + nb;
    t.nodes = nodes;
    t.flow = work;
    t.potential = work + nodes;
    t.arc_a = index;
    t.arc_b = t.arc_a + nodes;
    t.head = t.arc_b + nodes;
    t.next = t.head + nodes;
    t.prev = t.next + 2 * nodes;
    t.up_arc = t.prev + 2 * nodes;
    t.depth = t.up_arc + nodes;
    t.stack = t.depth + nodes;
    size_t *path = t.stack + nodes; /* 2 per node */
    north_west_corner(&t);
    for (size_t v = 0; v < nodes; v++) {
        t.head[v] = NONE;
    }
    for (size_t entry = 0; entry < 2 * t.n_arcs; entry++) {
        link_entry(&t, entry);
    }
    hang(&t, 0, NONE);
    double largest = 0.0;
    for (size_t i = 0; i < na; i++) {
        for (size_t j = 0; j < nb; j++) {
            largest = fmax(largest, cost_of(&t.bins, i, j));
        }
    }
    /* rounding in the potentials: reduced costs this close to 0 are 0 */
    double tolerance = 1e-12 * (1.0 + largest);
    size_t block = (size_t)sqrt((double)(na * nb)) + 1, cursor = 0;
    for (double it = 0.0; it < max_iter; it += 1.0) {
        size_t c = entering_cell(&t, &cursor, block, tolerance);
        if (c == NONE) {
            break;
        }
        pivot(&t, c / nb, c % nb, path);
    }
    double total = 0.0;
    for (size_t e = 0; e < t.n_arcs; e++) {
        total += t.flow[e] * cost_of(&t.bins, t.arc_a[e], t.arc_b[e]);
    }
    bins_close(&t.bins);
    return (float)total;
}

/* ---- sinkhorn -------------------------------------------------------------------------------- */

static int all_finite(const double *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            return 0;
        }
    }
    return 1;
}

static void copy(double *to, const double *from, size_t n) {
    for (size_t i = 0; i < n; i++) {
        to[i] = from[i];
    }
}

float metric_ot_sinkhorn(const float *cost, double regularization, const float *a, const float *b,
                         size_t dim) {
    ot_bins s;
    double *work;
    size_t *index;
    /* per pair: K; per node: the scalings u|v, their next and their previous values */
    if (bins_open(&s, cost, a, b, dim, 1, 3, 0, &work, &index)) {
        return NAN;
    }
    size_t na = s.na, nb = s.nb, nodes = na + nb;
    double *k = work, *u = k + na * nb, *v = u + na, *next_u = u + nodes, *next_v = next_u + na;
    double *prev_u = next_u + nodes, *prev_v = prev_u + na;
    for (size_t i = 0; i < na; i++) {
        for (size_t j = 0; j < nb; j++) {
            k[i * nb + j] = exp(-cost_of(&s, i, j) / regularization);
        }
        u[i] = 1.0 / (double)na;
    }
    for (size_t j = 0; j < nb; j++) {
        v[j] = 1.0 / (double)nb;
    }
    copy(prev_u, u, nodes);
    for (int it = 0; it < SINKHORN_ROUNDS; it++) {
        for (size_t j = 0; j < nb; j++) {
            double t = 0.0;
            for (size_t i = 0; i < na; i++) {
                t += k[i * nb + j] * u[i];
            }
            next_v[j] = s.b[j] / t;
        }
        if (!all_finite(next_v, nb)) {
            break;
        }
        for (size_t i = 0; i < na; i++) {
            double t = 0.0;
            for (size_t j = 0; j < nb; j++) {
                t += k[i * nb + j] * next_v[j];
            }
            next_u[i] = s.a[i] / t;
        }
        if (!all_finite(next_u, na)) {
            break;
        }
        copy(u, next_u, nodes); /* u and v, next_u and next_v are adjacent */
        if (it % SINKHORN_CHANGE_EVERY == 0) {
            double change = 0.0;
            for (size_t i = 0; i < na; i++) {
                for (size_t j = 0; j < nb; j++) {
                    double old = prev_u[i] * prev_v[j];
                    change += fabs(old - u[i] * v[j]) / old;
                }
            }
            if (change / (double)(na * nb) <= SINKHORN_TOLERANCE) {
                break;
            }
            copy(prev_u, u, nodes);
        }
        if (it % SINKHORN_MARGINAL_EVERY == 0) {
            double err = 0.0;
            for (size_t j = 0; j < nb; j++) {
                double t = 0.0;
                for (size_t i = 0; i < na; i++) {
                    t += u[i] * k[i * nb + j];
                }
                double d = s.b[j] - t * v[j];
                err += d * d;
            }
            if (sqrt(err) <= SINKHORN_TOLERANCE) {
                break;
            }
        }
    }
    double total = 0.0;
    for (size_t i = 0; i < na; i++) {
        for (size_t j = 0; j < nb; j++) {
            total += u[i] * k[i * nb + j] * v[j] * cost_of(&s, i, j);
        }
    }
    bins_close(&s);
    return (float)total;
}

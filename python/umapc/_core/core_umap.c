/* Bindings of the UMAP stages (fuzzy graph, a/b fit, spectral init, rescaling, layout, transform
 * init). They check and convert arrays, release the GIL and call the C library; nothing else. */
#include "core.h"

#include <stdint.h>
#include <string.h>

static PyObject *new_vector(int type, size_t n) {
    npy_intp dims[1] = {(npy_intp)n};
    return PyArray_SimpleNew(1, dims, type);
}

/* ------------------------------------------------------------------------------------------ */

static PyObject *graph_to_python(const umapc_graph *g) {
    if (g->nnz > (size_t)INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "graph has more than 2^31 edges");
        return NULL;
    }
    PyObject *indptr = new_vector(NPY_INT32, g->n_rows + 1);
    PyObject *indices = new_vector(NPY_INT32, g->nnz);
    PyObject *data = new_vector(NPY_FLOAT32, g->nnz);
    if (indptr == NULL || indices == NULL || data == NULL) {
        Py_XDECREF(indptr);
        Py_XDECREF(indices);
        Py_XDECREF(data);
        return NULL;
    }
    int32_t *p = (int32_t *)PyArray_DATA((PyArrayObject *)indptr);
    for (size_t i = 0; i <= g->n_rows; i++) {
        p[i] = (int32_t)g->indptr[i];
    }
    memcpy(PyArray_DATA((PyArrayObject *)indices), g->indices, g->nnz * sizeof *g->indices);
    memcpy(PyArray_DATA((PyArrayObject *)data), g->data, g->nnz * sizeof *g->data);
    return Py_BuildValue("(NNN)", indptr, indices, data);
}

static PyObject *py_fuzzy_simplicial_set(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"knn_indices",
                             "knn_dists",
                             "n_vertices",
                             "local_connectivity",
                             "set_op_mix_ratio",
                             "apply_set_operations",
                             "n_jobs",
                             "callback",
                             NULL};
    PyObject *idx_obj, *dist_obj, *jobs_obj = NULL, *callback = Py_None;
    Py_ssize_t n_vertices;
    double local_connectivity = 1.0, mix = 1.0;
    int apply = 1, n_jobs = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOn|ddpOO", kwlist, &idx_obj, &dist_obj,
                                     &n_vertices, &local_connectivity, &mix, &apply, &jobs_obj,
                                     &callback) ||
        umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0) {
        return NULL;
    }
    if (n_vertices < 1) {
        return PyErr_Format(PyExc_ValueError, "n_vertices must be positive");
    }
    PyArrayObject *idx = umapc_as_int32(idx_obj, 2, "knn_indices");
    PyArrayObject *dist = idx ? umapc_as_float_matrix(dist_obj, "knn_dists", 0) : NULL;
    if (dist == NULL) {
        Py_XDECREF(idx);
        return NULL;
    }
    if (PyArray_DIM(idx, 0) != PyArray_DIM(dist, 0) ||
        PyArray_DIM(idx, 1) != PyArray_DIM(dist, 1)) {
        Py_DECREF(idx);
        Py_DECREF(dist);
        return PyErr_Format(PyExc_ValueError, "knn_indices and knn_dists must have the same shape");
    }
    size_t n_rows = (size_t)PyArray_DIM(idx, 0), k = (size_t)PyArray_DIM(idx, 1);
    PyObject *sigmas = new_vector(NPY_FLOAT32, n_rows), *rhos = new_vector(NPY_FLOAT32, n_rows);
    if (sigmas == NULL || rhos == NULL) {
        Py_XDECREF(sigmas);
        Py_XDECREF(rhos);
        Py_DECREF(idx);
        Py_DECREF(dist);
        return NULL;
    }
    umapc_fuzzy_options opts;
    umapc_fuzzy_options_init(&opts);
    opts.local_connectivity = local_connectivity;
    opts.set_op_mix_ratio = mix;
    opts.apply_set_operations = apply;
    opts.n_threads = n_jobs;
    umapc_bridge bridge;
    umapc_bridge_init(&bridge, callback);
    umapc_error err = {0};
    umapc_graph graph = {0};
    umapc_status st;
    Py_BEGIN_ALLOW_THREADS;
    st = umapc_fuzzy_simplicial_set((const umapc_idx *)PyArray_DATA(idx),
                                    (const float *)PyArray_DATA(dist), n_rows, k,
                                    (size_t)n_vertices, &opts, &bridge.progress, &graph,
                                    (float *)PyArray_DATA((PyArrayObject *)sigmas),
                                    (float *)PyArray_DATA((PyArrayObject *)rhos), &err);
    Py_END_ALLOW_THREADS;
    Py_DECREF(idx);
    Py_DECREF(dist);
    PyObject *csr = st ? NULL : graph_to_python(&graph);
    umapc_graph_free(&graph);
    if (csr == NULL) {
        Py_DECREF(sigmas);
        Py_DECREF(rhos);
        return st ? umapc_raise_call(st, &err, &bridge) : NULL;
    }
    PyObject *result = Py_BuildValue("(OOONN)", PyTuple_GET_ITEM(csr, 0), PyTuple_GET_ITEM(csr, 1),
                                     PyTuple_GET_ITEM(csr, 2), sigmas, rhos);
    Py_DECREF(csr);
    return result;
}

static PyObject *py_find_ab_params(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"spread", "min_dist", NULL};
    double spread, min_dist, a = 0.0, b = 0.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "dd", kwlist, &spread, &min_dist)) {
        return NULL;
    }
    umapc_error err = {0};
    umapc_status st = umapc_find_ab_params(spread, min_dist, &a, &b, &err);
    if (st) {
        return umapc_raise(st, &err);
    }
    return Py_BuildValue("(dd)", a, b);
}

static PyObject *py_spectral_layout(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"indptr", "indices", "data",     "n_components",
                             "seed",   "n_jobs",  "callback", NULL};
    PyObject *p, *i, *d, *jobs_obj = NULL, *callback = Py_None;
    Py_ssize_t dim;
    unsigned long long seed;
    int n_jobs = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOnK|OO", kwlist, &p, &i, &d, &dim, &seed,
                                     &jobs_obj, &callback) ||
        umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0) {
        return NULL;
    }
    if (dim < 1) {
        return PyErr_Format(PyExc_ValueError, "n_components must be positive");
    }
    umapc_graph_args g;
    if (umapc_graph_args_parse(&g, p, i, d, 0) < 0) {
        return NULL;
    }
    g.graph.n_cols = g.graph.n_rows;
    npy_intp dims[2] = {(npy_intp)g.graph.n_rows, (npy_intp)dim};
    PyObject *emb = PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    if (emb == NULL) {
        umapc_graph_args_free(&g);
        return NULL;
    }
    umapc_spectral_options opts;
    umapc_spectral_options_init(&opts);
    opts.seed = seed;
    opts.n_threads = n_jobs;
    umapc_bridge bridge;
    umapc_bridge_init(&bridge, callback);
    umapc_error err = {0};
    int converged = 0;
    umapc_status st;
    Py_BEGIN_ALLOW_THREADS;
    st = umapc_spectral_layout(&g.graph, (size_t)dim, &opts, &bridge.progress,
                               (float *)PyArray_DATA((PyArrayObject *)emb), &converged, &err);
    Py_END_ALLOW_THREADS;
    umapc_graph_args_free(&g);
    if (st) {
        Py_DECREF(emb);
        return umapc_raise_call(st, &err, &bridge);
    }
    return Py_BuildValue("(NO)", emb, converged ? Py_True : Py_False);
}

static PyObject *py_rescale_embedding(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"embedding", "seed", "expand", "noise", NULL};
    PyObject *obj;
    unsigned long long seed;
    int expand;
    double noise = 1e-4;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OKp|d", kwlist, &obj, &seed, &expand, &noise)) {
        return NULL;
    }
    PyArrayObject *emb = umapc_as_inplace_embedding(obj, "embedding");
    if (emb == NULL) {
        return NULL;
    }
    umapc_error err = {0};
    umapc_status st;
    Py_BEGIN_ALLOW_THREADS;
    st = umapc_rescale_embedding((float *)PyArray_DATA(emb), (size_t)PyArray_DIM(emb, 0),
                                 (size_t)PyArray_DIM(emb, 1), seed, expand, noise, &err);
    Py_END_ALLOW_THREADS;
    Py_DECREF(emb);
    if (st) {
        return umapc_raise(st, &err);
    }
    Py_RETURN_NONE;
}

static PyObject *py_output_metric_grad(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *x_obj, *y_obj, *params_obj = Py_None;
    int metric;
    double p_value;
    if (!PyArg_ParseTuple(args, "iOOd|O", &metric, &x_obj, &y_obj, &p_value, &params_obj)) {
        return NULL;
    }
    PyArrayObject *params = NULL;
    if (params_obj != Py_None && (params = umapc_as_float_vector(params_obj, "params")) == NULL) {
        return NULL;
    }
    PyArrayObject *x = (PyArrayObject *)PyArray_FROMANY(
        x_obj, NPY_FLOAT32, 1, 1, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST);
    PyArrayObject *y = x ? (PyArrayObject *)PyArray_FROMANY(
                               y_obj, NPY_FLOAT32, 1, 1,
                               NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST)
                         : NULL;
    if (y == NULL || PyArray_DIM(x, 0) != PyArray_DIM(y, 0)) {
        if (y != NULL) {
            PyErr_SetString(PyExc_ValueError, "x and y must be vectors of one length");
        }
        Py_XDECREF(x);
        Py_XDECREF(y);
        Py_XDECREF(params);
        return NULL;
    }
    npy_intp dim = PyArray_DIM(x, 0);
    PyArrayObject *grad = (PyArrayObject *)PyArray_SimpleNew(1, &dim, NPY_FLOAT32);
    float dist = 0.0f;
    umapc_error err;
    umapc_status st =
        grad == NULL ? UMAPC_ERR_OUT_OF_MEMORY
                     : umapc_output_metric_grad(
                           metric, p_value, params ? (const float *)PyArray_DATA(params) : NULL,
                           params ? (size_t)PyArray_DIM(params, 0) : 0,
                           (const float *)PyArray_DATA(x), (const float *)PyArray_DATA(y),
                           (size_t)dim, &dist, (float *)PyArray_DATA(grad), &err);
    Py_DECREF(x);
    Py_DECREF(y);
    Py_XDECREF(params);
    if (grad == NULL) {
        return NULL;
    }
    if (st) {
        Py_DECREF(grad);
        return umapc_raise(st, &err);
    }
    return Py_BuildValue("(dN)", (double)dist, grad);
}

static PyObject *py_optimize_layout(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"head_embedding",
                             "tail_embedding",
                             "indptr",
                             "indices",
                             "data",
                             "n_epochs",
                             "a",
                             "b",
                             "repulsion_strength",
                             "learning_rate",
                             "negative_sample_rate",
                             "seed",
                             "n_jobs",
                             "callback",
                             "densmap",
                             "dens_lambda",
                             "dens_frac",
                             "dens_var_shift",
                             "knn_indices",
                             "knn_dists",
                             "output_metric",
                             "output_p",
                             "output_custom",
                             "output_params",
                             "snapshot_epochs",
                             NULL};
    PyObject *head_obj, *tail_obj, *p, *i, *d, *jobs_obj = NULL, *callback = Py_None;
    PyObject *output_custom = Py_None, *output_params_obj = Py_None, *snap_obj = Py_None;
    PyObject *knn_i_obj = Py_None, *knn_d_obj = Py_None;
    int n_epochs, n_jobs = -1, densmap = 0, output_metric = UMAPC_OUTPUT_EUCLIDEAN;
    double a, b, gamma = 1.0, lr = 1.0, neg_rate = 5.0, output_p = 2.0;
    double dens_lambda = 2.0, dens_frac = 0.3, dens_var_shift = 0.1;
    long long seed = -1;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "OOOOOidd|dddLOOpdddOOidOOO", kwlist, &head_obj, &tail_obj, &p, &i, &d,
            &n_epochs, &a, &b, &gamma, &lr, &neg_rate, &seed, &jobs_obj, &callback, &densmap,
            &dens_lambda, &dens_frac, &dens_var_shift, &knn_i_obj, &knn_d_obj, &output_metric,
            &output_p, &output_custom, &output_params_obj, &snap_obj) ||
        umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0) {
        return NULL;
    }

    PyArrayObject *knn_i = NULL, *knn_d = NULL;
    if (densmap) {
        knn_i = umapc_as_int32(knn_i_obj, 2, "knn_indices");
        knn_d = knn_i ? umapc_as_float_matrix(knn_d_obj, "knn_dists", 0) : NULL;
        if (knn_d == NULL || PyArray_DIM(knn_i, 0) != PyArray_DIM(knn_d, 0) ||
            PyArray_DIM(knn_i, 1) != PyArray_DIM(knn_d, 1)) {
            if (knn_d != NULL) {
                PyErr_SetString(PyExc_ValueError, "knn_indices and knn_dists differ in shape");
            }
            Py_XDECREF(knn_i);
            Py_XDECREF(knn_d);
            return NULL;
        }
    }
    if (n_epochs < 1 || seed < -1) {
        Py_XDECREF(knn_i);
        Py_XDECREF(knn_d);
        return PyErr_Format(PyExc_ValueError, "n_epochs must be positive and seed >= -1");
    }
    PyObject *result = NULL;
    PyArrayObject *tail = NULL, *snap_epochs = NULL, *snaps = NULL, *output_params = NULL;
    PyArrayObject *head = umapc_as_inplace_embedding(head_obj, "head_embedding");
    if (head == NULL) {
        goto done;
    }
    if (tail_obj != Py_None) {
        tail = umapc_as_float_matrix(tail_obj, "tail_embedding", 1);
        if (tail == NULL || PyArray_DIM(tail, 1) != PyArray_DIM(head, 1)) {
            if (tail != NULL) {
                PyErr_SetString(PyExc_ValueError,
                                "tail_embedding must have as many columns as head_embedding");
            }
            goto done;
        }
    }
    size_t n_head = (size_t)PyArray_DIM(head, 0), dim = (size_t)PyArray_DIM(head, 1);
    size_t n_tail = tail ? (size_t)PyArray_DIM(tail, 0) : n_head;
    umapc_layout_options opts;
    umapc_layout_options_init(&opts);
    opts.n_epochs = n_epochs;
    opts.a = a;
    opts.b = b;
    opts.repulsion_strength = gamma;
    opts.learning_rate = lr;
    opts.negative_sample_rate = neg_rate;
    opts.seed = seed;
    opts.n_threads = n_jobs;
    opts.densmap = densmap;
    opts.dens_lambda = dens_lambda;
    opts.dens_frac = dens_frac;
    opts.dens_var_shift = dens_var_shift;
    opts.output_metric = output_metric;
    opts.output_p = output_p;
    /* the output metric's parameter array (its length and values are checked in C against the
     * embedding's dimension), held to the end of the call */
    if (output_params_obj != Py_None) {
        output_params = umapc_as_float_vector(output_params_obj, "output_params");
        if (output_params == NULL) {
            goto done;
        }
        opts.output_params = (const float *)PyArray_DATA(output_params);
        opts.n_output_params = (size_t)PyArray_DIM(output_params, 0);
    }
    if (densmap) {
        if ((size_t)PyArray_DIM(knn_i, 0) != n_head) {
            PyErr_SetString(PyExc_ValueError, "knn_indices must have one row per point");
            goto done;
        }
        opts.dens_knn_indices = (const umapc_idx *)PyArray_DATA(knn_i);
        opts.dens_knn_dists = (const float *)PyArray_DATA(knn_d);
        opts.dens_k = (size_t)PyArray_DIM(knn_i, 1);
    }
    if (snap_obj != Py_None) {
        /* the buffers the C layout fills: numpy checks the size of the product */
        snap_epochs = umapc_as_int32(snap_obj, 1, "snapshot_epochs");
        if (snap_epochs == NULL) {
            goto done;
        }
        npy_intp dims[3] = {PyArray_DIM(snap_epochs, 0), (npy_intp)n_head, (npy_intp)dim};
        snaps = (PyArrayObject *)PyArray_ZEROS(3, dims, NPY_FLOAT32, 0);
        if (snaps == NULL) {
            goto done;
        }
        opts.snapshot_epochs = (const int32_t *)PyArray_DATA(snap_epochs);
        opts.n_snapshots = (size_t)dims[0];
        opts.snapshots = (float *)PyArray_DATA(snaps);
    }
    umapc_graph_args g;
    if (umapc_graph_args_parse(&g, p, i, d, n_tail) < 0) {
        goto done;
    }
    if (output_custom != Py_None && umapc_custom_output(output_custom, &opts) < 0) {
        umapc_graph_args_free(&g);
        goto done;
    }
    umapc_bridge bridge;
    umapc_bridge_init(&bridge, callback);
    umapc_error err = {0};
    umapc_status st;
    Py_BEGIN_ALLOW_THREADS;
    st = umapc_optimize_layout((float *)PyArray_DATA(head), n_head,
                               tail ? (const float *)PyArray_DATA(tail) : NULL, n_tail, dim,
                               &g.graph, &opts, &bridge.progress, &err);
    Py_END_ALLOW_THREADS;
    umapc_graph_args_free(&g);
    if (umapc_custom_check(opts.output_metric == UMAPC_OUTPUT_CUSTOM ? opts.output_ctx : NULL)) {
        goto done;
    }
    if (st) {
        umapc_raise_call(st, &err, &bridge);
        goto done;
    }
    if (snaps != NULL) {
        result = (PyObject *)snaps;
        snaps = NULL;
    } else {
        Py_INCREF(Py_None);
        result = Py_None;
    }
done:
    Py_XDECREF(output_params);
    Py_XDECREF(snaps);
    Py_XDECREF(snap_epochs);
    Py_XDECREF(tail);
    Py_XDECREF(head);
    Py_XDECREF(knn_i);
    Py_XDECREF(knn_d);
    return result;
}

static PyObject *py_dens_radii(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"indptr",  "indices",    "data",   "knn_indices", "knn_dists",
                             "squared", "min_weight", "n_jobs", NULL};
    PyObject *p, *i, *d, *ki_obj, *kd_obj, *jobs_obj = NULL;
    int squared = 1, n_jobs = -1;
    double min_weight = 0.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOO|pdO", kwlist, &p, &i, &d, &ki_obj,
                                     &kd_obj, &squared, &min_weight, &jobs_obj) ||
        umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0) {
        return NULL;
    }
    PyArrayObject *ki = umapc_as_int32(ki_obj, 2, "knn_indices");
    PyArrayObject *kd = ki ? umapc_as_float_matrix(kd_obj, "knn_dists", 0) : NULL;
    if (kd == NULL) {
        Py_XDECREF(ki);
        return NULL;
    }
    size_t n = (size_t)PyArray_DIM(ki, 0);
    umapc_graph_args g;
    PyObject *out = NULL;
    if (PyArray_DIM(kd, 0) != (npy_intp)n || PyArray_DIM(kd, 1) != PyArray_DIM(ki, 1)) {
        PyErr_SetString(PyExc_ValueError, "knn_indices and knn_dists differ in shape");
    } else if (umapc_graph_args_parse(&g, p, i, d, n) == 0) {
        out = new_vector(NPY_FLOAT32, n);
        umapc_error err = {0};
        umapc_status st = out ? UMAPC_OK : UMAPC_ERR_OUT_OF_MEMORY;
        if (out != NULL) {
            umapc_run_options run = {n_jobs};
            Py_BEGIN_ALLOW_THREADS;
            st = umapc_dens_radii(&g.graph, (float)min_weight, (const umapc_idx *)PyArray_DATA(ki),
                                  (const float *)PyArray_DATA(kd), (size_t)PyArray_DIM(ki, 1),
                                  squared, &run, (float *)PyArray_DATA((PyArrayObject *)out), &err);
            Py_END_ALLOW_THREADS;
        }
        umapc_graph_args_free(&g);
        if (st) {
            Py_XDECREF(out);
            out = out ? umapc_raise(st, &err) : NULL;
        }
    }
    Py_DECREF(ki);
    Py_DECREF(kd);
    return out;
}

static PyObject *py_init_transform(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"indptr", "indices", "data", "train_embedding", NULL};
    PyObject *p, *i, *d, *train_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO", kwlist, &p, &i, &d, &train_obj)) {
        return NULL;
    }
    PyArrayObject *train = umapc_as_float_matrix(train_obj, "train_embedding", 1);
    if (train == NULL) {
        return NULL;
    }
    size_t n_train = (size_t)PyArray_DIM(train, 0), dim = (size_t)PyArray_DIM(train, 1);
    umapc_graph_args g;
    if (umapc_graph_args_parse(&g, p, i, d, n_train) < 0) {
        Py_DECREF(train);
        return NULL;
    }
    npy_intp dims[2] = {(npy_intp)g.graph.n_rows, (npy_intp)dim};
    PyObject *out = PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    umapc_error err = {0};
    umapc_status st = UMAPC_ERR_OUT_OF_MEMORY;
    if (out != NULL) {
        Py_BEGIN_ALLOW_THREADS;
        st = umapc_init_transform(&g.graph, (const float *)PyArray_DATA(train), n_train, dim,
                                  (float *)PyArray_DATA((PyArrayObject *)out), &err);
        Py_END_ALLOW_THREADS;
    }
    umapc_graph_args_free(&g);
    Py_DECREF(train);
    if (st) {
        Py_XDECREF(out);
        return out ? umapc_raise(st, &err) : NULL;
    }
    return out;
}

/* A CSR graph from Python as a C graph whose data the C library may change (a private copy). */
static int graph_args_parse_copy(umapc_graph_args *g, PyObject *indptr, PyObject *indices,
                                 PyObject *data, size_t n_cols) {
    PyArrayObject *copy = (PyArrayObject *)PyArray_FROMANY(data, NPY_FLOAT32, 1, 1,
                                                           NPY_ARRAY_CARRAY | NPY_ARRAY_ENSURECOPY);
    if (copy == NULL) {
        return -1;
    }
    int rc = umapc_graph_args_parse(g, indptr, indices, (PyObject *)copy, n_cols);
    Py_DECREF(copy);
    return rc;
}

static PyObject *py_categorical_graph(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"indptr",       "indices",  "data",   "labels",
                             "unknown_dist", "far_dist", "n_jobs", NULL};
    PyObject *p, *i, *d, *labels_obj, *jobs_obj = NULL;
    double unknown_dist, far_dist;
    int n_jobs = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOdd|O", kwlist, &p, &i, &d, &labels_obj,
                                     &unknown_dist, &far_dist, &jobs_obj) ||
        umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0) {
        return NULL;
    }
    PyArrayObject *labels =
        (PyArrayObject *)PyArray_FROMANY(labels_obj, NPY_INT64, 1, 1, NPY_ARRAY_CARRAY);
    if (labels == NULL) {
        return NULL;
    }
    size_t n = (size_t)PyArray_DIM(labels, 0);
    umapc_graph_args g;
    if (graph_args_parse_copy(&g, p, i, d, n) < 0) {
        Py_DECREF(labels);
        return NULL;
    }
    if (g.graph.n_rows != n) {
        size_t rows = g.graph.n_rows;
        umapc_graph_args_free(&g);
        Py_DECREF(labels);
        return PyErr_Format(PyExc_ValueError, "labels: %zu entries for a graph of %zu points", n,
                            rows);
    }
    umapc_error err = {0};
    umapc_graph out = {0};
    umapc_status st;
    {
        umapc_run_options run = {n_jobs};
        Py_BEGIN_ALLOW_THREADS;
        st = umapc_fuzzy_categorical_intersection(&g.graph, (const int64_t *)PyArray_DATA(labels),
                                                  unknown_dist, far_dist, &err);
        if (!st) {
            st = umapc_fuzzy_reset_local_connectivity(&g.graph, 0, &run, &out, &err);
        }
        Py_END_ALLOW_THREADS;
    }
    umapc_graph_args_free(&g);
    Py_DECREF(labels);
    PyObject *csr = st ? umapc_raise(st, &err) : graph_to_python(&out);
    umapc_graph_free(&out);
    return csr;
}

static PyObject *py_metric_graph(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"indptr", "indices", "data",  "values", "metric",
                             "p",      "params",  "scale", "n_jobs", NULL};
    PyObject *p, *i, *d, *values_obj, *params = Py_None, *jobs_obj = NULL;
    const char *name;
    double metric_p, scale;
    int n_jobs = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOsdOd|O", kwlist, &p, &i, &d, &values_obj,
                                     &name, &metric_p, &params, &scale, &jobs_obj) ||
        umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0) {
        return NULL;
    }
    umapc_metric metric;
    PyArrayObject *held = NULL;
    if (umapc_metric_arg(name, metric_p, params, &metric, &held) < 0) {
        return NULL;
    }
    PyArrayObject *values = umapc_as_float_matrix(values_obj, "values", 1);
    if (values == NULL) {
        Py_XDECREF(held);
        return NULL;
    }
    size_t n = (size_t)PyArray_DIM(values, 0), dim = (size_t)PyArray_DIM(values, 1);
    umapc_graph_args g;
    if (graph_args_parse_copy(&g, p, i, d, n) < 0) {
        Py_DECREF(values);
        Py_XDECREF(held);
        return NULL;
    }
    PyObject *csr = NULL;
    if (g.graph.n_rows != n) {
        csr = PyErr_Format(PyExc_ValueError, "values: %zu rows for a graph of %zu points", n,
                           g.graph.n_rows);
    } else {
        umapc_error err = {0};
        umapc_graph out = {0};
        umapc_status st;
        umapc_run_options run = {n_jobs};
        Py_BEGIN_ALLOW_THREADS;
        st = umapc_fuzzy_metric_intersection(&g.graph, &metric, (const float *)PyArray_DATA(values),
                                             dim, scale, &err);
        if (!st) {
            st = umapc_fuzzy_reset_local_connectivity(&g.graph, 0, &run, &out, &err);
        }
        Py_END_ALLOW_THREADS;
        csr = st ? umapc_raise(st, &err) : graph_to_python(&out);
        umapc_graph_free(&out);
    }
    umapc_graph_args_free(&g);
    Py_DECREF(values);
    Py_XDECREF(held);
    return csr;
}

static PyObject *py_combine_graphs(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {
        "indptr",     "indices", "data",   "other_indptr",       "other_indices",
        "other_data", "op",      "weight", "reset_local_metric", "n_jobs",
        NULL};
    PyObject *p, *i, *d, *tp, *ti, *td, *jobs_obj = NULL;
    const char *op_name;
    double weight = 0.5;
    int reset_metric = 0, n_jobs = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOOOs|dpO", kwlist, &p, &i, &d, &tp, &ti, &td,
                                     &op_name, &weight, &reset_metric, &jobs_obj) ||
        umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0) {
        return NULL;
    }
    umapc_set_op op;
    if (strcmp(op_name, "intersection") == 0) {
        op = UMAPC_SET_INTERSECTION;
    } else if (strcmp(op_name, "union") == 0) {
        op = UMAPC_SET_UNION;
    } else if (strcmp(op_name, "difference") == 0) {
        op = UMAPC_SET_DIFFERENCE;
    } else {
        return PyErr_Format(PyExc_ValueError,
                            "op must be 'intersection', 'union' or 'difference', got %s", op_name);
    }
    umapc_graph_args left, right;
    if (umapc_graph_args_parse(&left, p, i, d, 0) < 0) {
        return NULL;
    }
    if (umapc_graph_args_parse(&right, tp, ti, td, 0) < 0) {
        umapc_graph_args_free(&left);
        return NULL;
    }
    left.graph.n_cols = left.graph.n_rows;
    right.graph.n_cols = right.graph.n_rows;
    umapc_error err = {0};
    umapc_graph mixed = {0}, out = {0};
    umapc_status st;
    umapc_run_options run = {n_jobs};
    Py_BEGIN_ALLOW_THREADS;
    st = umapc_fuzzy_combine(&left.graph, &right.graph, op, weight, &run, &mixed, &err);
    if (!st) {
        st = umapc_fuzzy_reset_local_connectivity(&mixed, reset_metric, &run, &out, &err);
    }
    Py_END_ALLOW_THREADS;
    umapc_graph_free(&mixed);
    umapc_graph_args_free(&left);
    umapc_graph_args_free(&right);
    PyObject *csr = st ? umapc_raise(st, &err) : graph_to_python(&out);
    umapc_graph_free(&out);
    return csr;
}

static PyObject *py_unique_rows(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"x", NULL};
    PyObject *x_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O", kwlist, &x_obj)) {
        return NULL;
    }
    /* sparse rows come as the tuple (indptr, indices, data, n_cols) */
    umapc_csr csr;
    umapc_csr_hold hold = {0};
    PyArrayObject *x = NULL;
    if (PyTuple_Check(x_obj)) {
        if (umapc_as_csr(x_obj, "x", &csr, &hold) < 0) {
            return NULL;
        }
    } else if ((x = umapc_as_float_matrix(x_obj, "x", 0)) == NULL) {
        return NULL;
    }
    size_t n = x != NULL ? (size_t)PyArray_DIM(x, 0) : csr.n_rows, n_unique = 0;
    PyObject *first = new_vector(NPY_INT32, n), *inverse = new_vector(NPY_INT32, n);
    umapc_error err = {0};
    umapc_status st = UMAPC_ERR_OUT_OF_MEMORY;
    if (first != NULL && inverse != NULL) {
        umapc_idx *f = (umapc_idx *)PyArray_DATA((PyArrayObject *)first);
        umapc_idx *inv = (umapc_idx *)PyArray_DATA((PyArrayObject *)inverse);
        Py_BEGIN_ALLOW_THREADS;
        st = x != NULL ? umapc_unique_rows((const float *)PyArray_DATA(x), n,
                                           (size_t)PyArray_DIM(x, 1), f, inv, &n_unique, &err)
                       : umapc_unique_csr_rows(&csr, f, inv, &n_unique, &err);
        Py_END_ALLOW_THREADS;
    }
    Py_XDECREF(x);
    umapc_csr_release(&hold);
    if (st) {
        Py_XDECREF(first);
        Py_XDECREF(inverse);
        return first && inverse ? umapc_raise(st, &err) : NULL;
    }
    /* first holds n_unique entries: hand back that prefix */
    PyObject *head = PySequence_GetSlice(first, 0, (Py_ssize_t)n_unique);
    Py_DECREF(first);
    if (head == NULL) {
        Py_DECREF(inverse);
        return NULL;
    }
    return Py_BuildValue("(NN)", head, inverse);
}

static PyObject *py_inverse_transform(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"embedding",
                             "data",
                             "sigmas",
                             "rhos",
                             "points",
                             "metric",
                             "a",
                             "b",
                             "repulsion_strength",
                             "learning_rate",
                             "negative_sample_rate",
                             "n_epochs",
                             "seed",
                             "p",
                             "n_jobs",
                             "callback",
                             NULL};
    PyObject *e_obj, *d_obj, *s_obj, *r_obj, *x_obj, *jobs_obj = NULL, *callback = Py_None;
    const char *name;
    double a, b, gamma = 1.0, lr = 0.25, neg_rate = 5.0, p = 2.0;
    int n_epochs = 0, n_jobs = -1;
    long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOOsdd|dddiLdOO", kwlist, &e_obj, &d_obj,
                                     &s_obj, &r_obj, &x_obj, &name, &a, &b, &gamma, &lr, &neg_rate,
                                     &n_epochs, &seed, &p, &jobs_obj, &callback) ||
        umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0) {
        return NULL;
    }
    umapc_metric metric;
    PyArrayObject *no_params = NULL; /* inverse_transform's metrics take no array parameter */
    if (umapc_metric_arg(name, p, NULL, &metric, &no_params) < 0) {
        return NULL;
    }
    PyArrayObject *emb = umapc_as_float_matrix(e_obj, "embedding", 1);
    PyArrayObject *data = emb ? umapc_as_float_matrix(d_obj, "data", 1) : NULL;
    PyArrayObject *sig = data ? umapc_as_float_vector(s_obj, "sigmas") : NULL;
    PyArrayObject *rho = sig ? umapc_as_float_vector(r_obj, "rhos") : NULL;
    PyArrayObject *pts = rho ? umapc_as_float_matrix(x_obj, "points", 1) : NULL;
    PyObject *out = NULL;
    if (pts != NULL) {
        npy_intp n = PyArray_DIM(emb, 0);
        if (PyArray_DIM(data, 0) != n || PyArray_DIM(sig, 0) != n || PyArray_DIM(rho, 0) != n ||
            PyArray_DIM(pts, 1) != PyArray_DIM(emb, 1)) {
            PyErr_SetString(PyExc_ValueError,
                            "inverse_transform: the embedding, data, sigmas and rhos must have one "
                            "row per training point and the points as many columns as the "
                            "embedding");
        } else {
            npy_intp dims[2] = {PyArray_DIM(pts, 0), PyArray_DIM(data, 1)};
            out = PyArray_SimpleNew(2, dims, NPY_FLOAT32);
        }
    }
    umapc_status st = UMAPC_OK;
    umapc_error err = {0};
    umapc_bridge bridge;
    umapc_bridge_init(&bridge, callback);
    if (out != NULL) {
        umapc_inverse_options o;
        umapc_inverse_options_init(&o);
        o.a = a;
        o.b = b;
        o.repulsion_strength = gamma;
        o.learning_rate = lr;
        o.negative_sample_rate = neg_rate;
        o.n_epochs = n_epochs;
        o.seed = seed;
        o.n_threads = n_jobs;
        Py_BEGIN_ALLOW_THREADS;
        st = umapc_inverse_transform(
            (const float *)PyArray_DATA(emb), (const float *)PyArray_DATA(data),
            (const float *)PyArray_DATA(sig), (const float *)PyArray_DATA(rho),
            (size_t)PyArray_DIM(emb, 0), (size_t)PyArray_DIM(emb, 1), (size_t)PyArray_DIM(data, 1),
            &metric, (const float *)PyArray_DATA(pts), (size_t)PyArray_DIM(pts, 0), &o,
            &bridge.progress, (float *)PyArray_DATA((PyArrayObject *)out), &err);
        Py_END_ALLOW_THREADS;
    }
    Py_XDECREF(emb);
    Py_XDECREF(data);
    Py_XDECREF(sig);
    Py_XDECREF(rho);
    Py_XDECREF(pts);
    if (out == NULL) {
        return NULL;
    }
    if (st) {
        Py_DECREF(out);
        return umapc_raise_call(st, &err, &bridge);
    }
    return out;
}

PyMethodDef umapc_umap_methods[] = {
    {"fuzzy_simplicial_set", (PyCFunction)(void (*)(void))py_fuzzy_simplicial_set,
     METH_VARARGS | METH_KEYWORDS,
     "fuzzy_simplicial_set(knn_indices, knn_dists, n_vertices, local_connectivity=1.0, "
     "set_op_mix_ratio=1.0, apply_set_operations=True, n_jobs=-1, callback=None)\n"
     "-> (indptr, indices, data, sigmas, rhos): umap-learn's fuzzy simplicial set as CSR."},
    {"categorical_graph", (PyCFunction)(void (*)(void))py_categorical_graph,
     METH_VARARGS | METH_KEYWORDS,
     "categorical_graph(indptr, indices, data, labels, unknown_dist, far_dist, n_jobs=-1)\n"
     "-> (indptr, indices, data): supervised UMAP's categorical intersection (labels < 0: "
     "unlabelled), then reset_local_connectivity."},
    {"metric_graph", (PyCFunction)(void (*)(void))py_metric_graph, METH_VARARGS | METH_KEYWORDS,
     "metric_graph(indptr, indices, data, values, metric, p, params, scale, n_jobs=-1)\n"
     "-> (indptr, indices, data): supervised UMAP's intersection with a discrete target metric "
     "(each edge times exp(-scale * d(values_i, values_j))), then reset_local_connectivity."},
    {"combine_graphs", (PyCFunction)(void (*)(void))py_combine_graphs, METH_VARARGS | METH_KEYWORDS,
     "combine_graphs(indptr, indices, data, other_indptr, other_indices, other_data, op, "
     "weight=0.5, reset_local_metric=False, n_jobs=-1)\n-> (indptr, indices, data): umap-learn's "
     "general simplicial set intersection ('intersection', the other graph's share weight), "
     "union or difference of two graphs on the same points, then reset_local_connectivity."},
    {"unique_rows", (PyCFunction)(void (*)(void))py_unique_rows, METH_VARARGS | METH_KEYWORDS,
     "unique_rows(x) -> (first int32[n_unique], inverse int32[n]): the first row of each distinct "
     "row of x (bit for bit, ascending) and, per row, the position of its copy in first."},
    {"inverse_transform", (PyCFunction)(void (*)(void))py_inverse_transform,
     METH_VARARGS | METH_KEYWORDS,
     "inverse_transform(embedding, data, sigmas, rhos, points, metric, a, b, "
     "repulsion_strength=1.0, learning_rate=0.25, negative_sample_rate=5.0, n_epochs=0, seed=0, "
     "p=2.0, n_jobs=-1, callback=None) -> float32[n_points, dim]: umap-learn's inverse_transform "
     "(neighbours by exact search in the embedding, no triangulation)."},
    {"dens_radii", (PyCFunction)(void (*)(void))py_dens_radii, METH_VARARGS | METH_KEYWORDS,
     "dens_radii(indptr, indices, data, knn_indices, knn_dists, squared=True, min_weight=0.0, "
     "n_jobs=-1) -> float32[n]: densMAP's log local radii of a symmetric graph from its k-NN "
     "lists."},
    {"find_ab_params", (PyCFunction)(void (*)(void))py_find_ab_params, METH_VARARGS | METH_KEYWORDS,
     "find_ab_params(spread, min_dist) -> (a, b): least-squares fit of umap-learn's curve."},
    {"spectral_layout", (PyCFunction)(void (*)(void))py_spectral_layout,
     METH_VARARGS | METH_KEYWORDS,
     "spectral_layout(indptr, indices, data, n_components, seed, n_jobs=-1, callback=None)\n"
     "-> (embedding float32[n, n_components], converged): normalised-Laplacian eigenvectors."},
    {"rescale_embedding", (PyCFunction)(void (*)(void))py_rescale_embedding,
     METH_VARARGS | METH_KEYWORDS,
     "rescale_embedding(embedding, seed, expand, noise=1e-4) -> None: in place; optional noisy "
     "scale to 10, then every column to [0, 10]."},
    {"output_metric_grad", py_output_metric_grad, METH_VARARGS,
     "output_metric_grad(metric_code, x, y, p, params=None) -> (distance, gradient in x): the "
     "layout's output-metric gradient (umapc_output_metric codes; params: the metric's array)"},
    {"optimize_layout", (PyCFunction)(void (*)(void))py_optimize_layout,
     METH_VARARGS | METH_KEYWORDS,
     "optimize_layout(head_embedding, tail_embedding, indptr, indices, data, n_epochs, a, b, "
     "repulsion_strength=1.0, learning_rate=1.0, negative_sample_rate=5.0, seed=-1, n_jobs=-1, "
     "callback=None, ..., output_metric=0, output_p=2.0, output_custom=None, output_params=None, "
     "snapshot_epochs=None) -> None: UMAP's SGD, head updated in place; the same bytes for any "
     "n_jobs and SIMD level (seed < 0: a fixed internal seed). output_custom: a "
     "CustomMetric(output=True) in place of output_metric. snapshot_epochs (non-decreasing epoch "
     "counts, 1 to n_epochs): returns float32[len, n_head, dim], head after each of those many "
     "epochs."},
    {"init_transform", (PyCFunction)(void (*)(void))py_init_transform, METH_VARARGS | METH_KEYWORDS,
     "init_transform(indptr, indices, data, train_embedding) -> float32[n_new, d]: weighted mean "
     "of the training neighbours (training mean for rows without edges)."},
    {NULL, NULL, 0, NULL},
};

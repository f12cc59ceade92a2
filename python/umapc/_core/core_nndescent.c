#include "core.h"

/* Binding for the NN-descent all-points graph: conversion and error translation only. */

static PyObject *core_nndescent_knn_graph(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *keywords[] = {"X",         "k",          "metric",         "p",
                               "seed",      "n_jobs",     "n_trees",        "leaf_size",
                               "max_iters", "delta",      "max_candidates", "extra",
                               "progress",  "min_recall", "outcome",        "params",
                               NULL};
    PyObject *x_obj = NULL, *jobs_obj = NULL, *callback = Py_None, *params = Py_None;
    long k = 0;
    PyObject *name = NULL;
    double p = 2.0, delta = 0.001, min_recall = 0.99;
    int want_outcome = 0;
    unsigned long long seed = 0;
    Py_ssize_t trees = 0, leaf = 0, iters = 0, mc = 0, extra = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Ol|OdKOnnndnnOdpO:nndescent_knn_graph",
                                     keywords, &x_obj, &k, &name, &p, &seed, &jobs_obj, &trees,
                                     &leaf, &iters, &delta, &mc, &extra, &callback, &min_recall,
                                     &want_outcome, &params)) {
        return NULL;
    }
    if (!(min_recall >= 0.0 && min_recall <= 1.0)) {
        PyErr_SetString(PyExc_ValueError, "min_recall must be between 0 and 1");
        return NULL;
    }
    if (trees < 0 || leaf < 0 || iters < 0 || mc < 0 || extra < 0) {
        PyErr_SetString(PyExc_ValueError,
                        "tree, leaf, iteration and candidate counts must be >= 0");
        return NULL;
    }
    umapc_metric metric;
    umapc_error err = {0};
    umapc_status st;
    int n_jobs = -1;
    if (umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0) {
        return NULL;
    }
    PyArrayObject *held = NULL;
    if (umapc_metric_arg_obj(name, p, params, &metric, &held) < 0) {
        return NULL;
    }
    /* X: a float matrix, or sparse rows (indptr, indices, data, n_cols) */
    int sparse = PyTuple_Check(x_obj);
    umapc_csr csr = {0};
    umapc_csr_hold hold = {0};
    PyArrayObject *x = NULL;
    npy_intp n = 0, dim = 0;
    if (sparse) {
        if (umapc_as_csr(x_obj, "X", &csr, &hold) < 0) {
            Py_XDECREF(held);
            return NULL;
        }
        n = (npy_intp)csr.n_rows;
        dim = (npy_intp)csr.n_cols;
    } else if ((x = umapc_as_float_matrix(x_obj, "X", 1)) == NULL) {
        Py_XDECREF(held);
        return NULL;
    } else {
        n = PyArray_DIM(x, 0);
        dim = PyArray_DIM(x, 1);
    }
    if (k < 1 || k > (long)n) {
        Py_XDECREF(x);
        umapc_csr_release(&hold);
        Py_XDECREF(held);
        return PyErr_Format(PyExc_ValueError,
                            "k must be between 1 and the number of data rows (%zd), got %ld",
                            (Py_ssize_t)n, k);
    }
    Py_BEGIN_ALLOW_THREADS;
    st = sparse ? umapc_sparse_check_data(&metric, &csr, &err)
                : umapc_metric_check_data(&metric, (const float *)PyArray_DATA(x), (size_t)n,
                                          (size_t)dim, &err);
    Py_END_ALLOW_THREADS;
    if (st != UMAPC_OK) {
        Py_XDECREF(x);
        umapc_csr_release(&hold);
        Py_XDECREF(held);
        return umapc_raise(st, &err);
    }
    PyArrayObject *indices = NULL, *distances = NULL;
    if (umapc_new_neighbors(n, (npy_intp)k, &indices, &distances) < 0) {
        Py_XDECREF(x);
        umapc_csr_release(&hold);
        Py_XDECREF(held);
        return NULL;
    }
    umapc_nndescent_options opts;
    umapc_nndescent_options_init(&opts);
    opts.n_threads = n_jobs;
    opts.seed = (uint64_t)seed;
    opts.n_trees = (size_t)trees;
    opts.leaf_size = (size_t)leaf;
    opts.max_iters = (size_t)iters;
    opts.max_candidates = (size_t)mc;
    opts.delta = delta;
    opts.extra = (size_t)extra;
    opts.min_recall = min_recall;
    umapc_bridge bridge;
    umapc_bridge_init(&bridge, callback);
    umapc_nndescent_outcome outcome;
    umapc_idx *ind = (umapc_idx *)PyArray_DATA(indices);
    float *dist = (float *)PyArray_DATA(distances);
    Py_BEGIN_ALLOW_THREADS;
    st = sparse ? umapc_nndescent_knn_graph_csr(&metric, &csr, (size_t)k, &opts, &bridge.progress,
                                                &outcome, ind, dist, &err)
                : umapc_nndescent_knn_graph(&metric, (const float *)PyArray_DATA(x), (size_t)n,
                                            (size_t)dim, (size_t)k, &opts, &bridge.progress,
                                            &outcome, ind, dist, &err);
    Py_END_ALLOW_THREADS;
    Py_XDECREF(x);
    umapc_csr_release(&hold);
    Py_XDECREF(held);
    if (umapc_custom_check(umapc_custom_ctx(&metric))) {
        Py_DECREF(indices);
        Py_DECREF(distances);
        return NULL;
    }
    if (st != UMAPC_OK || !want_outcome) {
        return umapc_neighbors_result(st, &err, &bridge, indices, distances);
    }
    return Py_BuildValue("(NN{s:O,s:n,s:n,s:d})", (PyObject *)indices, (PyObject *)distances,
                         "exact", outcome.exact ? Py_True : Py_False, "searches",
                         (Py_ssize_t)outcome.searches, "heap_size", (Py_ssize_t)outcome.heap_size,
                         "recall_estimate", outcome.recall_estimate);
}

PyMethodDef umapc_nndescent_methods[] = {
    {"nndescent_knn_graph", (PyCFunction)(void (*)(void))core_nndescent_knn_graph,
     METH_VARARGS | METH_KEYWORDS,
     "nndescent_knn_graph(X, k, metric='euclidean', p=2.0, seed=0, n_jobs=-1, ..., "
     "min_recall=0.99, outcome=False) -> "
     "(indices, distances[, outcome dict]): all-points k-NN graph by NN-descent (or the exact "
     "graph where that is cheaper)."},
    {NULL, NULL, 0, NULL},
};

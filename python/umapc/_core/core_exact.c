#include "core.h"

/* Bindings for exact (brute-force) search: conversion and error translation only. */

static int check_k(long k, npy_intp n) {
    if (k < 1 || k > (long)n) {
        PyErr_Format(PyExc_ValueError,
                     "k must be between 1 and the number of data rows (%zd), got %ld",
                     (Py_ssize_t)n, k);
        return -1;
    }
    return 0;
}

static PyObject *core_exact_knn_graph(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *keywords[] = {"X", "k", "metric", "n_jobs", "p", "progress", "params", NULL};
    PyObject *x_obj = NULL, *jobs_obj = NULL, *callback = Py_None, *params = Py_None;
    long k = 0;
    PyObject *name = NULL;
    double p = 2.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Ol|OOdOO:exact_knn_graph", keywords, &x_obj, &k,
                                     &name, &jobs_obj, &p, &callback, &params)) {
        return NULL;
    }
    umapc_metric metric;
    PyArrayObject *held = NULL;
    int n_jobs = -1;
    if (umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0 ||
        umapc_metric_arg_obj(name, p, params, &metric, &held) < 0) {
        return NULL;
    }
    PyArrayObject *x = umapc_as_float_matrix(x_obj, "X", 1);
    if (x == NULL) {
        Py_XDECREF(held);
        return NULL;
    }
    npy_intp n = PyArray_DIM(x, 0), dim = PyArray_DIM(x, 1);
    PyArrayObject *indices = NULL, *distances = NULL;
    umapc_error err = {0};
    PyObject *result = NULL;
    if (check_k(k, n) < 0 || umapc_new_neighbors(n, (npy_intp)k, &indices, &distances) < 0) {
        goto done;
    }
    umapc_status st = umapc_metric_check_data(&metric, (const float *)PyArray_DATA(x), (size_t)n,
                                              (size_t)dim, &err);
    if (st != UMAPC_OK) {
        Py_DECREF(indices);
        Py_DECREF(distances);
        umapc_raise(st, &err);
        goto done;
    }
    umapc_exact_options opts;
    umapc_exact_options_init(&opts);
    opts.n_threads = n_jobs;
    umapc_bridge bridge;
    umapc_bridge_init(&bridge, callback);
    Py_BEGIN_ALLOW_THREADS;
    st = umapc_exact_knn_graph(&metric, (const float *)PyArray_DATA(x), (size_t)n, (size_t)dim,
                               (size_t)k, &opts, &bridge.progress,
                               (umapc_idx *)PyArray_DATA(indices), (float *)PyArray_DATA(distances),
                               &err);
    Py_END_ALLOW_THREADS;
    if (umapc_custom_check(umapc_custom_ctx(&metric))) {
        Py_DECREF(indices);
        Py_DECREF(distances);
        goto done;
    }
    result = umapc_neighbors_result(st, &err, &bridge, indices, distances);
done:
    Py_DECREF(x);
    Py_XDECREF(held);
    return result;
}

/* k-NN from precomputed distances: a dense float matrix, or CSR arrays with n_cols. */
static PyObject *core_precomputed_knn(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *keywords[] = {"distances", "k", "indptr", "indices", "n_cols", "n_jobs", NULL};
    PyObject *d_obj, *p_obj = Py_None, *i_obj = Py_None, *jobs_obj = NULL;
    long k = 0;
    Py_ssize_t n_cols = -1;
    int n_jobs = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Ol|OOnO:precomputed_knn", keywords, &d_obj, &k,
                                     &p_obj, &i_obj, &n_cols, &jobs_obj) ||
        umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0) {
        return NULL;
    }
    int sparse = p_obj != Py_None;
    PyArrayObject *values =
        sparse ? (PyArrayObject *)PyArray_FROMANY(d_obj, NPY_FLOAT32, 1, 1, NPY_ARRAY_CARRAY)
               : umapc_as_float_matrix(d_obj, "distances", 0);
    PyArrayObject *ptr = NULL, *cols = NULL;
    if (values != NULL && sparse) {
        ptr = (PyArrayObject *)PyArray_FROMANY(p_obj, NPY_INT64, 1, 1, NPY_ARRAY_CARRAY);
        cols =
            ptr ? (PyArrayObject *)PyArray_FROMANY(i_obj, NPY_INT32, 1, 1, NPY_ARRAY_CARRAY) : NULL;
    }
    if (values == NULL || (sparse && cols == NULL)) {
        Py_XDECREF(values);
        Py_XDECREF(ptr);
        return NULL;
    }
    npy_intp rows = sparse ? PyArray_DIM(ptr, 0) - 1 : PyArray_DIM(values, 0);
    size_t width = sparse ? (size_t)(n_cols > 0 ? n_cols : 0) : (size_t)PyArray_DIM(values, 1);
    const int64_t *p64 = sparse ? (const int64_t *)PyArray_DATA(ptr) : NULL;
    int bad_csr = sparse && (rows < 0 || p64[0] != 0 || p64[rows] != PyArray_DIM(values, 0) ||
                             PyArray_DIM(cols, 0) != PyArray_DIM(values, 0));
    for (npy_intp r = 0; sparse && !bad_csr && r < rows; r++) {
        bad_csr = p64[r + 1] < p64[r];
    }
    PyArrayObject *indices = NULL, *distances = NULL;
    if (bad_csr || k < 1 ||
        umapc_new_neighbors(rows < 0 ? 0 : rows, k < 1 ? 1 : k, &indices, &distances)) {
        if (bad_csr || k < 1) {
            PyErr_SetString(PyExc_ValueError,
                            bad_csr ? "precomputed_knn: malformed CSR arrays" : "k must be >= 1");
        }
        Py_DECREF(values);
        Py_XDECREF(ptr);
        Py_XDECREF(cols);
        return NULL;
    }
    umapc_error err = {0};
    umapc_status st;
    umapc_exact_options opts;
    umapc_exact_options_init(&opts);
    opts.n_threads = n_jobs;
    Py_BEGIN_ALLOW_THREADS;
    st = umapc_exact_knn_precomputed(
        (const float *)PyArray_DATA(values), p64,
        sparse ? (const umapc_idx *)PyArray_DATA(cols) : NULL, (size_t)rows, width, (size_t)k,
        &opts, (umapc_idx *)PyArray_DATA(indices), (float *)PyArray_DATA(distances), &err);
    Py_END_ALLOW_THREADS;
    Py_DECREF(values);
    Py_XDECREF(ptr);
    Py_XDECREF(cols);
    umapc_bridge bridge;
    umapc_bridge_init(&bridge, NULL);
    return umapc_neighbors_result(st, &err, &bridge, indices, distances);
}

PyMethodDef umapc_exact_methods[] = {
    {"exact_knn_graph", (PyCFunction)(void (*)(void))core_exact_knn_graph,
     METH_VARARGS | METH_KEYWORDS,
     "exact_knn_graph(X, k, metric='euclidean', n_jobs=-1, p=2.0, progress=None, params=None)\n\n"
     "Exact all-points k-NN graph: (indices int32 (n, k), distances float32 (n, k)); row i starts "
     "with i itself at distance 0, then the k-1 nearest other rows (ties by lower index)."},
    {"precomputed_knn", (PyCFunction)(void (*)(void))core_precomputed_knn,
     METH_VARARGS | METH_KEYWORDS,
     "precomputed_knn(distances, k, indptr=None, indices=None, n_cols=None, n_jobs=-1)\n\n"
     "k-NN from precomputed distances, a dense matrix or (with indptr, indices, n_cols) the data "
     "of a CSR one: (indices int32 (n, k), distances float32 (n, k)), sorted, ties by lower "
     "column; infinite distances give index -1."},
    {NULL, NULL, 0, NULL},
};

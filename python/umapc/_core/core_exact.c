#include "core.h"

/* Bindings for exact (brute-force) search: conversion and error translation only. */

/* New (rows x k) int32 and float32 arrays, or -1 with MemoryError set. */
static int new_result(npy_intp rows, npy_intp k, PyArrayObject **indices,
                      PyArrayObject **distances) {
    npy_intp shape[2] = {rows, k};
    *indices = (PyArrayObject *)PyArray_SimpleNew(2, shape, NPY_INT32);
    *distances = (PyArrayObject *)PyArray_SimpleNew(2, shape, NPY_FLOAT32);
    if (*indices == NULL || *distances == NULL) {
        Py_CLEAR(*indices);
        Py_CLEAR(*distances);
        return -1;
    }
    return 0;
}

/* Runs the search with the GIL released; returns (indices, distances) or NULL. */
static PyObject *finish_result(umapc_status st, const umapc_error *err, const umapc_bridge *bridge,
                               PyArrayObject *indices, PyArrayObject *distances) {
    if (st != UMAPC_OK) {
        Py_DECREF(indices);
        Py_DECREF(distances);
        if (umapc_bridge_failed(bridge) && PyErr_Occurred()) {
            return NULL;
        }
        return umapc_raise(st, err);
    }
    return Py_BuildValue("(NN)", (PyObject *)indices, (PyObject *)distances);
}

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
    static char *keywords[] = {"X", "k", "metric", "n_jobs", "p", "progress", NULL};
    PyObject *x_obj = NULL, *jobs_obj = NULL, *callback = Py_None;
    long k = 0;
    const char *name = "euclidean";
    double p = 2.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Ol|sOdO:exact_knn_graph", keywords, &x_obj, &k,
                                     &name, &jobs_obj, &p, &callback)) {
        return NULL;
    }
    umapc_metric metric;
    int n_jobs = -1;
    if (umapc_metric_arg(name, p, &metric) < 0 || umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0) {
        return NULL;
    }
    PyArrayObject *x = umapc_as_float_matrix(x_obj, "X", 1);
    if (x == NULL) {
        return NULL;
    }
    npy_intp n = PyArray_DIM(x, 0), dim = PyArray_DIM(x, 1);
    PyArrayObject *indices = NULL, *distances = NULL;
    umapc_error err = {0};
    PyObject *result = NULL;
    if (check_k(k, n) < 0 || new_result(n, (npy_intp)k, &indices, &distances) < 0) {
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
    result = finish_result(st, &err, &bridge, indices, distances);
done:
    Py_DECREF(x);
    return result;
}

static PyObject *core_exact_search(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *keywords[] = {"data",        "queries", "k",        "metric", "n_jobs",
                               "filter_mask", "p",       "progress", NULL};
    PyObject *data_obj = NULL, *q_obj = NULL, *jobs_obj = NULL, *mask_obj = Py_None;
    PyObject *callback = Py_None;
    long k = 0;
    const char *name = "euclidean";
    double p = 2.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOl|sOOdO:exact_search", keywords, &data_obj,
                                     &q_obj, &k, &name, &jobs_obj, &mask_obj, &p, &callback)) {
        return NULL;
    }
    umapc_metric metric;
    int n_jobs = -1;
    if (umapc_metric_arg(name, p, &metric) < 0 || umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0) {
        return NULL;
    }
    PyArrayObject *data = umapc_as_float_matrix(data_obj, "data", 1);
    if (data == NULL) {
        return NULL;
    }
    PyArrayObject *queries = NULL, *mask = NULL, *indices = NULL, *distances = NULL;
    PyObject *result = NULL;
    umapc_error err = {0};
    npy_intp n = PyArray_DIM(data, 0), dim = PyArray_DIM(data, 1);
    queries = umapc_as_float_matrix(q_obj, "queries", 1);
    if (queries == NULL) {
        goto done;
    }
    if (PyArray_DIM(queries, 1) != dim) {
        PyErr_Format(PyExc_ValueError, "queries must have as many columns as data (%zd), got %zd",
                     (Py_ssize_t)dim, (Py_ssize_t)PyArray_DIM(queries, 1));
        goto done;
    }
    if (mask_obj != Py_None && (mask = umapc_as_mask(mask_obj, n, "filter_mask")) == NULL) {
        goto done;
    }
    npy_intp nq = PyArray_DIM(queries, 0);
    if (check_k(k, n) < 0 || new_result(nq, (npy_intp)k, &indices, &distances) < 0) {
        goto done;
    }
    umapc_status st = umapc_metric_check_data(&metric, (const float *)PyArray_DATA(data), (size_t)n,
                                              (size_t)dim, &err);
    if (st == UMAPC_OK) {
        st = umapc_metric_check_data(&metric, (const float *)PyArray_DATA(queries), (size_t)nq,
                                     (size_t)dim, &err);
    }
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
    const uint8_t *mask_data = mask != NULL ? (const uint8_t *)PyArray_DATA(mask) : NULL;
    Py_BEGIN_ALLOW_THREADS;
    st = umapc_exact_search(&metric, (const float *)PyArray_DATA(data), (size_t)n, (size_t)dim,
                            (const float *)PyArray_DATA(queries), (size_t)nq, (size_t)k, mask_data,
                            &opts, &bridge.progress, (umapc_idx *)PyArray_DATA(indices),
                            (float *)PyArray_DATA(distances), &err);
    Py_END_ALLOW_THREADS;
    result = finish_result(st, &err, &bridge, indices, distances);
done:
    Py_DECREF(data);
    Py_XDECREF(queries);
    Py_XDECREF(mask);
    return result;
}

PyMethodDef umapc_exact_methods[] = {
    {"exact_knn_graph", (PyCFunction)(void (*)(void))core_exact_knn_graph,
     METH_VARARGS | METH_KEYWORDS,
     "exact_knn_graph(X, k, metric='euclidean', n_jobs=-1, p=2.0, progress=None)\n\n"
     "Exact all-points k-NN graph: (indices int32 (n, k), distances float32 (n, k)); row i starts "
     "with i itself at distance 0, then the k-1 nearest other rows (ties by lower index)."},
    {"exact_search", (PyCFunction)(void (*)(void))core_exact_search, METH_VARARGS | METH_KEYWORDS,
     "exact_search(data, queries, k, metric='euclidean', n_jobs=-1, filter_mask=None, p=2.0, "
     "progress=None)\n\n"
     "Exact k nearest data rows of each query: (indices int32 (nq, k), distances float32 (nq, k)), "
     "sorted, ties by lower index; rows where filter_mask is False are never returned, and rows "
     "with fewer allowed neighbours than k are padded with -1 / inf."},
    {NULL, NULL, 0, NULL},
};

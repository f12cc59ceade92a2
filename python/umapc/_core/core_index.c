/* umapc._core.Index: a Python handle on umapc_index. Argument checks and conversion only; the
 * GIL is released around every call into the library. */
#include "core.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

typedef struct {
    PyObject_HEAD umapc_index *index;
    /* Readers (queries, graphs, saves, getters) share the index; an update waits until they are
     * done and holds it alone. Taken with the GIL released: the holder may need the GIL (progress
     * callbacks) while a waiter would otherwise sit on it. */
    pthread_rwlock_t lock;
    int lock_ready;
    /* The CustomMetric the index's metric calls (its context must outlive the index), or NULL. */
    PyObject *custom;
} IndexObject;

static PyTypeObject IndexType;

static int take_lock(IndexObject *self, int write) {
    if (self->index == NULL || !self->lock_ready) {
        PyErr_SetString(PyExc_ValueError, "the index is not initialised");
        return -1;
    }
    int rc = write ? pthread_rwlock_trywrlock(&self->lock) : pthread_rwlock_tryrdlock(&self->lock);
    if (rc == EBUSY) {
        Py_BEGIN_ALLOW_THREADS;
        rc = write ? pthread_rwlock_wrlock(&self->lock) : pthread_rwlock_rdlock(&self->lock);
        Py_END_ALLOW_THREADS;
    }
    if (rc == EDEADLK) {
        /* A progress callback of this thread's own update called back into the index. */
        PyErr_SetString(PyExc_RuntimeError,
                        "the index is being updated by this thread (from a progress callback)");
        return -1;
    }
    if (rc != 0) {
        PyErr_Format(PyExc_RuntimeError, "cannot lock the index: %s", strerror(rc));
        return -1;
    }
    return 0;
}

static int begin_read(IndexObject *self) {
    return take_lock(self, 0);
}

static void end_read(IndexObject *self) {
    pthread_rwlock_unlock(&self->lock);
}

static int begin_write(IndexObject *self) {
    return take_lock(self, 1);
}

static void end_write(IndexObject *self) {
    pthread_rwlock_unlock(&self->lock);
}

static PyObject *wrap_index(umapc_index *index) {
    IndexObject *self = (IndexObject *)IndexType.tp_alloc(&IndexType, 0);
    if (self == NULL) {
        umapc_index_free(index);
        return NULL;
    }
    if (pthread_rwlock_init(&self->lock, NULL) != 0) {
        umapc_index_free(index);
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->lock_ready = 1;
    self->index = index;
    return (PyObject *)self;
}

static void index_dealloc(IndexObject *self) {
    if (self->lock_ready) {
        pthread_rwlock_destroy(&self->lock);
    }
    umapc_index_free(self->index);
    Py_XDECREF(self->custom);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int parse_backend(const char *name, umapc_backend *backend) {
    if (strcmp(name, "exact") == 0) {
        *backend = UMAPC_BACKEND_EXACT;
    } else if (strcmp(name, "hnsw") == 0) {
        *backend = UMAPC_BACKEND_HNSW;
    } else {
        PyErr_Format(PyExc_ValueError, "backend must be 'exact' or 'hnsw', got '%s'", name);
        return -1;
    }
    return 0;
}

/* knn_indices as an int32 C-contiguous (n, k) matrix with k >= 1 and ids in [-1, n) (integers of
 * any width, checked to fit int32 before narrowing; the C call checks the range again, for its
 * own callers). */
static PyArrayObject *graph_matrix(PyObject *obj, npy_intp n) {
    PyArrayObject *ids = umapc_as_int32(obj, 2, "knn_indices");
    if (ids == NULL) {
        return NULL;
    }
    if (PyArray_DIM(ids, 0) != n || PyArray_DIM(ids, 1) < 1) {
        PyErr_Format(PyExc_ValueError,
                     "knn_indices must have shape (%zd, k) with k >= 1, one row per data row",
                     (Py_ssize_t)n);
        Py_DECREF(ids);
        return NULL;
    }
    const int32_t *v = (const int32_t *)PyArray_DATA(ids);
    for (npy_intp i = 0; i < PyArray_SIZE(ids); i++) {
        if (v[i] < -1 || v[i] >= n) {
            PyErr_Format(PyExc_ValueError, "knn_indices row %zd holds id %ld, outside [-1, %zd)",
                         (Py_ssize_t)(i / PyArray_DIM(ids, 1)), (long)v[i], (Py_ssize_t)n);
            Py_DECREF(ids);
            return NULL;
        }
    }
    return ids;
}

/* Index(data, metric="euclidean", p=2.0, backend="exact", M=16, ef_construction=200, seed=0,
 *       n_jobs=-1, callback=None, params=None, knn_indices=None): knn_indices (n x k ids) links
 *       the HNSW backend from that graph instead of insertion searches. */
static PyObject *index_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    (void)type;
    static char *kwlist[] = {"data",     "metric",          "p",           "backend",
                             "M",        "ef_construction", "seed",        "n_jobs",
                             "callback", "params",          "knn_indices", NULL};
    PyObject *data_obj = NULL, *jobs_obj = Py_None, *callback = Py_None, *params = Py_None;
    PyObject *knn_obj = Py_None;
    PyObject *metric_name = NULL;
    const char *backend_name = "exact";
    double p = 2.0;
    Py_ssize_t m = 16, ef_construction = 200;
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OdsnnKOOOO", kwlist, &data_obj, &metric_name,
                                     &p, &backend_name, &m, &ef_construction, &seed, &jobs_obj,
                                     &callback, &params, &knn_obj)) {
        return NULL;
    }
    umapc_index_options opts;
    umapc_index_options_init(&opts);
    if (parse_backend(backend_name, &opts.backend) < 0 ||
        umapc_parse_jobs(jobs_obj, -1, &opts.hnsw.n_threads) < 0) {
        return NULL;
    }
    if (m < 2 || m > 1024 || ef_construction < 1) {
        PyErr_Format(PyExc_ValueError,
                     "M must be in [2, 1024] and ef_construction >= 1 (got %zd, %zd)", m,
                     ef_construction);
        return NULL;
    }
    opts.hnsw.M = (size_t)m;
    opts.hnsw.ef_construction = (size_t)ef_construction;
    opts.hnsw.seed = seed;
    umapc_metric metric;
    PyArrayObject *held = NULL; /* the index keeps its own copy of the parameters */
    if (umapc_metric_arg_obj(metric_name, p, params, &metric, &held) < 0) {
        return NULL;
    }
    PyArrayObject *data = umapc_as_float_matrix(data_obj, "data", 1);
    if (data == NULL) {
        Py_XDECREF(held);
        return NULL;
    }
    PyArrayObject *knn = NULL;
    if (knn_obj != Py_None && (knn = graph_matrix(knn_obj, PyArray_DIM(data, 0))) == NULL) {
        Py_DECREF(data);
        Py_XDECREF(held);
        return NULL;
    }
    umapc_bridge bridge;
    umapc_bridge_init(&bridge, callback);
    umapc_error err = {0};
    umapc_index *index = NULL;
    umapc_status status;
    Py_BEGIN_ALLOW_THREADS;
    status = umapc_index_create_from_graph(
        &metric, (const float *)PyArray_DATA(data), (size_t)PyArray_DIM(data, 0),
        (size_t)PyArray_DIM(data, 1), &opts, knn ? (const umapc_idx *)PyArray_DATA(knn) : NULL,
        knn ? (size_t)PyArray_DIM(knn, 1) : 0, &bridge.progress, &index, &err);
    Py_END_ALLOW_THREADS;
    Py_DECREF(data);
    Py_XDECREF(knn);
    Py_XDECREF(held);
    if (umapc_custom_check(umapc_custom_ctx(&metric))) {
        umapc_index_free(index);
        return NULL;
    }
    if (status) {
        return umapc_raise_call(status, &err, &bridge);
    }
    PyObject *wrapped = wrap_index(index);
    if (wrapped != NULL && metric.kind == UMAPC_METRIC_CUSTOM) {
        Py_INCREF(metric_name);
        ((IndexObject *)wrapped)->custom = metric_name;
    }
    return wrapped;
}

static PyArrayObject *check_query_matrix(IndexObject *self, PyObject *obj, const char *name) {
    PyArrayObject *array = umapc_as_float_matrix(obj, name, 1);
    if (array != NULL && (size_t)PyArray_DIM(array, 1) != umapc_index_dim(self->index)) {
        PyErr_Format(PyExc_ValueError, "%s has %zd columns but the index has %zu", name,
                     (Py_ssize_t)PyArray_DIM(array, 1), umapc_index_dim(self->index));
        Py_CLEAR(array);
    }
    return array;
}

/* query(queries, k, ef=0, filter_mask=None, n_jobs=-1, callback=None) -> (indices, distances) */
static PyObject *index_query(IndexObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"queries", "k", "ef", "filter_mask", "n_jobs", "callback", NULL};
    PyObject *query_obj = NULL, *mask_obj = Py_None, *jobs_obj = Py_None, *callback = Py_None;
    Py_ssize_t k = 10, ef = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "On|nOOO", kwlist, &query_obj, &k, &ef,
                                     &mask_obj, &jobs_obj, &callback)) {
        return NULL;
    }
    umapc_query_options opts;
    umapc_query_options_init(&opts);
    if (begin_read(self) < 0) {
        return NULL;
    }
    PyObject *result = NULL;
    PyArrayObject *queries = NULL, *mask = NULL, *indices = NULL, *distances = NULL;
    if (umapc_parse_jobs(jobs_obj, -1, &opts.n_threads) < 0) {
        goto done;
    }
    if (k < 1 || (size_t)k > umapc_index_size(self->index)) {
        PyErr_Format(PyExc_ValueError,
                     "k=%zd must be between 1 and the number of indexed points (%zu)", k,
                     umapc_index_size(self->index));
        goto done;
    }
    if (ef < 0) {
        PyErr_SetString(PyExc_ValueError, "ef must be non-negative");
        goto done;
    }
    opts.ef = (size_t)ef;
    queries = check_query_matrix(self, query_obj, "query_data");
    if (queries == NULL) {
        goto done;
    }
    if (mask_obj != Py_None) {
        mask = umapc_as_mask(mask_obj, (npy_intp)umapc_index_size(self->index), "filter_mask");
        if (mask == NULL) {
            goto done;
        }
        opts.filter_mask = (const uint8_t *)PyArray_DATA(mask);
    }
    if (umapc_new_neighbors(PyArray_DIM(queries, 0), k, &indices, &distances) < 0) {
        goto done;
    }
    umapc_bridge bridge;
    umapc_bridge_init(&bridge, callback);
    umapc_error err = {0};
    umapc_status status;
    Py_BEGIN_ALLOW_THREADS;
    status = umapc_index_query(self->index, (const float *)PyArray_DATA(queries),
                               (size_t)PyArray_DIM(queries, 0), (size_t)k, &opts, &bridge.progress,
                               (umapc_idx *)PyArray_DATA(indices), (float *)PyArray_DATA(distances),
                               &err);
    Py_END_ALLOW_THREADS;
    if (umapc_custom_check(self->custom)) {
        goto done;
    }
    result = umapc_neighbors_result(status, &err, &bridge, indices, distances);
    indices = distances = NULL; /* the result's now */
done:
    end_read(self);
    Py_XDECREF(queries);
    Py_XDECREF(mask);
    Py_XDECREF(indices);
    Py_XDECREF(distances);
    return result;
}

/* knn_graph(k, n_jobs=-1, callback=None) -> (indices, distances) */
static PyObject *index_knn_graph(IndexObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"k", "n_jobs", "callback", NULL};
    PyObject *jobs_obj = Py_None, *callback = Py_None;
    Py_ssize_t k = 0;
    int n_threads = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n|OO", kwlist, &k, &jobs_obj, &callback) ||
        umapc_parse_jobs(jobs_obj, -1, &n_threads) < 0) {
        return NULL;
    }
    if (begin_read(self) < 0) {
        return NULL;
    }
    PyObject *result = NULL;
    PyArrayObject *indices = NULL, *distances = NULL;
    size_t n = umapc_index_size(self->index);
    if (k < 1 || (size_t)k > n) {
        PyErr_Format(PyExc_ValueError,
                     "n_neighbors=%zd must be between 1 and the number of points (%zu)", k, n);
        goto done;
    }
    if (umapc_new_neighbors((npy_intp)n, k, &indices, &distances) < 0) {
        goto done;
    }
    umapc_bridge bridge;
    umapc_bridge_init(&bridge, callback);
    umapc_error err = {0};
    umapc_status status;
    umapc_knn_graph_options opts;
    umapc_knn_graph_options_init(&opts);
    opts.n_threads = n_threads;
    Py_BEGIN_ALLOW_THREADS;
    status = umapc_index_knn_graph(self->index, (size_t)k, &opts, &bridge.progress,
                                   (umapc_idx *)PyArray_DATA(indices),
                                   (float *)PyArray_DATA(distances), &err);
    Py_END_ALLOW_THREADS;
    if (umapc_custom_check(self->custom)) {
        goto done;
    }
    result = umapc_neighbors_result(status, &err, &bridge, indices, distances);
    indices = distances = NULL; /* the result's now */
done:
    end_read(self);
    Py_XDECREF(indices);
    Py_XDECREF(distances);
    return result;
}

/* add(data, n_jobs=-1, callback=None) */
static PyObject *index_add(IndexObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"data", "n_jobs", "callback", NULL};
    PyObject *data_obj = NULL, *jobs_obj = Py_None, *callback = Py_None;
    int n_threads = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OO", kwlist, &data_obj, &jobs_obj,
                                     &callback) ||
        umapc_parse_jobs(jobs_obj, -1, &n_threads) < 0) {
        return NULL;
    }
    if (begin_write(self) < 0) {
        return NULL;
    }
    PyObject *result = NULL;
    PyArrayObject *data = check_query_matrix(self, data_obj, "X");
    if (data != NULL) {
        umapc_bridge bridge;
        umapc_bridge_init(&bridge, callback);
        umapc_error err = {0};
        umapc_status status;
        Py_BEGIN_ALLOW_THREADS;
        umapc_run_options opts = {n_threads};
        status = umapc_index_add(self->index, (const float *)PyArray_DATA(data),
                                 (size_t)PyArray_DIM(data, 0), &opts, &bridge.progress, &err);
        Py_END_ALLOW_THREADS;
        if (umapc_custom_check(self->custom)) {
            /* the rows are in, linked by what the failing metric returned */
        } else if (status) {
            umapc_raise_call(status, &err, &bridge);
        } else {
            Py_INCREF(Py_None);
            result = Py_None;
        }
        Py_DECREF(data);
    }
    end_write(self);
    return result;
}

/* save(path, meta=b"") */
static PyObject *index_save(IndexObject *self, PyObject *args) {
    PyObject *path_bytes = NULL;
    Py_buffer meta = {0};
    if (!PyArg_ParseTuple(args, "O&|y*", PyUnicode_FSConverter, &path_bytes, &meta)) {
        return NULL;
    }
    PyObject *result = NULL;
    if (begin_read(self) == 0) {
        umapc_error err = {0};
        umapc_status status;
        umapc_blob blob = {(const uint8_t *)meta.buf, meta.buf ? (size_t)meta.len : 0};
        const char *path = PyBytes_AS_STRING(path_bytes);
        Py_BEGIN_ALLOW_THREADS;
        status = umapc_index_save(self->index, path, blob, &err);
        Py_END_ALLOW_THREADS;
        end_read(self);
        if (status) {
            umapc_raise(status, &err);
        } else {
            Py_INCREF(Py_None);
            result = Py_None;
        }
    }
    if (meta.buf != NULL) {
        PyBuffer_Release(&meta);
    }
    Py_DECREF(path_bytes);
    return result;
}

/* (Index, meta bytes) from a C load/deserialize result; takes ownership of both. */
static PyObject *index_and_meta(umapc_index *index, uint8_t *meta, size_t meta_size) {
    PyObject *meta_obj =
        PyBytes_FromStringAndSize(meta ? (const char *)meta : "", (Py_ssize_t)meta_size);
    umapc_free(meta);
    PyObject *index_obj = wrap_index(index);
    PyObject *result = NULL;
    if (meta_obj != NULL && index_obj != NULL) {
        result = PyTuple_Pack(2, index_obj, meta_obj);
    }
    Py_XDECREF(meta_obj);
    Py_XDECREF(index_obj);
    return result;
}

/* load(path) -> (Index, meta bytes) */
static PyObject *index_load(PyObject *cls, PyObject *arg) {
    (void)cls;
    PyObject *path_bytes = NULL;
    if (!PyUnicode_FSConverter(arg, &path_bytes)) {
        return NULL;
    }
    umapc_error err = {0};
    umapc_index *index = NULL;
    uint8_t *meta = NULL;
    size_t meta_size = 0;
    umapc_status status;
    const char *path = PyBytes_AS_STRING(path_bytes);
    Py_BEGIN_ALLOW_THREADS;
    status = umapc_index_load(path, &index, &meta, &meta_size, &err);
    Py_END_ALLOW_THREADS;
    Py_DECREF(path_bytes);
    if (status) {
        return umapc_raise(status, &err);
    }
    return index_and_meta(index, meta, meta_size);
}

/* serialize(meta=b"") -> bytes */
static PyObject *index_serialize(IndexObject *self, PyObject *args) {
    Py_buffer meta = {0};
    if (!PyArg_ParseTuple(args, "|y*", &meta)) {
        return NULL;
    }
    PyObject *result = NULL;
    if (begin_read(self) == 0) {
        uint8_t *bytes = NULL;
        size_t size = 0;
        umapc_error err = {0};
        umapc_status status;
        umapc_blob blob = {(const uint8_t *)meta.buf, meta.buf ? (size_t)meta.len : 0};
        Py_BEGIN_ALLOW_THREADS;
        status = umapc_index_serialize(self->index, blob, &bytes, &size, &err);
        Py_END_ALLOW_THREADS;
        end_read(self);
        if (status) {
            umapc_raise(status, &err);
        } else {
            result = PyBytes_FromStringAndSize((const char *)bytes, (Py_ssize_t)size);
            umapc_free(bytes);
        }
    }
    if (meta.buf != NULL) {
        PyBuffer_Release(&meta);
    }
    return result;
}

/* deserialize(bytes) -> (Index, meta bytes) */
static PyObject *index_deserialize(PyObject *cls, PyObject *arg) {
    (void)cls;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    umapc_error err = {0};
    umapc_index *index = NULL;
    uint8_t *meta = NULL;
    size_t meta_size = 0;
    umapc_status status;
    Py_BEGIN_ALLOW_THREADS;
    status = umapc_index_deserialize((const uint8_t *)view.buf, (size_t)view.len, &index, &meta,
                                     &meta_size, &err);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&view);
    if (status) {
        return umapc_raise(status, &err);
    }
    return index_and_meta(index, meta, meta_size);
}

/* rows() -> float32 (n, dim) copy of an exact index's rows */
static PyObject *index_rows(IndexObject *self, PyObject *unused) {
    (void)unused;
    if (begin_read(self) < 0) {
        return NULL;
    }
    npy_intp dims[2] = {(npy_intp)umapc_index_size(self->index),
                        (npy_intp)umapc_index_dim(self->index)};
    PyArrayObject *rows = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    if (rows != NULL) {
        umapc_error err = {0};
        umapc_status status = umapc_index_copy_rows(self->index, (float *)PyArray_DATA(rows), &err);
        if (status) {
            Py_CLEAR(rows);
            umapc_raise(status, &err);
        }
    }
    end_read(self);
    return (PyObject *)rows;
}

static PyObject *index_get_rows_as_given(IndexObject *self, void *closure) {
    (void)closure;
    if (begin_read(self) < 0) {
        return NULL;
    }
    int given = umapc_index_rows_as_given(self->index);
    end_read(self);
    return PyBool_FromLong(given);
}

static PyObject *index_get_size(IndexObject *self, void *closure) {
    (void)closure;
    if (begin_read(self) < 0) {
        return NULL;
    }
    size_t size = umapc_index_size(self->index);
    end_read(self);
    return PyLong_FromSize_t(size);
}

static PyObject *index_get_dim(IndexObject *self, void *closure) {
    (void)closure;
    return PyLong_FromSize_t(self->index ? umapc_index_dim(self->index) : 0);
}

static PyObject *index_get_memory(IndexObject *self, void *closure) {
    (void)closure;
    if (begin_read(self) < 0) {
        return NULL;
    }
    size_t bytes = umapc_index_memory(self->index);
    end_read(self);
    return PyLong_FromSize_t(bytes);
}

static PyObject *index_get_backend(IndexObject *self, void *closure) {
    (void)closure;
    if (self->index == NULL) {
        Py_RETURN_NONE;
    }
    return PyUnicode_FromString(umapc_index_backend(self->index) == UMAPC_BACKEND_HNSW ? "hnsw"
                                                                                       : "exact");
}

static PyObject *index_get_metric(IndexObject *self, void *closure) {
    (void)closure;
    if (self->index == NULL) {
        Py_RETURN_NONE;
    }
    umapc_metric metric = umapc_index_metric(self->index);
    PyObject *params = Py_None;
    Py_INCREF(params);
    if (metric.n_params > 0) {
        npy_intp n = (npy_intp)metric.n_params;
        Py_DECREF(params);
        params = PyArray_SimpleNew(1, &n, NPY_FLOAT32);
        if (params == NULL) {
            return NULL;
        }
        memcpy(PyArray_DATA((PyArrayObject *)params), metric.params,
               metric.n_params * sizeof(float));
    }
    return Py_BuildValue("(sdN)", umapc_metric_name(metric.kind), metric.p, params);
}

static PyMethodDef index_type_methods[] = {
    {"query", (PyCFunction)(void (*)(void))index_query, METH_VARARGS | METH_KEYWORDS,
     "query(queries, k, ef=0, filter_mask=None, n_jobs=-1, callback=None) -> (indices, "
     "distances)"},
    {"knn_graph", (PyCFunction)(void (*)(void))index_knn_graph, METH_VARARGS | METH_KEYWORDS,
     "knn_graph(k, n_jobs=-1, callback=None) -> (indices, distances); each point first."},
    {"add", (PyCFunction)(void (*)(void))index_add, METH_VARARGS | METH_KEYWORDS,
     "add(data, n_jobs=-1, callback=None): append rows."},
    {"save", (PyCFunction)index_save, METH_VARARGS,
     "save(path, meta=b''): write atomically, with the caller's metadata bytes."},
    {"load", (PyCFunction)index_load, METH_O | METH_CLASS, "load(path) -> (Index, meta)"},
    {"serialize", (PyCFunction)index_serialize, METH_VARARGS, "serialize(meta=b'') -> bytes"},
    {"deserialize", (PyCFunction)index_deserialize, METH_O | METH_CLASS,
     "deserialize(bytes) -> (Index, meta)"},
    {"rows", (PyCFunction)index_rows, METH_NOARGS,
     "rows() -> copy of the rows, where rows_as_given"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef index_getset[] = {
    {"size", (getter)index_get_size, NULL, "number of indexed rows", NULL},
    {"rows_as_given", (getter)index_get_rows_as_given, NULL,
     "whether rows() returns the rows as they were given (bit for bit)", NULL},
    {"dim", (getter)index_get_dim, NULL, "row length", NULL},
    {"memory", (getter)index_get_memory, NULL, "bytes held by the index", NULL},
    {"backend", (getter)index_get_backend, NULL, "'exact' or 'hnsw'", NULL},
    {"metric", (getter)index_get_metric, NULL,
     "(canonical metric name, p, params): params a flat float32 copy of V, w or VI, else None",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject IndexType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "umapc._core.Index",
    .tp_basicsize = sizeof(IndexObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Nearest-neighbour index over the C library (exact or HNSW backend).",
    .tp_new = index_new,
    .tp_dealloc = (destructor)index_dealloc,
    .tp_methods = index_type_methods,
    .tp_getset = index_getset,
};

/* as_float_matrix(obj, name) -> C-contiguous finite float32 2-D array (copied only if needed) */
static PyObject *core_as_float_matrix(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *obj = NULL;
    const char *name = "data";
    if (!PyArg_ParseTuple(args, "O|s", &obj, &name)) {
        return NULL;
    }
    return (PyObject *)umapc_as_float_matrix(obj, name, 1);
}

/* check_metric_data(X, metric, p=2.0, params=None): raises ValueError when rows lie outside the
 * metric's domain (hellinger needs nonnegative entries) or params do not fit X's dimension. X must
 * already be a float32 matrix. */
static PyObject *core_check_metric_data(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *obj = NULL, *params = Py_None, *name = NULL;
    double p = 2.0;
    if (!PyArg_ParseTuple(args, "OO|dO", &obj, &name, &p, &params)) {
        return NULL;
    }
    umapc_metric metric;
    PyArrayObject *held = NULL;
    if (umapc_metric_arg_obj(name, p, params, &metric, &held) < 0) {
        return NULL;
    }
    PyArrayObject *rows = umapc_as_float_matrix(obj, "data", 0);
    if (rows == NULL) {
        Py_XDECREF(held);
        return NULL;
    }
    umapc_error err = {0};
    umapc_status status;
    Py_BEGIN_ALLOW_THREADS;
    status =
        umapc_metric_check_data(&metric, (const float *)PyArray_DATA(rows),
                                (size_t)PyArray_DIM(rows, 0), (size_t)PyArray_DIM(rows, 1), &err);
    Py_END_ALLOW_THREADS;
    Py_DECREF(rows);
    Py_XDECREF(held);
    if (status) {
        return umapc_raise(status, &err);
    }
    Py_RETURN_NONE;
}

/* write_file(path, bytes): the atomic write of Index.save, for the package's other files. */
static PyObject *core_write_file(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *path_bytes = NULL;
    Py_buffer bytes = {0};
    if (!PyArg_ParseTuple(args, "O&y*:write_file", PyUnicode_FSConverter, &path_bytes, &bytes)) {
        return NULL;
    }
    umapc_error err = {0};
    umapc_status status;
    const char *path = PyBytes_AS_STRING(path_bytes);
    Py_BEGIN_ALLOW_THREADS;
    status = umapc_file_write_atomic(path, (const uint8_t *)bytes.buf, (size_t)bytes.len, &err);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&bytes);
    Py_DECREF(path_bytes);
    if (status) {
        return umapc_raise(status, &err);
    }
    Py_RETURN_NONE;
}

/* read_file(path) -> bytes: a regular file read whole, as Index.load reads one. */
static PyObject *core_read_file(PyObject *self, PyObject *arg) {
    (void)self;
    PyObject *path_bytes = NULL;
    if (!PyUnicode_FSConverter(arg, &path_bytes)) {
        return NULL;
    }
    umapc_error err = {0};
    uint8_t *bytes = NULL;
    size_t size = 0;
    umapc_status status;
    const char *path = PyBytes_AS_STRING(path_bytes);
    Py_BEGIN_ALLOW_THREADS;
    status = umapc_file_read(path, &bytes, &size, &err);
    Py_END_ALLOW_THREADS;
    Py_DECREF(path_bytes);
    if (status) {
        return umapc_raise(status, &err);
    }
    PyObject *result = PyBytes_FromStringAndSize((const char *)bytes, (Py_ssize_t)size);
    umapc_free(bytes);
    return result;
}

/* pack_rows(rows) -> (lo, codes) or None: float32 rows as per-column integer offsets lo (float32,
 * dim) and uint8 codes (n x dim) with rows == lo + codes exactly, when every value is an integer
 * of magnitude below 2^24 (exact in float32), no value is -0.0 (lo + c would give +0.0) and each
 * column spans at most 255; None otherwise. Model files store pixel-like rows so, a quarter of the
 * float32 bytes, and unpack_rows gives back the same bits. */
static int pack_scan(const float *rows, size_t n, size_t dim, float *lo) {
    for (size_t d = 0; d < dim; d++) {
        lo[d] = rows[d];
    }
    for (size_t i = 0; i < n; i++) {
        const float *r = rows + i * dim;
        for (size_t d = 0; d < dim; d++) {
            float v = r[d];
            if (!(fabsf(v) < 16777216.0f) || v != floorf(v) || (v == 0.0f && signbit(v))) {
                return 0;
            }
            lo[d] = v < lo[d] ? v : lo[d];
        }
    }
    for (size_t i = 0; i < n; i++) {
        const float *r = rows + i * dim;
        for (size_t d = 0; d < dim; d++) {
            if (r[d] - lo[d] > 255.0f) {
                return 0;
            }
        }
    }
    return 1;
}

static PyObject *core_pack_rows(PyObject *self, PyObject *arg) {
    (void)self;
    PyArrayObject *rows = umapc_as_float_matrix(arg, "rows", 0);
    if (rows == NULL) {
        return NULL;
    }
    npy_intp n = PyArray_DIM(rows, 0), dim = PyArray_DIM(rows, 1);
    npy_intp lo_dims[1] = {dim};
    PyArrayObject *lo = (PyArrayObject *)PyArray_SimpleNew(1, lo_dims, NPY_FLOAT32);
    PyArrayObject *codes = (PyArrayObject *)PyArray_SimpleNew(2, PyArray_DIMS(rows), NPY_UINT8);
    if (lo == NULL || codes == NULL) {
        Py_DECREF(rows);
        Py_XDECREF(lo);
        Py_XDECREF(codes);
        return NULL;
    }
    const float *x = (const float *)PyArray_DATA(rows);
    float *l = (float *)PyArray_DATA(lo);
    uint8_t *c = (uint8_t *)PyArray_DATA(codes);
    int fits;
    Py_BEGIN_ALLOW_THREADS;
    fits = n > 0 && dim > 0 && pack_scan(x, (size_t)n, (size_t)dim, l);
    if (fits) {
        for (size_t i = 0; i < (size_t)n; i++) {
            for (size_t d = 0; d < (size_t)dim; d++) {
                c[i * (size_t)dim + d] = (uint8_t)(x[i * (size_t)dim + d] - l[d]);
            }
        }
    }
    Py_END_ALLOW_THREADS;
    Py_DECREF(rows);
    if (!fits) {
        Py_DECREF(lo);
        Py_DECREF(codes);
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(NN)", lo, codes);
}

/* unpack_rows(lo, codes) -> rows: pack_rows undone (float32 lo + uint8 codes). */
static PyObject *core_unpack_rows(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *lo_obj = NULL, *codes_obj = NULL;
    if (!PyArg_ParseTuple(args, "OO:unpack_rows", &lo_obj, &codes_obj)) {
        return NULL;
    }
    PyArrayObject *lo =
        (PyArrayObject *)PyArray_FROMANY(lo_obj, NPY_FLOAT32, 1, 1, NPY_ARRAY_IN_ARRAY);
    PyArrayObject *codes = lo == NULL ? NULL
                                      : (PyArrayObject *)PyArray_FROMANY(codes_obj, NPY_UINT8, 2, 2,
                                                                         NPY_ARRAY_IN_ARRAY);
    if (codes == NULL) {
        Py_XDECREF(lo);
        return NULL;
    }
    if (PyArray_DIM(codes, 1) != PyArray_DIM(lo, 0)) {
        Py_DECREF(lo);
        Py_DECREF(codes);
        PyErr_SetString(PyExc_ValueError, "unpack_rows: lo and codes differ in width");
        return NULL;
    }
    PyArrayObject *rows = (PyArrayObject *)PyArray_SimpleNew(2, PyArray_DIMS(codes), NPY_FLOAT32);
    if (rows == NULL) {
        Py_DECREF(lo);
        Py_DECREF(codes);
        return NULL;
    }
    size_t n = (size_t)PyArray_DIM(codes, 0), dim = (size_t)PyArray_DIM(codes, 1);
    const float *l = (const float *)PyArray_DATA(lo);
    const uint8_t *c = (const uint8_t *)PyArray_DATA(codes);
    float *x = (float *)PyArray_DATA(rows);
    Py_BEGIN_ALLOW_THREADS;
    for (size_t i = 0; i < n; i++) {
        for (size_t d = 0; d < dim; d++) {
            x[i * dim + d] = l[d] + (float)c[i * dim + d];
        }
    }
    Py_END_ALLOW_THREADS;
    Py_DECREF(lo);
    Py_DECREF(codes);
    return (PyObject *)rows;
}

PyMethodDef umapc_index_methods[] = {
    {"pack_rows", core_pack_rows, METH_O,
     "pack_rows(rows) -> (lo, codes) with rows == lo + codes exactly, or None."},
    {"unpack_rows", core_unpack_rows, METH_VARARGS, "unpack_rows(lo, codes) -> float32 rows."},
    {"write_file", core_write_file, METH_VARARGS,
     "write_file(path, bytes): write through an exclusive temporary file renamed into place."},
    {"read_file", core_read_file, METH_O, "read_file(path) -> bytes of a regular file."},
    {"check_metric_data", core_check_metric_data, METH_VARARGS,
     "check_metric_data(X, metric, p=2.0, params=None): ValueError when rows lie outside the "
     "metric's domain or params (V, w, VI) do not fit."},
    {"as_float_matrix", core_as_float_matrix, METH_VARARGS,
     "as_float_matrix(obj, name='data'): validated C-contiguous float32 matrix."},
    {NULL, NULL, 0, NULL},
};

int umapc_index_register(PyObject *module) {
    if (PyType_Ready(&IndexType) < 0) {
        return -1;
    }
    Py_INCREF(&IndexType);
    if (PyModule_AddObject(module, "Index", (PyObject *)&IndexType) < 0) {
        Py_DECREF(&IndexType);
        return -1;
    }
    return 0;
}

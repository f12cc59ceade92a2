/* Shared by the translation units of the umapc._core extension: argument conversion, error
 * translation and the progress/interrupt bridge. The extension only converts; all compute is in
 * the C library. */
#ifndef UMAPC_PY_CORE_H
#define UMAPC_PY_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define PY_ARRAY_UNIQUE_SYMBOL umapc_ARRAY_API
#ifndef UMAPC_CORE_MODULE_C
#define NO_IMPORT_ARRAY
#endif
#include <numpy/arrayobject.h>

#include "umapc.h"

/* Method tables each unit contributes; module.c joins them. Each ends with a NULL sentinel. */
extern PyMethodDef umapc_metric_methods[];
extern PyMethodDef umapc_index_methods[];
extern PyMethodDef umapc_umap_methods[];
extern PyMethodDef umapc_exact_methods[];
extern PyMethodDef umapc_nndescent_methods[];
extern PyMethodDef umapc_sparse_methods[];
extern PyMethodDef umapc_aligned_methods[];

/* Registers types a unit defines (may be a no-op); returns -1 with an exception set on failure. */
int umapc_index_register(PyObject *module);

/* umapc.CorruptIndexError (ValueError and OSError): bad content in an index file or state. */
extern PyObject *umapc_CorruptIndexError;
/* Raises the Python exception matching status with err's message (ValueError for bad arguments,
 * OSError for I/O, CorruptIndexError for corrupt files, MemoryError, KeyboardInterrupt when
 * interrupted with no exception already set, RuntimeError otherwise) and returns NULL. */
PyObject *umapc_raise(umapc_status status, const umapc_error *err);

/* A C-contiguous float32 2-D array from any array-like, copying only when needed. name is used in
 * error messages. Returns a new reference or NULL with TypeError/ValueError set. With
 * check_finite, NaN/inf raise ValueError (the scan runs without the GIL). */
PyArrayObject *umapc_as_float_matrix(PyObject *obj, const char *name, int check_finite);

/* A C-contiguous uint8 mask of length n from a boolean array-like, or NULL with an exception. */
PyArrayObject *umapc_as_mask(PyObject *obj, npy_intp n, const char *name);

/* Bridge from the C progress callback to Python: checks for Ctrl-C (taking the GIL) and calls
 * an optional Python callable(stage, done, total). Fill with umapc_bridge_init; the C call then
 * gets &bridge.progress. After the call, umapc_bridge_failed() tells whether a Python exception is
 * pending (KeyboardInterrupt or one raised by the callable). */
typedef struct umapc_bridge {
    umapc_progress progress;
    PyObject *callback; /* borrowed; may be NULL */
    int failed;
    double last_check;
} umapc_bridge;

void umapc_bridge_init(umapc_bridge *bridge, PyObject *callback);
int umapc_bridge_failed(const umapc_bridge *bridge);

/* The steps every binding shares around a C call that runs with the GIL released: */
/* the result arrays of a neighbour search, rows x k int32 indices and float32 distances (-1 with
 * MemoryError set when they cannot be allocated); */
int umapc_new_neighbors(npy_intp rows, npy_intp k, PyArrayObject **indices,
                        PyArrayObject **distances);
/* the exception of a failed call, returning NULL: the Python callback's own (KeyboardInterrupt
 * or whatever it raised) when the bridge saw one, else umapc_raise's; bridge may be NULL; */
PyObject *umapc_raise_call(umapc_status status, const umapc_error *err, const umapc_bridge *bridge);
/* (indices, distances) after a search, or its exception; takes over both references. */
PyObject *umapc_neighbors_result(umapc_status status, const umapc_error *err,
                                 const umapc_bridge *bridge, PyArrayObject *indices,
                                 PyArrayObject *distances);

/* Fills metric from a name (or alias), the exponent p and the array parameter params (None or
 * NULL for none; V, w or VI as any real array); returns -1 with ValueError set for an unknown
 * name or a bad p or params. On success *held is the float32 copy metric->params points into (a
 * new reference or NULL): the caller releases it (Py_XDECREF) once the metric is no longer used. */
int umapc_metric_arg(const char *name, double p, PyObject *params, umapc_metric *metric,
                     PyArrayObject **held);

/* umapc_metric_arg for a metric given as a str name or a umapc._core.CustomMetric (whose function
 * the metric then calls; p and params must be left at 2.0 and None); NULL means "euclidean". */
int umapc_metric_arg_obj(PyObject *metric_obj, double p, PyObject *params, umapc_metric *metric,
                         PyArrayObject **held);

/* umapc._core.CustomMetric (core_custom.c). */
int umapc_custom_register(PyObject *module);
int umapc_is_custom(PyObject *obj);
/* metric calling the CustomMetric obj (an input metric); -1 with TypeError set otherwise. */
int umapc_custom_metric(PyObject *obj, umapc_metric *metric);
/* opts' output metric calling the CustomMetric obj (an output metric). */
int umapc_custom_output(PyObject *obj, umapc_layout_options *opts);
/* After a library call, with the GIL: when the CustomMetric ctx (NULL: none) failed during it,
 * sets its exception (the callable's own, or ValueError for a NaN or a wrong result), clears the
 * failure for the next call and returns 1; else 0. */
int umapc_custom_check(void *ctx);
/* The CustomMetric a metric calls, or NULL. */
#define umapc_custom_ctx(metric) ((metric)->kind == UMAPC_METRIC_CUSTOM ? (metric)->ctx : NULL)

/* The arrays behind a umapc_csr converted by umapc_as_csr; release with umapc_csr_release (safe
 * on a zeroed or already released hold). */
typedef struct umapc_csr_hold {
    PyArrayObject *indptr, *indices, *data;
} umapc_csr_hold;

/* Sparse rows from the tuple (indptr, indices, data, n_cols) (int64, int32 and float32 after
 * conversion, copying only when needed); the structure is checked by the C library later
 * (umapc_sparse_check_data). Returns -1 with TypeError/ValueError set. */
int umapc_as_csr(PyObject *obj, const char *name, umapc_csr *out, umapc_csr_hold *hold);
void umapc_csr_release(umapc_csr_hold *hold);

/* The graph arrays held for a call, plus the int64 offsets the C API takes. */
typedef struct umapc_graph_args {
    PyArrayObject *indptr, *indices, *data;
    int64_t *offsets;
    umapc_graph graph;
} umapc_graph_args;

/* A C-contiguous int32 array of rank ndim from any integer array-like, its values checked to fit
 * (int64 inputs from scikit-learn are common); NULL with TypeError/ValueError set. */
PyArrayObject *umapc_as_int32(PyObject *obj, int ndim, const char *name);
/* A C-contiguous float32 vector, or NULL with TypeError set. */
PyArrayObject *umapc_as_float_vector(PyObject *obj, const char *name);
/* An embedding the C code updates in place: already float32, 2-D, C-contiguous, writeable and
 * non-empty (a new reference), else NULL with TypeError/ValueError set. */
PyArrayObject *umapc_as_inplace_embedding(PyObject *obj, const char *name);
/* Converts (indptr, indices, data) of an n_rows x n_cols CSR matrix; structural checks are left
 * to the C library (umapc_graph_validate). -1 with an exception set; free with
 * umapc_graph_args_free (safe on a zeroed one). */
int umapc_graph_args_parse(umapc_graph_args *g, PyObject *indptr, PyObject *indices, PyObject *data,
                           size_t n_cols);
void umapc_graph_args_free(umapc_graph_args *g);

/* Larger n_jobs values are refused as absurd; smaller ones above the CPU count are capped. */
#define UMAPC_MAX_JOBS 4096
/* Converts an optional Python int n_jobs (None = default_value) to a C thread count. */
int umapc_parse_jobs(PyObject *obj, int default_value, int *out);

#endif

/* Binding of the aligned layout (AlignedUMAP): converts the slices' arrays, releases the GIL and
 * calls umapc_optimize_aligned; nothing else. */
#include "core.h"

#include <string.h>

/* Everything held for one call, one entry per slice. */
typedef struct aligned_args {
    Py_ssize_t n;
    PyArrayObject **emb, **rel;
    umapc_graph_args *graphs;
    umapc_aligned_slice *slices;
    const umapc_idx **rels;
} aligned_args;

static void aligned_args_free(aligned_args *a) {
    for (Py_ssize_t m = 0; m < a->n; m++) {
        if (a->emb != NULL) {
            Py_XDECREF(a->emb[m]);
        }
        if (a->rel != NULL) {
            Py_XDECREF(a->rel[m]);
        }
        if (a->graphs != NULL) {
            umapc_graph_args_free(&a->graphs[m]);
        }
    }
    PyMem_Free(a->emb);
    PyMem_Free(a->rel);
    PyMem_Free(a->graphs);
    PyMem_Free(a->slices);
    PyMem_Free(a->rels);
    memset(a, 0, sizeof *a);
}

/* Slice m: its embedding (updated in place), its graph (indptr, indices, data), fixed or not. */
static int slice_parse(aligned_args *a, Py_ssize_t m, PyObject *emb, PyObject *graph,
                       PyObject *fixed) {
    a->emb[m] = umapc_as_inplace_embedding(emb, "embeddings[i]");
    if (a->emb[m] == NULL) {
        return -1;
    }
    size_t n = (size_t)PyArray_DIM(a->emb[m], 0);
    if (!PyTuple_Check(graph) || PyTuple_GET_SIZE(graph) != 3) {
        PyErr_SetString(PyExc_TypeError, "graphs[i] must be a tuple (indptr, indices, data)");
        return -1;
    }
    if (umapc_graph_args_parse(&a->graphs[m], PyTuple_GET_ITEM(graph, 0),
                               PyTuple_GET_ITEM(graph, 1), PyTuple_GET_ITEM(graph, 2), n) < 0) {
        return -1;
    }
    int is_fixed = fixed == NULL ? 0 : PyObject_IsTrue(fixed);
    if (is_fixed < 0) {
        return -1;
    }
    a->slices[m] = (umapc_aligned_slice){.embedding = (float *)PyArray_DATA(a->emb[m]),
                                         .n = n,
                                         .graph = &a->graphs[m].graph,
                                         .fixed = is_fixed};
    return 0;
}

static int aligned_args_parse(aligned_args *a, PyObject *embs, PyObject *graphs, PyObject *rels,
                              PyObject *fixed) {
    memset(a, 0, sizeof *a);
    if (!PyList_Check(embs) || !PyList_Check(graphs) || !PyList_Check(rels) ||
        (fixed != Py_None && !PyList_Check(fixed))) {
        PyErr_SetString(PyExc_TypeError, "embeddings, graphs, relations and fixed must be lists");
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(embs);
    if (n < 1 || PyList_GET_SIZE(graphs) != n || PyList_GET_SIZE(rels) != n - 1 ||
        (fixed != Py_None && PyList_GET_SIZE(fixed) != n)) {
        PyErr_SetString(PyExc_ValueError,
                        "need one graph (and fixed flag) per embedding and one relation array "
                        "fewer, at least one embedding");
        return -1;
    }
    a->emb = PyMem_Calloc((size_t)n, sizeof *a->emb);
    a->rel = PyMem_Calloc((size_t)n, sizeof *a->rel);
    a->graphs = PyMem_Calloc((size_t)n, sizeof *a->graphs);
    a->slices = PyMem_Calloc((size_t)n, sizeof *a->slices);
    a->rels = PyMem_Calloc((size_t)n, sizeof *a->rels);
    if (a->emb == NULL || a->rel == NULL || a->graphs == NULL || a->slices == NULL ||
        a->rels == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    a->n = n;
    for (Py_ssize_t m = 0; m < n; m++) {
        if (slice_parse(a, m, PyList_GET_ITEM(embs, m), PyList_GET_ITEM(graphs, m),
                        fixed == Py_None ? NULL : PyList_GET_ITEM(fixed, m)) < 0) {
            return -1;
        }
        if (m > 0 && PyArray_DIM(a->emb[m], 1) != PyArray_DIM(a->emb[0], 1)) {
            PyErr_SetString(PyExc_ValueError, "the embeddings differ in their number of columns");
            return -1;
        }
    }
    for (Py_ssize_t m = 0; m + 1 < n; m++) {
        a->rel[m] = umapc_as_int32(PyList_GET_ITEM(rels, m), 1, "relations[i]");
        if (a->rel[m] == NULL) {
            return -1;
        }
        if ((size_t)PyArray_DIM(a->rel[m], 0) != a->slices[m].n) {
            PyErr_Format(PyExc_ValueError,
                         "relations[%zd] has %zd entries but embedding %zd has %zu points", m,
                         PyArray_DIM(a->rel[m], 0), m, a->slices[m].n);
            return -1;
        }
        a->rels[m] = (const umapc_idx *)PyArray_DATA(a->rel[m]);
    }
    return 0;
}

static PyObject *py_aligned_layout(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"embeddings",
                             "graphs",
                             "relations",
                             "n_epochs",
                             "a",
                             "b",
                             "fixed",
                             "repulsion_strength",
                             "learning_rate",
                             "negative_sample_rate",
                             "regularisation",
                             "window_size",
                             "seed",
                             "n_jobs",
                             "callback",
                             NULL};
    PyObject *embs, *graphs, *rels, *fixed = Py_None, *jobs_obj = NULL, *callback = Py_None;
    int n_epochs, window = 3, n_jobs = -1;
    double a, b, gamma = 1.0, lr = 1.0, neg_rate = 5.0, lambda = 1e-2;
    long long seed = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOidd|OddddiLOO", kwlist, &embs, &graphs,
                                     &rels, &n_epochs, &a, &b, &fixed, &gamma, &lr, &neg_rate,
                                     &lambda, &window, &seed, &jobs_obj, &callback) ||
        umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0) {
        return NULL;
    }
    if (n_epochs < 1 || seed < -1) {
        return PyErr_Format(PyExc_ValueError, "n_epochs must be positive and seed >= -1");
    }
    aligned_args in;
    if (aligned_args_parse(&in, embs, graphs, rels, fixed) < 0) {
        aligned_args_free(&in);
        return NULL;
    }
    umapc_aligned_options opts;
    umapc_aligned_options_init(&opts);
    opts.layout.n_epochs = n_epochs;
    opts.layout.a = a;
    opts.layout.b = b;
    opts.layout.repulsion_strength = gamma;
    opts.layout.learning_rate = lr;
    opts.layout.negative_sample_rate = neg_rate;
    opts.layout.seed = seed;
    opts.layout.n_threads = n_jobs;
    opts.regularisation = lambda;
    opts.window_size = window;
    size_t dim = (size_t)PyArray_DIM(in.emb[0], 1);
    umapc_bridge bridge;
    umapc_bridge_init(&bridge, callback);
    umapc_error err = {0};
    umapc_status st;
    Py_BEGIN_ALLOW_THREADS;
    st = umapc_optimize_aligned(in.slices, (size_t)in.n, dim, in.rels, &opts, &bridge.progress,
                                &err);
    Py_END_ALLOW_THREADS;
    aligned_args_free(&in);
    if (st) {
        return umapc_raise_call(st, &err, &bridge);
    }
    Py_RETURN_NONE;
}

PyMethodDef umapc_aligned_methods[] = {
    {"aligned_layout", (PyCFunction)(void (*)(void))py_aligned_layout, METH_VARARGS | METH_KEYWORDS,
     "aligned_layout(embeddings, graphs, relations, n_epochs, a, b, fixed=None, "
     "repulsion_strength=1.0, learning_rate=1.0, negative_sample_rate=5.0, regularisation=0.01, "
     "window_size=3, seed=-1, n_jobs=-1, callback=None) -> None: AlignedUMAP's joint layout "
     "(umapc_optimize_aligned), the float32 embeddings updated in place; graphs[i] is (indptr, "
     "indices, data), relations[i] int32 with embeddings[i]'s length (-1: no related point)."},
    {NULL, NULL, 0, NULL},
};

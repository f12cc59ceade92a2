#include "core.h"

/* Bindings for stage 'umap' (being written). */
PyMethodDef umapc_umap_methods[] = {
    {NULL, NULL, 0, NULL},
};

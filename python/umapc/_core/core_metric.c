#include "core.h"

/* Bindings for stage 'metric' (being written). */
PyMethodDef umapc_metric_methods[] = {
    {NULL, NULL, 0, NULL},
};

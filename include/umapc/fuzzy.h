/* umapc: UMAP stage 'fuzzy' (API being written). */
#ifndef UMAPC_FUZZY_H
#define UMAPC_FUZZY_H

#include "common.h"

#endif

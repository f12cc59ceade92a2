/* umapc: UMAP stage 'layout' (API being written). */
#ifndef UMAPC_LAYOUT_H
#define UMAPC_LAYOUT_H

#include "common.h"

#endif

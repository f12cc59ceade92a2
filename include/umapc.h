/* umapc: UMAP and nearest-neighbour search in C. One header for the whole public API; each stage
 * has its own header under umapc/. */
#ifndef UMAPC_H
#define UMAPC_H

#include "umapc/common.h"
#include "umapc/metric.h"
#include "umapc/sparse.h"
#include "umapc/exact.h"
#include "umapc/hnsw.h"
#include "umapc/knn_graph.h"
#include "umapc/nndescent.h"
#include "umapc/index.h"
#include "umapc/fuzzy.h"
#include "umapc/spectral.h"
#include "umapc/layout.h"
#include "umapc/aligned_layout.h"
#include "umapc/unique.h"
#include "umapc/inverse.h"
#include "umapc/densmap.h"

#endif

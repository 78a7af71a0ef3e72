"""The visualization methods, as functions on arrays (no file I/O; the CLI reads and writes).

Modules:
- embedding: PCA and t-SNE (exact, and kNN + FFT-interpolated for thousands of points).
- grids: image, filter and activation grids, heat-map overlays and colormaps, the image-grid
  embedding of a 2-D map, labelled scatter plots.
- clustering: k-means with k-means++ seeding (multifaceted visualization, GrabCut's GMM start).
- segmentation: GrabCut segmentation (colour GMMs + graph min-cut), seeded from a saliency map.
- texture_efros_leung: non-parametric texture synthesis (Efros & Leung 1999).
- attribution, occlusion: saliency, guided backprop, Grad-CAM, SmoothGrad, integrated gradients,
  occlusion maps.
- neighbors, patches, display: L2 nearest neighbours and leave-one-out 1-NN accuracy, maximally
  activating patches with their guided backprop, gradients and maps as pictures.
- objectives, transforms, optimize: the gradient-ascent loop shared by the synthesis methods.

No module is named like a function exported here (`kmeans`, `grabcut`): with such a name,
`import tinyconv.methods.kmeans as m` would bind the function instead of the module.
"""
from .clustering import kmeans
from .embedding import kl_divergence, pca, tsne
from .grids import (activation_grid, apply_colormap, filter_grid, image_grid_embedding,
                    label_colours, overlay, scatter_plot, tile_images)
from .segmentation import cutout, fit_gmm, gmm_log_likelihood, grabcut, saliency_grabcut
from .texture_efros_leung import synthesize as efros_leung_synthesize

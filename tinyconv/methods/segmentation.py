"""GrabCut (Rother, Kolmogorov & Blake 2004) in numpy and scipy, seeded by a saliency map.

Simonyan et al. 2014 segment objects without supervision by seeding GrabCut with the most salient
pixels (foreground) and the least salient (background). Each round fits a Gaussian mixture to the
colours of the current foreground and background (EM started from k-means), and labels all pixels
by a minimum s-t cut of the Boykov-Jolly graph: t-links carry the GMM negative log-likelihoods,
n-links between 8-connected neighbours carry gamma * exp(-beta |z_p - z_q|^2) / distance. Seed
pixels are hard constraints. The cut is scipy's maximum_flow on integer capacities; the source
side is what a BFS reaches in the residual graph.
"""
import numpy as np
from scipy import sparse
from scipy.ndimage import gaussian_filter
from scipy.sparse import csgraph

from ..image import to_uint8
from .clustering import kmeans

_CAPACITY_SCALE = 1000.0       # capacity units per nat, before any reduction to fit int32
_INT32_BUDGET = 2 ** 30        # bound on the total flow, well inside int32
_GMM_MAX_SAMPLES = 10000       # a mixture of a few colour modes needs no more pixels than this


def grabcut(image, fg_seeds, bg_seeds, n_iter=5, n_components=5, gamma=50.0, connectivity=8,
            seed=0):
    """Foreground mask (H, W) bool of an image (H, W, 3) (uint8, or float: any consistent scale).

    fg_seeds, bg_seeds: (H, W) bool masks of pixels known to be foreground / background (both
    non-empty, disjoint); they keep their labels. n_iter rounds (fewer when the mask stops
    changing) of GMM fitting (n_components Gaussians per side) and min-cut; gamma weighs
    smoothness against colour fit; connectivity 4 or 8. Each round costs one min-cut over all
    pixels, so the time grows with n_iter and the image's size.
    """
    image = np.asarray(image)
    fg_seeds, bg_seeds = np.asarray(fg_seeds, bool), np.asarray(bg_seeds, bool)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"grabcut expects an RGB image (H, W, 3), got {image.shape}")
    if fg_seeds.shape != image.shape[:2] or bg_seeds.shape != image.shape[:2]:
        raise ValueError(f"seed masks must be {image.shape[:2]}, got {fg_seeds.shape} and "
                         f"{bg_seeds.shape}")
    if not fg_seeds.any() or not bg_seeds.any():
        raise ValueError(f"grabcut needs foreground and background seeds, got {fg_seeds.sum()} and "
                         f"{bg_seeds.sum()} pixels")
    if (fg_seeds & bg_seeds).any():
        raise ValueError(f"{(fg_seeds & bg_seeds).sum()} pixels are both foreground and "
                         "background seeds")
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    if n_iter < 1 or n_components < 1:
        raise ValueError(f"grabcut needs n_iter >= 1 and n_components >= 1, got {n_iter} and "
                         f"{n_components}")
    H, W = fg_seeds.shape
    colours = image.reshape(-1, 3).astype(np.float64)
    edges, smoothness = _neighbour_edges(image.astype(np.float64), gamma, connectivity)
    # a hard constraint outweighs every n-link of its pixel
    link_sums = (np.bincount(edges[0], weights=smoothness, minlength=H * W)
                 + np.bincount(edges[1], weights=smoothness, minlength=H * W))
    hard = 1.0 + link_sums.max()
    fg, bg = fg_seeds.ravel(), bg_seeds.ravel()
    mask = fg.copy()
    rng = np.random.default_rng(seed)  # one stream for every GMM fit
    for round_ in range(n_iter):
        fg_train = fg if round_ == 0 else mask   # first round: the seeds alone
        bg_train = bg if round_ == 0 else ~mask
        fg_cost = -gmm_log_likelihood(colours, fit_gmm(colours[fg_train], n_components, seed=rng))
        bg_cost = -gmm_log_likelihood(colours, fit_gmm(colours[bg_train], n_components, seed=rng))
        data = np.clip(bg_cost - fg_cost, -hard, hard)  # > 0: the colour prefers foreground
        data[fg], data[bg] = hard, -hard
        new_mask = _min_cut(data, edges, smoothness)
        if round_ > 0 and np.array_equal(new_mask, mask):
            break
        mask = new_mask
    return mask.reshape(H, W)


def saliency_grabcut(image, saliency, fg_fraction=0.05, bg_fraction=0.30, blur_sigma=0.0, **kwargs):
    """GrabCut seeded by a saliency map (H, W): the top `fg_fraction` of pixels by saliency seed the
    foreground, the bottom `bg_fraction` the background (Simonyan et al.: 5% and 30%).
    blur_sigma > 0 smooths the map first (Gaussian, in pixels). Other arguments go to `grabcut`.
    Returns the mask (H, W) bool.
    """
    saliency = np.asarray(saliency, dtype=np.float64)
    if saliency.shape != np.shape(image)[:2]:
        raise ValueError(f"saliency {saliency.shape} must match the image {np.shape(image)[:2]}")
    if not (0 < fg_fraction < 1 and 0 < bg_fraction < 1 and fg_fraction + bg_fraction < 1):
        raise ValueError(f"need 0 < fg_fraction, bg_fraction and fg_fraction + bg_fraction < 1, "
                         f"got {fg_fraction} and {bg_fraction}")
    if blur_sigma > 0:
        saliency = gaussian_filter(saliency, blur_sigma)
    high = np.quantile(saliency, 1.0 - fg_fraction)
    low = np.quantile(saliency, bg_fraction)
    fg_seeds = saliency >= high
    bg_seeds = (saliency <= low) & ~fg_seeds
    if not bg_seeds.any():
        raise ValueError("the saliency map is (nearly) constant: its most and least salient "
                         "pixels cannot be told apart")
    return grabcut(image, fg_seeds, bg_seeds, **kwargs)


def cutout(image, mask, background=255):
    """The image (H, W, 3) with pixels outside the mask (H, W) set to `background` -> uint8."""
    image = to_uint8(image)
    out = np.full_like(image, background)
    out[mask] = image[mask]
    return out


def fit_gmm(X, n_components, n_iter=5, seed=0):
    """Full-covariance Gaussian mixture of the rows of X (N, D) by EM from a k-means start.

    Returns (weights (K,), means (K, D), covariances (K, D, D)); K = min(n_components, N). Every
    covariance gets a ridge of 1e-3 of the data's mean variance (+1e-6) so that flat regions stay
    invertible. seed: an int or a numpy Generator; at most 10,000 random rows are used.
    """
    X = np.asarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed)
    if len(X) > _GMM_MAX_SAMPLES:
        X = X[rng.choice(len(X), _GMM_MAX_SAMPLES, replace=False)]
    K = min(n_components, len(X))
    _, labels = kmeans(X, K, n_init=1, n_iter=20, seed=rng.integers(2 ** 31))
    resp = np.eye(K)[labels]  # (N, K) hard responsibilities from k-means
    ridge = 1e-3 * X.var(0).mean() + 1e-6
    for step in range(n_iter + 1):
        counts = resp.sum(0) + 1e-10
        weights = counts / counts.sum()
        means = resp.T @ X / counts[:, None]
        covariances = np.stack([(resp[:, k, None] * (X - means[k])).T @ (X - means[k])
                                for k in range(K)]) / counts[:, None, None]
        covariances += ridge * np.eye(X.shape[1])
        if step == n_iter:
            break
        log_p = _component_log_densities(X, (weights, means, covariances))
        log_p -= log_p.max(1, keepdims=True)
        resp = np.exp(log_p)
        resp /= resp.sum(1, keepdims=True)
    return weights, means, covariances


def gmm_log_likelihood(X, gmm):
    """log p(x) of every row of X (N, D) under a mixture from `fit_gmm` -> (N,)."""
    log_p = _component_log_densities(np.asarray(X, dtype=np.float64), gmm)
    top = log_p.max(1)
    return top + np.log(np.exp(log_p - top[:, None]).sum(1))


def _component_log_densities(X, gmm):
    """log(weight_k N(x | mean_k, cov_k)) for X (N, D) -> (N, K)."""
    weights, means, covariances = gmm
    D = X.shape[1]
    out = np.empty((len(X), len(weights)))
    for k, (mean, cov) in enumerate(zip(means, covariances)):
        centred = X - mean
        mahalanobis = ((centred @ np.linalg.inv(cov)) * centred).sum(1)
        log_det = np.linalg.slogdet(cov)[1]
        out[:, k] = np.log(weights[k]) - 0.5 * (mahalanobis + log_det + D * np.log(2 * np.pi))
    return out


def _neighbour_edges(image, gamma, connectivity):
    """Undirected pixel-neighbour edges (2, E) and their Boykov-Jolly weights (E,)."""
    H, W = image.shape[:2]
    index = np.arange(H * W).reshape(H, W)
    offsets = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if connectivity == 8 else [])
    pairs, diffs, lengths = [], [], []
    for dy, dx in offsets:
        ys = slice(0, H - dy)
        xs_a = slice(max(0, -dx), W - max(0, dx))
        xs_b = slice(max(0, dx), W - max(0, -dx))
        a, b = index[ys, xs_a], index[dy:, xs_b]
        pairs.append(np.stack([a.ravel(), b.ravel()]))
        diffs.append(((image[ys, xs_a] - image[dy:, xs_b]) ** 2).sum(-1).ravel())
        lengths.append(np.full(a.size, np.hypot(dy, dx)))
    edges, diff2, length = np.concatenate(pairs, 1), np.concatenate(diffs), np.concatenate(lengths)
    beta = 1.0 / (2.0 * max(diff2.mean(), 1e-12))  # contrast normalization of the image
    return edges, gamma * np.exp(-beta * diff2) / length


def _min_cut(data, edges, smoothness):
    """Source side of the minimum cut: data (P,) > 0 pulls pixel p to the foreground (source),
    < 0 to the background (sink); n-links `smoothness` on `edges` (2, E). Returns (P,) bool."""
    P = len(data)
    source, sink = P, P + 1
    total = np.abs(data).sum() + 2.0 * smoothness.sum()
    scale = min(_CAPACITY_SCALE, _INT32_BUDGET / max(total, 1e-12))
    t_fg = np.flatnonzero(data > 0)  # source -> p
    t_bg = np.flatnonzero(data < 0)  # p -> sink
    rows = np.concatenate([edges[0], edges[1], np.full(len(t_fg), source), t_bg])
    cols = np.concatenate([edges[1], edges[0], t_fg, np.full(len(t_bg), sink)])
    capacity = np.concatenate([smoothness, smoothness, data[t_fg], -data[t_bg]])
    capacity = np.maximum(np.rint(capacity * scale), 0).astype(np.int32)
    graph = sparse.csr_matrix((capacity, (rows, cols)), shape=(P + 2, P + 2))
    flow = csgraph.maximum_flow(graph, source, sink).flow
    residual = (graph - flow).tocsr()
    residual.data[residual.data < 0] = 0  # only positive remaining capacity is an edge
    residual.eliminate_zeros()
    reached = csgraph.breadth_first_order(residual, source, directed=True,
                                          return_predecessors=False)
    side = np.zeros(P + 2, dtype=bool)
    side[reached] = True
    return side[:P]

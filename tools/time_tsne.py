"""Time t-SNE on synthetic clustered data (default: 10,000 points of 64-D, 10 Gaussian clusters).

    python tools/time_tsne.py                      # fast method, 10,000 x 64
    python tools/time_tsne.py -n 1000 --method exact --out /tmp/tsne.png

Prints the seconds for the affinities and the whole run (wall clock, and CPU time, which says more
on a busy machine), the KL divergence and the 10-NN label accuracy in the 2-D embedding; --out
saves a labelled scatter plot.
"""
import argparse
import os
import time

import numpy as np
from PIL import Image
from scipy.spatial import cKDTree

import tinyconv
from tinyconv.methods import scatter_plot, tsne


def clustered_data(n, dims, n_clusters, seed):
    """n points (n, dims) around n_clusters random centres, cluster gap ~4x the cluster spread."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dims)) * 3.0
    labels = rng.integers(n_clusters, size=n)
    return centres[labels] + rng.normal(size=(n, dims)), labels


def knn_accuracy(Y, labels, k=10):
    """Fraction of points whose k nearest embedded neighbours vote for their own label."""
    _, neighbours = cKDTree(Y).query(Y, k=k + 1)
    votes = labels[neighbours[:, 1:]]  # (N, k)
    predicted = np.array([np.bincount(v, minlength=labels.max() + 1).argmax() for v in votes])
    return float((predicted == labels).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=10000, help="number of points [10000]")
    parser.add_argument("--dims", type=int, default=64, help="input dimensions [64]")
    parser.add_argument("--clusters", type=int, default=10, help="number of clusters [10]")
    parser.add_argument("--method", default="fast", choices=["auto", "exact", "fast"])
    parser.add_argument("--iters", type=int, default=1000, help="iterations [1000]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="save a scatter plot PNG here")
    args = parser.parse_args()
    tinyconv.tune_process()  # the settings `tinyconv` runs under

    X, labels = clustered_data(args.n, args.dims, args.clusters, args.seed)
    start, cpu_start = time.perf_counter(), time.process_time()
    Y = tsne(X, method=args.method, n_iter=args.iters, seed=args.seed, verbose=True)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"t-SNE {args.method}: {args.n} points x {args.dims}-D, {args.iters} iterations: "
          f"{seconds:.1f} s wall, {cpu:.1f} s CPU (load average {os.getloadavg()[0]:.1f}); "
          f"10-NN label accuracy in 2-D {knn_accuracy(Y, labels):.3f}")
    if args.out:
        names = [f"cluster {c}" for c in range(args.clusters)]
        Image.fromarray(scatter_plot(Y, labels, class_names=names)).save(args.out)
        print(f"saved {args.out}")


if __name__ == "__main__":
    main()

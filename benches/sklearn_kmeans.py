"""scikit-learn side of `cargo bench --bench tlc` (k-means on real activations): timed on request.

Written for this project so that the Rust bench can time its k-means and scikit-learn's on the
same matrix, in one run, on the same machine.

Arguments: [threads]  (default 2 OpenMP / BLAS threads).

Protocol (one line each, on stdin / stdout):
  start-up             -> "ready <scikit-learn version> <threads>"  or  "error <reason>"
  "load <path> <rows> <cols>"
                       -> "ok": reads a raw little-endian f32 matrix (row-major), already
                          standardised
  "fit <k> <n_init> <tol> <max_iter> <seed> <iters>"
                       -> "<seconds>" for <iters> KMeans(k, n_init, tol, max_iter, k-means++,
                          lloyd).fit of the loaded matrix
  "iterations <k> <n_init> <tol> <max_iter> <seed>"
                       -> "<inertia> <n_iter of each init, space-separated>" from one untimed
                          verbose fit (its per-iteration prints are parsed)
  "quit" or EOF        -> exit
"""

import contextlib
import io
import sys
import time


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    try:
        import numpy as np
        import sklearn
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_limits
    except Exception as e:  # the bench prints this and skips the scikit-learn rows
        print(f"error cannot import numpy / scikit-learn: {e}", flush=True)
        return

    threadpool_limits(threads)
    print(f"ready {sklearn.__version__} {threads}", flush=True)
    x = None

    def kmeans(words, verbose=0):
        k, n_init, tol, max_iter, seed = words
        return KMeans(
            n_clusters=int(k),
            n_init=int(n_init),
            tol=float(tol),
            max_iter=int(max_iter),
            random_state=int(seed),
            init="k-means++",
            algorithm="lloyd",
            verbose=verbose,
        )

    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] == "load":
            rows, cols = int(words[2]), int(words[3])
            x = np.fromfile(words[1], dtype="<f4").reshape(rows, cols)
            print("ok", flush=True)
        elif words[0] == "fit":
            iters = int(words[6])
            start = time.perf_counter()
            for _ in range(iters):
                kmeans(words[1:6]).fit(x)
            print(f"{time.perf_counter() - start:.9f}", flush=True)
        elif words[0] == "iterations":
            text = io.StringIO()
            with contextlib.redirect_stdout(text):
                model = kmeans(words[1:6], verbose=1).fit(x)
            # Each init prints "Initialization complete", then one "Iteration i, ..." line per
            # Lloyd iteration.
            counts = []
            for out in text.getvalue().splitlines():
                if out.startswith("Initialization complete"):
                    counts.append(0)
                elif out.startswith("Iteration") and counts:
                    counts[-1] += 1
            print(f"{model.inertia_:.6f} " + " ".join(map(str, counts)), flush=True)
        else:
            print(f"error unknown request {words[0]}", flush=True)


if __name__ == "__main__":
    main()

"""Issue 13, the VKDNW single gap: does the reference's float32 arithmetic (F and its SVD on the
GPU in float32) reorder architectures against our float64 on the host? On the first N of
run.sh's 1000 CIFAR-10 architectures at the paper's settings, each architecture's Fisher
matrix F is computed once and its spectrum taken twice: in float64 (ours) and after casting F
to float32 with a float32 SVD (the reference's precision for the last two steps; its F itself
is also accumulated in float32, which this does not reproduce). Writes
arch,aleph,entropy64,ratio64,entropy32,ratio32 rows and prints the correlations.
From the repository root: python results/sota/vkdnw_float32.py 200"""

import sys
import time

import numpy as np
from vkdnw_paper import score_vkdnw

from zcjax import metrics, scorefile
from zcjax.proxies import vkdnw

ARCHS = "results/sota/nb201_seed0_1000.txt"
OUT = "results/sota/vkdnw_float32_cifar10.csv"
TRUTH = "results/sota/vkdnw_agg_cifar10.csv"  # the same archs' accuracies

original = vkdnw.fisher_spectrum
rows = []


def both_precisions(passes):
    f, total = vkdnw.fisher(passes)
    eig64 = np.linalg.svd(f, compute_uv=False)
    eig32 = np.linalg.svd(f.astype(np.float32), compute_uv=False)
    rows.append(
        (
            total,
            vkdnw.spectrum_entropy(eig64),
            vkdnw.decile_ratio(eig64),
            vkdnw.spectrum_entropy(eig32),
            vkdnw.decile_ratio(eig32),
        )
    )
    return eig64, total


def main(n: int) -> None:
    lines = open(ARCHS, encoding="utf-8").read().splitlines()
    archs = [ln for ln in lines if ln and not ln.startswith("#")][:n]
    vkdnw.fisher_spectrum = both_precisions
    start = time.time()
    with open(OUT, "w", encoding="utf-8") as out:
        out.write("arch,aleph,entropy64,ratio64,entropy32,ratio32\n")
        for i in range(0, len(archs), 10):
            chunk = archs[i : i + 10]
            del rows[:]
            score_vkdnw(chunk)
            for arch, row in zip(chunk, rows, strict=True):
                out.write(arch + "," + ",".join(f"{v!r}" for v in row) + "\n")
            out.flush()
            print(i + len(chunk), f"{(time.time() - start) / (i + len(chunk)):.1f} s/arch")
    truth = scorefile.read(TRUTH)
    where = {a: i for i, a in enumerate(truth.arch_strings)}
    data = np.genfromtxt(OUT, delimiter=",", skip_header=1, usecols=(1, 2, 3, 4, 5))
    target = truth.target[[where[a] for a in archs]]
    for name, col in (("entropy, float64", 1), ("ratio, float64", 2),
                      ("entropy, float32", 3), ("ratio, float32", 4)):  # fmt: skip
        c = metrics.correlations(data[:, 0] + data[:, col], target)
        print(f"aleph + {name}: rho {c['spearman']:.4f} tau {c['kendall_tau']:.4f}")
    print(
        "archs whose within-size order differs (entropy 64 vs 32):",
        int(np.sum(np.argsort(np.argsort(data[:, 1])) != np.argsort(np.argsort(data[:, 3])))),
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)

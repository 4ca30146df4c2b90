"""Issue 13, the VKDNW single gap: every parameter tensor in the Fisher matrix instead of our
first 128, on the first N of run.sh's 1000 CIFAR-10 architectures at the paper's settings.
From the repository root: python results/sota/vkdnw_all_tensors.py 100"""

import csv
import sys
import time

from vkdnw_paper import score_vkdnw

from zcjax.proxies import vkdnw

SOURCE = "results/sota/vkdnw_agg_cifar10.csv"  # run.sh's scores: the same archs, first 128
OUT = "results/sota/vkdnw_all_tensors_cifar10_first100.csv"  # arch,score (appended)
lines = (line for line in open(SOURCE) if not line.startswith("#"))
rows = list(csv.reader(lines))[1:]
archs = list(dict.fromkeys(r[1] for r in rows if r[2] == "vkdnw"))[: int(sys.argv[1])]
vkdnw.NUM_TENSORS = 10**6  # all of them
start = time.time()
with open(OUT, "w") as out:
    for i in range(0, len(archs), 10):
        chunk = archs[i : i + 10]
        result = score_vkdnw(chunk)
        for arch, score in zip(chunk, result.scores["vkdnw"]):
            out.write(f"{arch},{score}\n")
        out.flush()
        print(i + len(chunk), f"{(time.time() - start) / (i + len(chunk)):.1f} s/arch")

"""Issue 13 VKDNW single gap: our first-128-tensor choice vs all tensors, same archs/settings."""
import csv, sys, time, numpy as np, scipy.stats
import zcjax
from zcjax.proxies import vkdnw
rows = [r for r in csv.reader(l for l in open("results/sota/vkdnw_agg_cifar10.csv") if not l.startswith("#"))][1:]
first = {r[1]: (float(r[3]), float(r[5])) for r in rows if r[2] == "vkdnw"}
archs = list(first)[: int(sys.argv[1])]
vkdnw.NUM_TENSORS = 10**6
out = open("runs/vkdnw_all.csv", "a")
done = {l.split(",")[0] for l in open("runs/vkdnw_all.csv")} if False else set()
t = time.time()
for i in range(0, len(archs), 10):
    chunk = archs[i : i + 10]
    res = zcjax.score("nb201", ["vkdnw"], archs=chunk, dataset="cifar10", inputs="noise", batch_size=64, weight_init="kaiming_fan_in", seed=0)
    for a, s in zip(chunk, res.scores["vkdnw"]):
        out.write(f"{a},{s}\n")
    out.flush()
    print(i + len(chunk), f"{(time.time()-t)/(i+len(chunk)):.1f} s/arch", flush=True)

"""PyTorch reference for issue 15 item 6: the whole process of scoring NB201 architectures with
synflow, snip, grad_norm, jacob_cov (SamsungLabs/zero-cost-nas) and NASWOT (Mellor et al. 2021).

For --num_archs NB201 architectures drawn at random with --seed (CIFAR-10 head, 10 classes,
PyTorch's default init), on one noise batch per architecture (torch.randn [B, 3, 32, 32],
labels uniform in 0..9): zero-cost-nas's ``find_measures`` (dataload 'random', 1 batch) for the
four classic proxies, then the NASWOT v2 score (below) on the same batch. CPU only, torch's
default thread count. Prints one line per architecture and, at the end, the wall time of the
whole process (imports included) and of the scoring loop, in s/arch. It is the PyTorch side of
``results/scale/whole_process.sh`` (zcjax's ``score.py`` with the same proxies and settings).

Not part of zcjax and not imported by it: run it in its own venv with the zero-cost-nas tree
(commit a43bfbc9) extracted next to it:

  python3 -m venv /tmp/torchref && /tmp/torchref/bin/pip install \
      /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl numpy
  /usr/bin/time -f "wall_s %e peak_rss_kb %M" /tmp/torchref/bin/python \
      results/scale/pytorch_reference.py --zc_path=/tmp/zero-cost-nas \
      --data=/work/shared/data/nb201 --num_archs=40 --seed=11 --batch_size=64

``--archs_file`` takes the architectures from a CSV with an ``arch`` column instead (e.g. the
``first.csv`` that whole_process.sh writes: a zcjax scores CSV), to score exactly zcjax's 40.

NASWOT: the published v2 code (BayesWatch/nas-without-training) adds, for every nn.ReLU, the
Hamming-similarity counts c @ c.T + (1 - c) @ (1 - c).T of the binary codes c = (ReLU input > 0)
into K [B, B] during one forward pass in train mode, and scores slogdet(K). Its extra Jacobian
forward/backward pass only marks which ReLUs lie on the backward path; every ReLU of this NB201
model does ('none' edges are x * 0), so it is left out here, as NASLib's ``nwot`` does.
"""

import time

START = time.time()

import argparse  # noqa: E402
import csv  # noqa: E402
import gzip  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

MEASURES = ["synflow", "snip", "grad_norm", "jacob_cov"]
NUM_CLASSES = 10


def naswot(net, x):
    """log|det K| of the ReLU input codes (Mellor et al. 2021, v2 score)."""
    k = np.zeros((x.shape[0], x.shape[0]))

    def hook(module, inp, out):
        nonlocal k
        c = (inp[0].reshape(inp[0].shape[0], -1) > 0).float()
        k = k + (c @ c.t()).numpy() + ((1.0 - c) @ (1.0 - c).t()).numpy()

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    net(x)
    for h in handles:
        h.remove()
    return np.linalg.slogdet(k)[1]


def read_archs(args):
    if args.archs_file:
        with open(args.archs_file) as f:  # '#' lines: a zcjax scores CSV's header
            rows = csv.DictReader(line for line in f if not line.startswith("#"))
            archs = list(dict.fromkeys(row["arch"] for row in rows))
        return archs[: args.num_archs]
    with gzip.open(os.path.join(args.data, "nb201.csv.gz"), "rt") as f:
        table = [row["arch"] for row in csv.DictReader(f)]  # row i = official index i
    picks = np.sort(np.random.default_rng(args.seed).choice(len(table), args.num_archs, False))
    return [table[i] for i in picks]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--zc_path", required=True, help="work tree of SamsungLabs/zero-cost-nas")
    p.add_argument("--data", default="/work/shared/data/nb201", help="folder of nb201.csv.gz")
    p.add_argument("--archs_file", default=None, help="CSV with an 'arch' column (optional)")
    p.add_argument("--num_archs", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch_size", type=int, default=64)
    args = p.parse_args()

    sys.path.insert(0, args.zc_path)
    from foresight.models import nasbench2
    from foresight.pruners import predictive

    archs = read_archs(args)
    torch.manual_seed(args.seed)
    device = torch.device("cpu")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{len(archs)} archs, batch {args.batch_size}",
        flush=True,
    )
    print("arch synflow snip grad_norm jacob_cov naswot seconds", flush=True)
    loop_start = time.time()
    for arch in archs:
        t0 = time.time()
        net = nasbench2.get_model_from_arch_str(arch, NUM_CLASSES).to(device)
        x = torch.randn(args.batch_size, 3, 32, 32)
        y = torch.randint(0, NUM_CLASSES, (args.batch_size,))
        scores = predictive.find_measures(
            net, [(x, y)], ("random", 1, NUM_CLASSES), device, measure_names=MEASURES
        )
        scores["naswot"] = naswot(net, x.detach().clone())
        values = " ".join(f"{scores[m]:.6g}" for m in MEASURES + ["naswot"])
        print(f"{arch} {values} {time.time() - t0:.2f}", flush=True)
    loop = time.time() - loop_start
    wall = time.time() - START
    n = len(archs)
    print(
        f"scored {n} archs: loop {loop:.1f} s ({loop / n:.3f} s/arch), "
        f"whole process {wall:.1f} s ({wall / n:.3f} s/arch)",
        flush=True,
    )


if __name__ == "__main__":
    main()

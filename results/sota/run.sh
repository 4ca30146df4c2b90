#!/usr/bin/env bash
# Issue 13 reproduction: the 2023-2025 proxies on 1000 seeded NB201 architectures (seed 0), each
# paper's own settings, for CIFAR-10, CIFAR-100 and ImageNet16-120. Every command resumes its CSV,
# so rerunning this script continues where it stopped. Run from the repository root:
#   bash results/sota/run.sh
set -euo pipefail
OUT=results/sota
N=${N:-1000}
for ds in cifar10 cifar100 imagenet16; do
  # MeCo: one CIFAR image per architecture (batch 1), PyTorch default init (official NB201 script).
  python experiments/score.py --dataset=$ds --proxies=meco --batch_size=1 --weight_init=pytorch \
    --num_archs=$N --seed=0 --output=$OUT/meco_$ds.csv --progress_every=120
  # SWAP: 16 images, no effective augmentation, PyTorch default init.
  python experiments/score.py --dataset=$ds --proxies=swap,swap_reg --batch_size=16 \
    --weight_init=pytorch --augment=false --num_archs=$N --seed=0 --output=$OUT/swap_$ds.csv \
    --progress_every=120
  # AZ-NAS: Gaussian noise, batch 64, kaiming_norm_fanin (tss_general.ipynb).
  python experiments/score.py --dataset=$ds --proxies=az_nas --inputs=noise --batch_size=64 \
    --weight_init=kaiming_fan_in --num_archs=$N --seed=0 --output=$OUT/az_nas_$ds.csv \
    --progress_every=120
done
# VKDNW_agg (V, J, E, T, F) at VKDNW's settings: the slowest (VKDNW's exact Fisher, ~4.6 s/arch on
# 2 CPU cores), so last. Every member runs on the same noise batch here; the paper's jacob_cov
# used real images.
for ds in cifar10 cifar100 imagenet16; do
  python experiments/score.py --dataset=$ds --proxies=vkdnw_agg --inputs=noise --batch_size=64 \
    --weight_init=kaiming_fan_in --num_archs=$N --seed=0 --output=$OUT/vkdnw_agg_$ds.csv \
    --progress_every=120
done

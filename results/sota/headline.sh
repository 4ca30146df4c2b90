#!/usr/bin/env bash
# Issue 13's headline: the 2023-2025 proxies on all 15,625 NB201 architectures, each at its
# paper's settings (as run.sh). The architectures are scored in a seeded random order
# (nb201_all_shuffled_seed0.txt), so a partial file is a random sample of the space, and every
# command resumes its CSV. Committed gzipped (report.py reads either); each resumes from it.
# From the repository root:
#   bash results/sota/headline.sh                        # MeCo on CIFAR-10 (the cheapest)
#   PROXIES="meco swap" DATASETS="cifar10 cifar100" bash results/sota/headline.sh
set -euo pipefail
OUT=results/sota/headline
ALL=results/sota/nb201_all_shuffled_seed0.txt
mkdir -p $OUT
for ds in ${DATASETS:-cifar10}; do
  for proxy in ${PROXIES:-meco}; do
    case $proxy in
      meco) flags="--proxies=meco --batch_size=1 --weight_init=pytorch" ;;
      swap) flags="--proxies=swap,swap_reg --batch_size=16 --weight_init=pytorch --augment=false" ;;
      az_nas) flags="--proxies=az_nas --inputs=noise --batch_size=64 --weight_init=kaiming_fan_in" ;;
      vkdnw_agg) flags="--proxies=vkdnw_agg --inputs=noise --batch_size=64 --weight_init=kaiming_fan_in" ;;
      *) echo "headline.sh: unknown proxy family '$proxy' (meco, swap, az_nas, vkdnw_agg)" >&2; exit 2 ;;
    esac
    csv=$OUT/${proxy}_$ds.csv
    [ -f $csv ] || [ ! -f $csv.gz ] || gunzip -k $csv.gz
    python experiments/score.py --archs_file=$ALL --dataset=$ds $flags --seed=0 \
      --output=$csv --progress_every=600
    gzip -kf $csv
  done
done

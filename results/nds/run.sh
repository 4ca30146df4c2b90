#!/usr/bin/env bash
# Issue 13 item 5: every new proxy and ensemble on the NDS ImageNet spaces, all records, next to
# EZNAS-A, params and FLOPs. One common setting for every proxy (NDS papers state none for these
# proxies): CIFAR-10 images resized bilinearly to 32x32 (no ImageNet images here), ImageNet
# normalisation, batch 16, the default (EZNAS) init, one init, seed 0. Every command resumes its
# CSV, so rerunning continues where it stopped. From the repository root:
#   bash results/nds/run.sh            # SPACES="darts_in enas_in" bash results/nds/run.sh for some
set -euo pipefail
OUT=results/nds
SPACES=${SPACES:-"darts_in amoeba_in enas_in nasnet_in pnas_in resnext-a_in resnext-b_in"}
PROXIES=eznas_a,params,flops,meco,swap,swap_reg,az_nas,vkdnw_agg,vkdnw_entropy
for s in $SPACES; do
  python experiments/score.py --space=nds_$s --proxies=$PROXIES --num_archs=1000000 --seed=0 \
    --resolution=32 --batch_size=16 --output=$OUT/$s.csv --progress_every=300
done

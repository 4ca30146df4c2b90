#!/usr/bin/env bash
# Issue 14's ablation: each lever of the search switched off (or, for `seeded`, on) one at a
# time from the `ablate` config (zcjax.gp.config: discover at 20 children a generation, 5
# generations, NB201 CIFAR-10 and NDS-DARTS at 32 px), the same budget for every arm. Each run
# checkpoints every generation in results/gp/ablation/<arm>_seed<S>/ and resumes when rerun.
# From the repository root:
#   SEEDS="0 1" bash results/gp/ablation.sh              # every arm, logs in runs/
#   ARMS="all_levers no_promotion" SEEDS=0 bash results/gp/ablation.sh
#   python results/gp/ablation_table.py                  # -> results/gp/ablation.md
set -euo pipefail
export PYTHONUNBUFFERED=1 MALLOC_MMAP_THRESHOLD_=33554432  # as run.sh
mkdir -p runs
ARMS=${ARMS:-$(python -c "from zcjax.gp.config import ABLATION_ARMS; print(*ABLATION_ARMS)")}
for seed in ${SEEDS:-0 1}; do
  for arm in $ARMS; do
    python experiments/evolve.py --config=ablate --arm=$arm --seed=$seed \
      --workdir=results/gp/ablation/${arm}_seed$seed --compilation_cache_dir=runs/xla_cache \
      >> runs/ablation_${arm}_seed$seed.log 2>&1
  done
done

#!/usr/bin/env bash
# Issue 14: the search for a label-free proxy, run for real on a 2-core CPU. Two seeds of the
# `discover` config (zcjax.gp.config: the network language with rank ensembles of up to 3 trees,
# fitness re-scored on 100 architectures per task, de-dup by ranking, half of each generation
# immigrants, min over NB201 CIFAR-10/CIFAR-100/ImageNet16-120 and NDS-DARTS at 32 px).
# Each generation is checkpointed in its folder (checkpoint.json, history.jsonl): rerunning
# resumes, so the searches run in parts. Compiled kernels go to the persistent cache runs/xla_cache
# (not committed). One search at a time: each holds up to ~9 GB of statistics. From the
# repository root:
#   SEEDS="0 1" bash results/gp/run.sh      # seeds one after another, logs in runs/
#   CONFIG=discover_seeded SEEDS=0 bash results/gp/run.sh   # another named config
set -euo pipefail
export PYTHONUNBUFFERED=1  # generation lines reach the logs as they happen
# glibc's allocator: evolve.py sets it itself (zcjax.allocator, --tune_malloc: one arena, freed
# memory kept for reuse; 50 random programs on 20 NB201 archs peaked at 4.9 instead of 6.8-8.7
# GB, 2026-12-07). The committed searches ran before that, with MALLOC_MMAP_THRESHOLD_=33554432
# MALLOC_TRIM_THRESHOLD_=268435456 MALLOC_ARENA_MAX=2 exported here (scores do not depend on it).
mkdir -p runs
CONFIG=${CONFIG:-discover}
for seed in ${SEEDS:-0 1}; do
  python experiments/evolve.py --config=$CONFIG --seed=$seed \
    --workdir=results/gp/${CONFIG}_seed$seed --compilation_cache_dir=runs/xla_cache \
    >> runs/${CONFIG}_seed$seed.log 2>&1  # appends: a resumed run keeps the earlier lines
done

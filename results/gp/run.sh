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
# glibc's dynamic mmap threshold let freed statistics buffers fragment the heap: scoring 30
# programs on 3 x 8 NB201 archs (batch 16) grew RSS 4.6 -> 7.1 -> 9.1 GB (before evaluate.py's
# gc.collect). A fixed 64 KiB threshold kept RSS low but made every XLA buffer a fresh mmap:
# statistics took 1.6-1.8x as long. A fixed 32 MiB threshold (the dynamic one's ceiling) keeps
# the speed; the large stacked terminals are still unmapped when freed. Scoring 20 programs on
# 8 archs of each task: 232 s, RSS 3.5 -> 4.0 GB (64 KiB: 346 s, 0.7 -> 2.3 GB).
export MALLOC_MMAP_THRESHOLD_=33554432
# A fixed mmap threshold also fixes the trim threshold at 128 KiB, so every NumPy temporary
# of the program executor was faulted in afresh (~0.6 ns an element); and each evaluator
# thread (gp.evaluate: statistics ahead, two program threads) kept its own arena. Both set
# (2026-12-07, 50 random programs on 20 NB201 archs, warm): 44.5 -> 48.9 evaluations/s,
# peak 7.2 -> 5.0 GB.
export MALLOC_TRIM_THRESHOLD_=268435456 MALLOC_ARENA_MAX=2
mkdir -p runs
CONFIG=${CONFIG:-discover}
for seed in ${SEEDS:-0 1}; do
  python experiments/evolve.py --config=$CONFIG --seed=$seed \
    --workdir=results/gp/${CONFIG}_seed$seed --compilation_cache_dir=runs/xla_cache \
    >> runs/${CONFIG}_seed$seed.log 2>&1  # appends: a resumed run keeps the earlier lines
done

#!/usr/bin/env bash
# Issue 15 item 6: a user's whole score.py process, first run (empty persistent compilation
# cache) and second run (warm cache, 40 other never-seen architectures), wall time and peak
# memory. The classic proxies at batch 64 on noise, as the PyTorch reference measurement.
set -euo pipefail
OUT=${OUT:-/tmp/zcjax_whole}
rm -rf "$OUT" && mkdir -p "$OUT"
export ZCJAX_CACHE=$OUT/cache
for run in first second; do
  seed=$([ $run = first ] && echo 11 || echo 12)
  /usr/bin/time -f "$run wall_s %e peak_rss_kb %M" python experiments/score.py \
    --proxies=synflow,snip,grad_norm,jacob_cov,naswot --num_archs=40 --seed=$seed \
    --batch_size=64 --inputs=noise --weight_init=pytorch --progress_every=0 \
    --output=$OUT/$run.csv > $OUT/$run.log 2> $OUT/$run.err
  tail -n 1 $OUT/$run.err
done

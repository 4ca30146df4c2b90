#!/usr/bin/env bash
# Issue 14 item 7: the held-out report of a search seed, scored in resumable parts. The test
# split (architectures the search's fitness never saw) is written by recommend.py; every
# score.py command resumes its CSV, so rerunning this script continues where it stopped.
# From the repository root:
#   bash results/heldout/run.sh                 # SEED=1 bash results/heldout/run.sh
#   DATASETS="cifar10" PARTS="baselines az_nas" bash results/heldout/run.sh
set -euo pipefail
SEED=${SEED:-0}
OUT=results/heldout/seed$SEED
DATASETS=${DATASETS:-"cifar10 cifar100 imagenet16"}
PARTS=${PARTS:-"baselines az_nas evolved"}
SPLIT=$OUT/nb201_seed${SEED}_test.txt
if [ ! -f "$SPLIT" ]; then
  python experiments/recommend.py --workdirs=results/gp/discover_seed$SEED --top=0 \
    --test_archs_dir=$OUT > /dev/null
fi
# The search's own settings (discover: batch 16, EZNAS's normalisation and init, one init).
SEARCH="--batch_size=16 --normalization=eznas --weight_init=eznas --num_inits=1 --seed=$SEED"
# The registered evolved programs, as text (a CSV records program texts, so a changed
# registry entry starts a new file instead of mixing two programs).
EVOLVED=$(python -c "from zcjax.program import PROGRAMS
print('\n'.join(PROGRAMS[n].text for n in ('evolved', 'evolved_2', 'evolved_3')))")
for ds in $DATASETS; do
  for part in $PARTS; do
    case $part in
      baselines)
        python experiments/score.py --archs_file=$SPLIT --dataset=$ds $SEARCH \
          --proxies=eznas_a,naswot,synflow,zico,params,flops,eznas_a+params \
          --output=$OUT/baselines_$ds.csv --progress_every=300 ;;
      az_nas)  # AZ-NAS at its paper's settings (tss_general.ipynb), as results/sota
        python experiments/score.py --archs_file=$SPLIT --dataset=$ds --proxies=az_nas \
          --inputs=noise --batch_size=64 --weight_init=kaiming_fan_in --seed=$SEED \
          --output=$OUT/az_nas_$ds.csv --progress_every=300 ;;
      evolved)
        args=()
        while IFS= read -r p; do args+=("--program=$p"); done <<< "$EVOLVED"
        python experiments/score.py --archs_file=$SPLIT --dataset=$ds $SEARCH "${args[@]}" \
          --proxies= --output=$OUT/evolved_$ds.csv --progress_every=300 ;;
    esac
  done
  csvs=$(ls $OUT/{baselines,az_nas,evolved}_$ds.csv 2>/dev/null | paste -sd, -)
  if [ "$(echo "$csvs" | tr ',' '\n' | wc -l)" -ge 2 ]; then
    python experiments/report.py --csv=$csvs --out_dir=$OUT/$ds > /dev/null
  fi
done

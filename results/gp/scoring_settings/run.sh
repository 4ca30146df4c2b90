#!/usr/bin/env bash
# Do the registered evolved programs and issue 14's bar (eznas_a+params) rank NB201 better with
# a larger batch or more inits than the search's (batch 16, one init)? Measured on 300
# architectures of seed 0's *search split* (never its test split), so a setting chosen here is
# not tuned on test architectures. Each score.py command resumes its CSV (kept gzipped);
# compare.py writes compare.md.
# From the repository root:  bash results/gp/scoring_settings/run.sh
set -euo pipefail
OUT=results/gp/scoring_settings
ARCHS=$OUT/nb201_seed0_search_300.txt
if [ ! -f $ARCHS ]; then
  python - <<'PY'
import numpy as np
test = {int(l.split()[0]) for l in open("results/heldout/seed0/nb201_seed0_test.txt") if l[0] != "#"}
search = np.array(sorted(set(range(15625)) - test))
pick = np.random.default_rng(0).choice(search, 300, replace=False)
with open("results/gp/scoring_settings/nb201_seed0_search_300.txt", "w") as f:
    f.write("# 300 NB201 architectures (official index) of search seed 0's search split, "
            "numpy default_rng(0).choice; none in results/heldout/seed0/nb201_seed0_test.txt\n")
    f.writelines(f"{i}\n" for i in pick)
PY
fi
PROGRAMS=$(python -c "from zcjax.program import PROGRAMS
print('\n'.join(PROGRAMS[n].text for n in ('evolved', 'evolved_4')))")
args=()
while IFS= read -r p; do args+=("--program=$p"); done <<< "$PROGRAMS"
for setting in ${SETTINGS:-b16_k1 b64_k1 b16_k4}; do
  case $setting in
    b16_k1) flags="--batch_size=16 --num_inits=1" ;;
    b64_k1) flags="--batch_size=64 --num_inits=1" ;;
    b16_k4) flags="--batch_size=16 --num_inits=4" ;;
    *) echo "run.sh: unknown setting '$setting' (b16_k1, b64_k1, b16_k4)" >&2; exit 2 ;;
  esac
  csv=$OUT/$setting.csv
  [ -f $csv ] || [ ! -f $csv.gz ] || gunzip -k $csv.gz
  python experiments/score.py --archs_file=$ARCHS --dataset=cifar10 $flags \
    --normalization=eznas --weight_init=eznas --seed=0 "${args[@]}" \
    --proxies=eznas_a,params,eznas_a+params --output=$csv --progress_every=100
  gzip -n -9 -f $csv
done
python results/gp/scoring_settings/compare.py

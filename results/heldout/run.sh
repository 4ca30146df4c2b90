#!/usr/bin/env bash
# Issue 14 item 7: the held-out report of a search seed, scored in resumable parts. The test
# split (architectures the search's fitness never saw) is written by recommend.py; every
# score.py command resumes its CSV, so rerunning this script continues where it stopped.
# From the repository root:
#   bash results/heldout/run.sh                 # SEED=1 bash results/heldout/run.sh
#   DATASETS="cifar10" PARTS="baselines az_nas" bash results/heldout/run.sh
#   DATASETS= PARTS=nds NDS_SPACES="darts_in enas_in" bash results/heldout/run.sh
#   DATASETS=cifar10 PARTS=headline bash results/heldout/run.sh  # all 15,625 (hours; resumes)
#   DATASETS=cifar10 PARTS=headline_nb201 bash results/heldout/run.sh  # evolved_6, all 15,625
#   DATASETS=cifar10 PARTS=headline_tuned bash results/heldout/run.sh  # evolved_10's SWAP, trainability
#   DATASETS= PARTS=nds_nb201 bash results/heldout/run.sh  # the NB201-only search on NDS
#   PARTS="members nds_members" bash results/heldout/run.sh  # measured terminals alone ($MEMBERS)
#   DATASETS=cifar10 PARTS=headline_aligned bash results/heldout/run.sh  # evolved's MeCo, progressivity
#   DATASETS=cifar10 PARTS="headline_classic nds_classic" bash results/heldout/run.sh  # NASWOT, synflow, ZiCo
set -euo pipefail
SEED=${SEED:-0}
OUT=results/heldout/seed$SEED
DATASETS=${DATASETS-"cifar10 cifar100 imagenet16"}  # DATASETS= for none
PARTS=${PARTS:-"baselines az_nas evolved nds"}
# PARTS=members / nds_members: these measured terminals, each alone (discover_aligned's).
MEMBERS=${MEMBERS:-"az_trainability@noise az_progressivity@noise az_expressivity@noise meco@data swap@data"}
NDS_SPACES=${NDS_SPACES:-"darts_in amoeba_in enas_in nasnet_in pnas_in resnext-a_in resnext-b_in"}
SPLIT=$OUT/nb201_seed${SEED}_test.txt
if [ ! -f "$SPLIT" ]; then
  python experiments/recommend.py --workdirs=results/gp/discover_seed$SEED --top=0 \
    --test_archs_dir=$OUT > /dev/null
fi
# The search's own settings (discover: batch 16, EZNAS's normalisation and init, one init).
SEARCH="--batch_size=16 --normalization=eznas --weight_init=eznas --num_inits=1 --seed=$SEED"
# The registered evolved programs that this seed's searches found, as text (for seed 0:
# evolved_2 to evolved_4 and evolved_9, which was evolved until 2026-12-07; seed 1: evolved_5;
# best validation fitness first), so that each is scored on
# architectures its search never saw. A CSV records program texts and a resumed CSV must match
# them: a changed registry entry needs a new file, never a mix of two programs (the files of
# the registry before generation 8 are in seed*/before_gen8/).
# The programs of two later searches are scored apart, one file per generation best,
# evolved_<tag>_gen<G>_$ds.csv (PARTS=evolved_<tag>), so that a new registry entry never changes
# a file: the NB201-only discover_az_nb201 (tag nb201; its fitness never saw NDS),
# discover_swap (tag swap; the general tasks with SWAP as a terminal) and discover_bars (tag
# bars; the general tasks, fitness relative to issue 14's bars), discover_lexicase (tag
# lexicase; discover_bars with lexicase parents and the members mutation), discover_weights
# (tag weights; discover_lexicase with weighted ensembles of up to 6 trees) and discover_tuned
# (tag tuned; discover_weights with the weights hill-climbed at promotion). One registry read
# prints the EVOLVED texts, then one "tag<TAB>gen<TAB>text" line per program scored apart.
LISTS=$(python -c "from zcjax.program import PROGRAMS
apart = {'discover_az_nb201': 'nb201', 'discover_swap': 'swap', 'discover_bars': 'bars', 'discover_lexicase': 'lexicase',
         'discover_weights': 'weights', 'discover_tuned': 'tuned'}
mine = [s for n, s in PROGRAMS.items() if n.startswith('evolved') and s.origin.seed == $SEED]
def fitness(s):  # a runner-up (recommend.py --per_generation) has no validation fitness
    o = s.origin
    return o.confirmation_fitness if o.validation_fitness is None else o.validation_fitness
mine.sort(key=lambda s: -fitness(s))
print('\n'.join(s.text for s in mine if s.origin.config not in apart))
print('\n'.join(f'{apart[c]}\t{s.origin.generation}\t{s.text}'
                for s in mine if (c := s.origin.config) in apart))")
EVOLVED=$(grep -v $'\t' <<< "$LISTS" || true)
apart_of() {  # tag -> "gen<TAB>text" lines of that search's programs, best first
  grep $'^'"$1"$'\t' <<< "$LISTS" | cut -f2- || true
}
EVOLVED_NB201=$(apart_of nb201)
# Its best by validation fitness (evolved_6), the one scored on all 15,625 (headline_nb201).
BEST_NB201=$(head -n 1 <<< "$EVOLVED_NB201")
# headline_evolved_$ds.csv holds the program that was `evolved` when it was begun
# (discover_seeded's generation 8, evolved_9 since 2026-12-07), so that it resumes; today's
# evolved (3 EZNAS-A + params + FLOPs) needs no network run: registered.py derives it from
# headline_$ds.csv's columns.
BEST=$(python -c "from zcjax.program import PROGRAMS; print(PROGRAMS['evolved_9'].text)")
HEADLINE_PROGRAM="ensemble3(net_mean(frobenius_norm(sigmoid(logdet(sign(conv_in@perturbed))))), log_params, net_mean(frobenius_norm(sigmoid(logdet(sign(relu_in_grad@data))))))"
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
      evolved_*)  # evolved_<tag>: a search scored apart
        tag=${part#evolved_}
        while IFS=$'\t' read -r gen p; do
          [ -z "$p" ] || python experiments/score.py --archs_file=$SPLIT --dataset=$ds $SEARCH \
            --program="$p" --proxies= --output=$OUT/evolved_${tag}_gen${gen}_$ds.csv \
            --progress_every=300
        done <<< "$(apart_of $tag)" ;;
      headline)  # every NB201 architecture. headline_$ds.csv: the proxies evolved must beat,
        # with the program that was `evolved` when these files were begun (generation 3, now
        # evolved_4), kept so that they resume; headline_evolved_$ds.csv: $BEST (above).
        # Committed gzipped (14 MB -> ~1 MB; report.py reads either); each resumes from it.
        for part_csv in headline headline_evolved; do
          csv=$OUT/${part_csv}_$ds.csv
          [ -f $csv ] || [ ! -f $csv.gz ] || gunzip -k $csv.gz
          if [ $part_csv = headline ]; then
            python experiments/score.py --num_archs=15625 --dataset=$ds $SEARCH \
              --program="$HEADLINE_PROGRAM" --proxies=eznas_a,params,flops,eznas_a+params \
              --output=$csv --progress_every=600
          else
            python experiments/score.py --num_archs=15625 --dataset=$ds $SEARCH \
              --program="$BEST" --proxies= --output=$csv --progress_every=600
          fi
          gzip -kf $csv
        done
        python experiments/report.py --csv=$OUT/headline_$ds.csv.gz,$OUT/headline_evolved_$ds.csv.gz \
          --compare --out_dir=$OUT/headline_$ds > /dev/null ;;
      headline_tuned)  # every NB201 architecture, discover_tuned's first confirmed program
        # (evolved_10): only its members that headline_$ds.csv lacks (SWAP, AZ-NAS's
        # trainability), each a column; registered.py sums the members' log-ranks.
        csv=$OUT/headline_tuned_members_$ds.csv
        [ -f $csv ] || [ ! -f $csv.gz ] || gunzip -k $csv.gz
        args=()
        members=$(cd results/heldout && python -c "from registered import COLUMN_OF
from zcjax.program import PROGRAMS, network
members = dict.fromkeys(str(m) for m in network.members(PROGRAMS['evolved_10'].program))
print(*(m for m in members if m not in COLUMN_OF), sep=chr(10))")
        while IFS= read -r m; do args+=("--program=$m"); done <<< "$members"
        python experiments/score.py --num_archs=15625 --dataset=$ds $SEARCH "${args[@]}" \
          --proxies= --output=$csv --progress_every=600
        gzip -kf $csv ;;
      headline_classic)  # every NB201 architecture: the classic proxies issue 14 item 7
        # compares with (the baselines' NASWOT, synflow, ZiCo), next to headline_$ds.csv.
        csv=$OUT/headline_classic_$ds.csv
        [ -f $csv ] || [ ! -f $csv.gz ] || gunzip -k $csv.gz
        python experiments/score.py --num_archs=15625 --dataset=$ds $SEARCH \
          --proxies=naswot,synflow,zico --output=$csv --progress_every=600
        gzip -kf $csv ;;
      members)  # the measured terminals alone, each a column of evolved_members_$ds.csv, so
        # that registered.py derives any ensemble of them (aligned members too) from its
        # members: what discover_aligned's programs read beyond the baselines' columns.
        args=()
        for m in $MEMBERS; do args+=("--program=$m"); done
        python experiments/score.py --archs_file=$SPLIT --dataset=$ds $SEARCH "${args[@]}" \
          --proxies= --output=$OUT/evolved_members_$ds.csv --progress_every=300 ;;
      headline_aligned)  # every NB201 architecture, `evolved` (discover_aligned's): its
        # members that no headline file of $ds holds yet (MeCo, progressivity; trainability
        # is in headline_tuned_members), each a column; registered.py orients and sums them.
        csv=$OUT/headline_aligned_members_$ds.csv
        [ -f $csv ] || [ ! -f $csv.gz ] || gunzip -k $csv.gz
        members=$(cd results/heldout && python -c "import glob
from registered import COLUMN_OF
from zcjax import scorefile
from zcjax.program import PROGRAMS, network
held = {n for p in glob.glob('seed$SEED/headline*_$ds.csv.gz') if 'aligned' not in p
        for n in scorefile.read(p).scores}
trees = map(network.unaligned, network.members(PROGRAMS['evolved'].program))
print(*(m for m in dict.fromkeys(map(str, trees)) if m not in COLUMN_OF and m not in held),
      sep=chr(10))")
        args=()
        while IFS= read -r m; do [ -z "$m" ] || args+=("--program=$m"); done <<< "$members"
        python experiments/score.py --num_archs=15625 --dataset=$ds $SEARCH "${args[@]}" \
          --proxies= --output=$csv --progress_every=600
        gzip -kf $csv ;;
      headline_nb201)  # every NB201 architecture, the NB201-only search's best:
        # headline_nb201_gen<G>_$ds.csv(.gz), next to headline_$ds.csv's baselines.
        gen=${BEST_NB201%%$'\t'*}
        csv=$OUT/headline_nb201_gen${gen}_$ds.csv
        [ -f $csv ] || [ ! -f $csv.gz ] || gunzip -k $csv.gz
        python experiments/score.py --num_archs=15625 --dataset=$ds $SEARCH \
          --program="${BEST_NB201#*$'\t'}" --proxies= --output=$csv --progress_every=600
        gzip -kf $csv ;;
    esac
  done
  csvs=$(ls $OUT/{baselines,az_nas,evolved}_$ds.csv $OUT/evolved_*_gen*_$ds.csv 2>/dev/null | paste -sd, - || true)
  if [ "$(echo "$csvs" | tr ',' '\n' | wc -l)" -ge 2 ]; then
    python experiments/report.py --csv=$csvs --out_dir=$OUT/$ds > /dev/null
  fi
done
# NDS ImageNet spaces, every record, at the search's settings with 32 px CIFAR-10 images (its
# nds_darts_in task's substitute for ImageNet): the evolved programs next to EZNAS-A, params,
# FLOPs and their rank ensemble (results/nds has every proxy at ImageNet normalisation). The
# search saw DARTS_in's search split; its test split is in nds_darts_in_seed$SEED_test.txt.
if [[ " $PARTS " == *" nds "* ]]; then
  args=()
  while IFS= read -r p; do args+=("--program=$p"); done <<< "$EVOLVED"
  for s in $NDS_SPACES; do
    python experiments/score.py --space=nds_$s --num_archs=1000000 $SEARCH --resolution=32 \
      --proxies=eznas_a,params,flops,eznas_a+params "${args[@]}" \
      --output=$OUT/nds_$s.csv --progress_every=300
  done
fi
# The measured terminals alone on the same NDS spaces and settings (PARTS=nds_members):
# nds_members_<space>.csv, read by registered.py as member columns.
if [[ " $PARTS " == *" nds_members "* ]]; then
  args=()
  for m in $MEMBERS; do args+=("--program=$m"); done
  for s in $NDS_SPACES; do
    python experiments/score.py --space=nds_$s --num_archs=1000000 $SEARCH --resolution=32 \
      --proxies= "${args[@]}" --output=$OUT/nds_members_$s.csv --progress_every=300
  done
fi
# NASWOT, synflow and ZiCo on the same NDS spaces and settings (PARTS=nds_classic):
# nds_classic_<space>.csv, beside nds_<space>.csv in registered.py's comparison reports.
if [[ " $PARTS " == *" nds_classic "* ]]; then
  for s in $NDS_SPACES; do
    python experiments/score.py --space=nds_$s --num_archs=1000000 $SEARCH --resolution=32 \
      --proxies=naswot,synflow,zico --output=$OUT/nds_classic_$s.csv --progress_every=300
  done
fi
# The programs scored apart on the same NDS spaces and settings, one file per generation best
# and space (nds_<tag>_gen<G>_<space>.csv, PARTS=nds_<tag>): the NB201-only search never saw
# NDS; discover_swap and discover_bars saw DARTS_in's search split, as the general searches.
for part in $PARTS; do
  [[ $part == nds_* && $part != nds_members && $part != nds_classic ]] || continue
  tag=${part#nds_}
  while IFS=$'\t' read -r gen p; do
    [ -z "$p" ] || for s in $NDS_SPACES; do
      python experiments/score.py --space=nds_$s --num_archs=1000000 $SEARCH --resolution=32 \
        --program="$p" --proxies= --output=$OUT/nds_${tag}_gen${gen}_$s.csv --progress_every=300
    done
  done <<< "$(apart_of $tag)"
done

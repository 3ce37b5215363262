#!/usr/bin/env bash
# Data-parallel scaling, 1 -> 2 ranks (prtkl launch, Gloo over loopback): LoRA training on the bundled model
# (models/prtkl-emoji, 64x64) with the same global batch, one thread per rank. Prints seconds per optimizer step
# (median of the steps after the first, from loss.csv) for each, the speed-up t1 / t2 and the efficiency
# t1 / (2 t2) (100 %: two ranks halve the step time; 50 %: no gain). Run it alone on the machine.
# Usage: bench/dist_scaling.sh [STEPS] [GLOBAL_BATCH]   (needs build/prtkl; writes into $BENCH_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-12}
BATCH=${2:-32}
BENCH_DIR=${BENCH_DIR:-/tmp/prtkl-bench-dist}
PRTKL=${PRTKL:-build/prtkl}
MODEL=models/prtkl-emoji
mkdir -p "$BENCH_DIR/data"
if [[ ! -e $BENCH_DIR/data/63.png ]]; then  # 64 pictures of the bundled model itself, with their prompts
  words=(cat dog sun moon tree house car star)
  for i in $(seq 0 63); do
    w=${words[$((i % 8))]}
    $PRTKL generate --model $MODEL --prompt "$w" --seed $i --steps 4 --threads 1 --out "$BENCH_DIR/data/$i.png" >/dev/null 2>&1
    echo "$w" > "$BENCH_DIR/data/$i.txt"
  done
fi
common=(--model $MODEL --data "$BENCH_DIR/data" --steps "$STEPS" --threads 1 --set rank=8 --set checkpoint_every=1000
        --set log_every=1)
median() {  # loss.csv -> median seconds per step after the first
  python3 -c 'import csv,statistics,sys; t=[float(r["seconds"]) for r in csv.DictReader(open(sys.argv[1]))]; print(f"{statistics.median([b-a for a,b in zip(t,t[1:])]):.3f}")' "$1"
}
rm -rf "$BENCH_DIR/one" "$BENCH_DIR/two"
$PRTKL train "${common[@]}" --out "$BENCH_DIR/one" --set batch_size=$BATCH >/dev/null 2>&1
$PRTKL launch --nproc 2 --master-port 0 -- train "${common[@]}" --out "$BENCH_DIR/two" --set batch_size=$((BATCH / 2)) \
  >/dev/null 2>&1
t1=$(median "$BENCH_DIR/one/loss.csv")
t2=$(median "$BENCH_DIR/two/loss.csv")
python3 -c "import sys; t1,t2=float(sys.argv[1]),float(sys.argv[2]); print(f'global batch $BATCH, 1 rank: {t1:.3f} s/step, 2 ranks: {t2:.3f} s/step, speed-up {t1/t2:.2f}x, efficiency {t1/t2/2:.0%}')" "$t1" "$t2"

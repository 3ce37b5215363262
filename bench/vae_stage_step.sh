#!/usr/bin/env bash
# The autoencoder stage's training step, fp32 against bf16 autocast: the recipe's train_vae_g8_2.json (batch 16,
# 64x64) from the recipe's trained VAE for 30 steps, the two alternating, RUNS times each; prints each run's seconds
# per step over steps 10..30 (loss.csv's clock), then the medians and their ratio. Needs the recipe's WORK folder.
#   bench/vae_stage_step.sh [RUNS] [THREADS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PRTKL=${PRTKL:-$ROOT/build/prtkl}
WORK=${WORK:-$HOME/.cache/prtkl/bundled}
RUNS=${1:-3}
THREADS=${2:-2}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for ((i = 1; i <= RUNS; ++i)); do
  for mp in no bf16; do
    "$PRTKL" train --config "$ROOT/models/recipe/train_vae_g8_2.json" --model "$WORK/vae_g8_2/model" \
      --data "$WORK/dataset/metadata_all.jsonl" --out "$TMP/$mp-$i" --set max_train_steps=30 \
      --set checkpoint_every=1000 --set mixed_precision=$mp --threads "$THREADS" > "$TMP/$mp-$i.log" 2>&1 ||
      { cat "$TMP/$mp-$i.log"; exit 1; }
    awk -F, -v mp=$mp '$1 == 10 { a = $6 } $1 == 30 { b = $6 } END { printf "%s %.3f\n", mp, (b - a) / 20 }' \
      "$TMP/$mp-$i/loss.csv" | tee -a "$TMP/times"
  done
done
median() { grep "^$1 " "$TMP/times" | cut -d' ' -f2 | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
fp32=$(median no) bf16=$(median bf16)
echo "median s/step: fp32 $fp32, bf16 $bf16, bf16 is $(awk -v a="$fp32" -v b="$bf16" 'BEGIN { printf "%.2f", a / b }')x faster"

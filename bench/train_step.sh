#!/usr/bin/env bash
# LoRA training cost on the full-size SD 1.5 architecture (random weights from `prtkl model init`), 512x512,
# batch 1: seconds per optimizer step (median of the steps after the first), peak RSS, and as the yardstick of the
# same invocation one UNet forward pass at the same size and dtype (`prtkl generate --cfg 1`, s/step).
# Usage: bench/train_step.sh [STEPS] [THREADS] [SWITCHES]   (needs build/prtkl; writes into $BENCH_DIR,
# default /tmp/prtkl-bench)
#   SWITCHES=none    rank 16 on the UNet, fp32, every activation kept (the 2026-11-29 figure)
#   SWITCHES=memory  pivotal tuning (rank 16 + new token rows), gradient checkpointing, bf16 frozen base weights,
#                    cached latents (the VAE freed for the steps): issue 14's configuration
#   SWITCHES=ready   the `ready` preset (pivotal with every text encoder's new rows, rank 16, gradient
#                    checkpointing, bf16 base)
# FAMILY=sdxl: the SDXL architecture at 1024x1024 (bf16 weights from `prtkl model init --dtype bf16`), the
# yardstick forward over 2 steps instead of 4.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-4}
THREADS=${2:-$(nproc)}
SWITCHES=${3:-memory}
BENCH_DIR=${BENCH_DIR:-/tmp/prtkl-bench}
PRTKL=${PRTKL:-build/prtkl}
FAMILY=${FAMILY:-sd15}
case $FAMILY in
  sd15) size=512; model=$BENCH_DIR/sd15; data=$BENCH_DIR/data; init=(); fwd_steps=4 ;;
  sdxl) size=1024; model=$BENCH_DIR/sdxl-bf16; data=$BENCH_DIR/data1024; init=(--dtype bf16); fwd_steps=2 ;;
  *) echo "FAMILY must be sd15 or sdxl" >&2; exit 2 ;;
esac
mkdir -p "$BENCH_DIR"
if [[ ! -e $model/unet/diffusion_pytorch_model.safetensors ]]; then
  $PRTKL model init --family "$FAMILY" "${init[@]}" --out "$model" >/dev/null
fi
if [[ ! -e $data/0.png ]]; then  # four pictures at the training size, same as any real data for the cost
  mkdir -p "$data"
  for i in 0 1 2 3; do
    $PRTKL generate --model ../shared/fixtures/tiny-sd15 --prompt "image $i" --seed $i --steps 2 \
      --width $size --height $size --out "$data/$i.png" >/dev/null 2>&1
    echo "a picture made of particles" > "$data/$i.txt"
  done
fi
case $SWITCHES in
  none) dtype=fp32; flags=() ;;
  memory) dtype=bf16; flags=(--set pivotal=true --set gradient_checkpointing=true --set 'base_dtype="bf16"'
                             --set cache_latents=true) ;;
  ready) dtype=bf16; flags=(--preset ready) ;;
  *) echo "SWITCHES must be none, memory or ready" >&2; exit 2 ;;
esac
# The yardstick: one UNet forward pass, batch 1, at the training size, the base weights' dtype (no CFG).
forward=$($PRTKL generate --model "$model" --prompt "a picture made of particles" --steps $fwd_steps --cfg 1 \
  --width $size --height $size --dtype $dtype --threads "$THREADS" --out "$BENCH_DIR/forward.png" 2>&1 |
  sed -n 's/.*denoise [0-9.]* s (\([0-9.]*\) s\/step).*/\1/p')
rm -rf "$BENCH_DIR/run"
/usr/bin/time -v $PRTKL train --model "$model" --data "$data" --out "$BENCH_DIR/run" \
  --steps "$STEPS" --threads "$THREADS" --set resolution=$size --set rank=16 --set checkpoint_every=1000 \
  --set log_every=1 "${flags[@]}" >/dev/null 2>"$BENCH_DIR/time.txt"
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$BENCH_DIR/time.txt")
# loss.csv: step,loss,lr,text_encoder_lr,val_loss,seconds (cumulative) -> per-step times, median after step 1.
python3 - "$BENCH_DIR/run/loss.csv" "$rss_kb" "$THREADS" "$SWITCHES" "$forward" "$FAMILY" "$size" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
t = [float(r["seconds"]) for r in rows]
per = [b - a for a, b in zip(t, t[1:])]
step, fwd = statistics.median(per), float(sys.argv[5])
print(f"{sys.argv[6]} LoRA rank 16, {sys.argv[7]}x{sys.argv[7]}, batch 1, switches {sys.argv[4]}, {sys.argv[3]} threads: "
      f"{step:.2f} s/step (median of {len(per)}), first step {t[0]:.2f} s, peak RSS {int(sys.argv[2]) / 1048576:.2f} GiB; "
      f"UNet forward {fwd:.2f} s, step = {step / fwd:.2f} x forward")
PY

#!/usr/bin/env bash
# LoRA training cost on the full-size SD 1.5 architecture (random weights from `prtkl model init`), 512x512,
# batch 1, fp32: seconds per optimizer step (median of the steps after the first) and peak RSS.
# Usage: bench/train_step.sh [STEPS] [THREADS]   (needs build/prtkl; writes into $BENCH_DIR, default /tmp/prtkl-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-4}
THREADS=${2:-$(nproc)}
BENCH_DIR=${BENCH_DIR:-/tmp/prtkl-bench}
PRTKL=${PRTKL:-build/prtkl}
mkdir -p "$BENCH_DIR"
if [[ ! -e $BENCH_DIR/sd15/unet/diffusion_pytorch_model.safetensors ]]; then
  $PRTKL model init --family sd15 --out "$BENCH_DIR/sd15" >/dev/null
fi
if [[ ! -e $BENCH_DIR/data/0.png ]]; then  # four 512x512 images, same as any real data for the cost
  mkdir -p "$BENCH_DIR/data"
  for i in 0 1 2 3; do
    $PRTKL generate --model ../shared/fixtures/tiny-sd15 --prompt "image $i" --seed $i --steps 2 \
      --width 512 --height 512 --out "$BENCH_DIR/data/$i.png" >/dev/null 2>&1
    echo "a picture made of particles" > "$BENCH_DIR/data/$i.txt"
  done
fi
rm -rf "$BENCH_DIR/run"
/usr/bin/time -v $PRTKL train --model "$BENCH_DIR/sd15" --data "$BENCH_DIR/data" --out "$BENCH_DIR/run" \
  --steps "$STEPS" --threads "$THREADS" --set resolution=512 --set rank=16 --set checkpoint_every=1000 \
  --set log_every=1 >/dev/null 2>"$BENCH_DIR/time.txt"
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$BENCH_DIR/time.txt")
# loss.csv: step,loss,lr,text_encoder_lr,val_loss,seconds (cumulative) -> per-step times, median after step 1.
python3 - "$BENCH_DIR/run/loss.csv" "$rss_kb" "$THREADS" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
t = [float(r["seconds"]) for r in rows]
per = [b - a for a, b in zip(t, t[1:])]
print(f"sd15 LoRA rank 16, 512x512, batch 1, fp32, {sys.argv[3]} threads: "
      f"{statistics.median(per):.2f} s/step (median of {len(per)}), first step {t[0]:.2f} s, "
      f"peak RSS {int(sys.argv[2]) / 1048576:.2f} GiB")
PY

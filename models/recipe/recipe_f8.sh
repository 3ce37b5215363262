#!/usr/bin/env bash
# A faster recipe for the bundled model, measured stage by stage but not yet run to the quality gate: an f=8
# autoencoder (64x64 pictures -> 8x8x8 latents, configs/emoji-f8) instead of f=4 (16x16x4), the committed model's
# UNet and text-encoder widths on those latents, a 24-token prompt window, everything from random init under bf16
# autocast on two threads. A joint UNet + text-encoder step (batch 32) takes 0.26 s here, against 0.74 s for the
# committed recipe's UNet-only steps, so the stages below are about 4 hours of this 2-core CPU instead of ~21.
#
# The judge's top-1 after each UNet stage (prtkl eval, CFG 7, 116 concepts x 8, the committed judge):
#   stage       UNet steps   UNet hours   top-1    concepts under 25 %
#   f8_unet         18,000      1.3       15.8 %   88
#   f8_unet_2       28,000      2.1       29.3 %   65
#   f8_unet_3       38,000      2.8       48.3 %   39
#   f8_unet_4       50,000      3.7       68.6 %   24
# The gate asks 80 % and no concept under 25 %. Each UNet stage after the first is a warm restart (a fresh
# optimizer and cosine from the last stage's EMA weights, at a lower peak learning rate); the curve still rose at
# the end (+1.7 points per 1,000 steps). Its next changes: more restarts, and a better autoencoder first: the judge
# names the frog, cactus, trees, clover, strawberry, grapes and broccoli wrong in most round trips of the real
# pictures through this one (green comes back wrong, the committed recipe's old fault), so those concepts cannot
# reach 25 % whatever the UNet learns.
#
#   RECIPE=recipe_f8 make bundled-model             # all of it, into WORK/f8_* (the data is recipe.sh's)
#   STOP_AFTER=data|vae|unet|eval RECIPE=recipe_f8 make bundled-model
#   DEVICE=cuda RECIPE=recipe_f8 make bundled-model
# The eval's table goes to WORK/f8_result; only a model that passes the gate replaces models/prtkl-emoji and
# docs/eval (its model card, models/prtkl-emoji/README.md, then needs this recipe's figures).
set -euo pipefail
THREADS=${THREADS:-2}  # 3.86 steps/s against 3.58 on one thread (AVX512 EPYC, 2 cores)
source "$(dirname "$0")/lib.sh"

prepare_data
if [[ ! -f "$WORK/f8_init/model_index.json" ]]; then
  # The recipe's tokenizer with a 24-token window: captions are a name and a few keywords, and the text encoder's
  # cost grows with the window (the committed recipe's 77 positions were mostly padding).
  rm -rf "$WORK/f8_tokenizer" && cp -r "$WORK/tokenizer" "$WORK/f8_tokenizer"
  sed -i 's/"model_max_length": 77/"model_max_length": 24/' "$WORK/f8_tokenizer/tokenizer_config.json"
  "$PRTKL" model init --family sd15 --configs "$ROOT/configs/emoji-f8" --tokenizer "$WORK/f8_tokenizer" \
    --out "$WORK/f8_init" --seed 0
fi
stop_if data

# The autoencoder, 2,500 steps (16 min): held-out loss 0.052; the judge names 91.8 % of the real pictures after a
# round trip through it, the ceiling for what the UNet can draw. (The run was planned as 1,500 steps and resumed as
# this 2,500-step one at step 100: the learning rates of its steps 31-100 differ from this schedule's by < 0.4 %.)
train_stage f8_vae f8/train_vae.json "$WORK/f8_init" metadata_all.jsonl
stop_if vae
# UNet and text encoder together: one cosine at lr 1e-3, then warm restarts at 6e-4, 4e-4 and 3e-4. Each restart
# raised the loss for its first 4,000-5,000 steps and then took it well below where it started.
train_stage f8_unet f8/train_unet.json "$WORK/f8_vae/model" metadata.jsonl
train_stage f8_unet_2 f8/train_unet_2.json "$WORK/f8_unet/model" metadata.jsonl
train_stage f8_unet_3 f8/train_unet_3.json "$WORK/f8_unet_2/model" metadata.jsonl
train_stage f8_unet_4 f8/train_unet_4.json "$WORK/f8_unet_3/model" metadata.jsonl
stop_if unet

# The committed judge (so the figures compare with docs/eval), the table, and the install when the gate is met.
mkdir -p "$WORK/f8_eval" && cp "$HERE/judge.safetensors" "$WORK/f8_eval/"
evaluate "$WORK/f8_unet_4/model" "$WORK/f8_eval" "$WORK/f8_result"
stop_if eval
if grep -q '"pass": true' "$WORK/f8_result/eval.json"; then
  cp -r "$WORK/f8_result/." "$ROOT/docs/eval/"
  install_model "$WORK/f8_unet_4/model"
else
  echo "recipe_f8: the gate is not met yet (see $WORK/f8_result/README.md); models/prtkl-emoji is unchanged"
fi

#!/usr/bin/env bash
# One look of the bundled model as a switchable style: the shipped UNet fine-tuned on the real pictures of that look
# alone (Twemoji for flat, Noto for glossy; the captions of the model's own data set), then what the fine-tune
# changed extracted as a small LoRA (`prtkl model extract-lora`, a truncated SVD of each layer's change). The
# adapter-only loop of style.sh could not move this model's look (docs/style/README.md): a LoRA trained directly
# moved it by at most 8 points, the full fine-tune by 26. Every step is a prtkl command and resumable.
#
#   STYLE=flat make style-ft        # or STYLE=glossy; WORK=dir keeps its files (default ~/.cache/prtkl/bundled)
#   RANK=64 SCALE=1.0                # the LoRA's rank and the scale style.json asks for
#   STOP_AFTER=train|extract STYLE=flat make style-ft
#
# Steps (under WORK/style-ft-STYLE):
#   data/         `prtkl dataset emoji --only-look STYLE`: the look's pictures, the bundled set's captions
#   ft-1/ ft-2/   `prtkl train --full`, two warm stages (train_style_ft_1.json: 600 steps, _2: 1,500 more)
#   lora-rR.safetensors   the extraction
#   eval/         `prtkl eval --style`: 116 concepts x 8 at the model's own sampling, held-out concepts apart
# Installs models/prtkl-emoji/styles/STYLE (LoRA, style.json, card) and docs/style/STYLE/eval.
set -euo pipefail
STYLE=${STYLE:?"STYLE=flat or STYLE=glossy"}
THREADS=${THREADS:-2}
source "$(dirname "$0")/lib.sh"
MODEL_DIR="$ROOT/models/prtkl-emoji"
SW="$WORK/style-ft-$STYLE"
RANK=${RANK:-64}
SCALE=${SCALE:-1.0}
SAMPLES=${SAMPLES:-8}
NPM="$WORK/npm/node_modules"
mkdir -p "$SW"
prepare_npm

if [[ ! -f "$SW/data/concepts.json" ]]; then
  "$PRTKL" dataset emoji --npm "$NPM" --out "$SW/data" --seed 0 --only-look "$STYLE"
fi
stage() {  # name config base
  if [[ ! -f "$SW/$1/finished" ]]; then
    "$PRTKL" train --config "$HERE/$2" --model "$3" --data "$SW/data/metadata.jsonl" --out "$SW/$1" --resume latest \
      --set device="$DEVICE" --threads "$THREADS"
    touch "$SW/$1/finished"
  fi
}
stage ft-1 train_style_ft_1.json "$MODEL_DIR"
stage ft-2 train_style_ft_2.json "$SW/ft-1/model"
stop_if train

lora="$SW/lora-r$RANK.safetensors"
[[ -f "$lora" ]] || "$PRTKL" model extract-lora "$MODEL_DIR" "$SW/ft-2/model" --rank "$RANK" --out "$lora"
stop_if extract

# The style folder: the LoRA alone (no trigger tokens: the look needs no word), the prompt as it is.
dest="$MODEL_DIR/styles/$STYLE"
rm -rf "$dest.partial" && mkdir -p "$dest.partial"
cp "$lora" "$dest.partial/prtkl.safetensors"
printf '{\n  "lora_scale": %s,\n  "embeddings": "",\n  "prompt": "{prompt}",\n  "description": "%s"\n}\n' "$SCALE" \
  "$([[ $STYLE == flat ]] && echo "flat fills, Twemoji-like" || echo "glossy shading, Noto-like")" \
  > "$dest.partial/style.json"
rm -rf "$dest" && mv "$dest.partial" "$dest"

# Judged at the model's own sampling (prtkl.json: 4 LCM steps, CFG 2) by the style judge that also learnt the
# autoencoder's round trips, beside the same eval with no style.
DOCS="$ROOT/docs/style/$STYLE"
style_eval() {  # style out
  "$PRTKL" eval --model "$MODEL_DIR" --concepts "$MODEL_DIR/concepts.json" --eval-set "$HERE/eval_concepts.txt" \
    --held-out-set "$HERE/style_heldout.txt" --npm "$NPM" --work "$WORK/eval_work" --out "$2" --samples "$SAMPLES" \
    --sampler lcm --steps 4 --cfg 2 --threads "$THREADS" --style "$1" --target-style "$STYLE" --min-accuracy 0.92 \
    --style-judge "$WORK/style_judge_rt.safetensors" --style-judge-round-trip
}
mkdir -p "$DOCS"
[[ -f "$DOCS/eval/eval.json" ]] || style_eval "$STYLE" "$DOCS/eval" || true  # the gate's FAIL is a result too
[[ -f "$DOCS/no-style/eval.json" ]] || style_eval none "$DOCS/no-style" || true
python3 - "$DOCS/eval/eval.json" "$DOCS/no-style/eval.json" "$STYLE" "$RANK" "$SCALE" > "$dest/README.md" <<'PY'
import json, sys
e, n, look, rank, scale = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), *sys.argv[3:]
share = lambda r, h=False: 100 * (r["held_out"] if h else r)["look_shares"][r["looks"].index(look)]
acc = lambda r, h=False: 100 * (r["held_out"] if h else r)["accuracy"]
print(f"""# The bundled model's `{look}` style

What a full fine-tune of the bundled UNet on the real {look} pictures alone (2,100 steps, batch 32, the captions of
the model's own data set) changed, kept as a rank-{rank} LoRA (`prtkl model extract-lora`), applied at scale {scale}.
No trigger tokens: prompts stay as they are. Made by `STYLE={look} make style-ft` (models/recipe/style_ft.sh).

Judged at the model's own sampling (4 LCM steps, CFG 2), {e["settings"]["samples"]} images per concept, by the style judge that
also learnt the autoencoder's round trips (the look a generation can have: real {look} pictures through the
autoencoder are the ceiling) and the concept judge:

| | {look} share | top-1 | held-out {look} share | held-out top-1 |
|---|---:|---:|---:|---:|
| no style | {share(n):.1f} % | {acc(n):.1f} % | {share(n, True):.1f} % | {acc(n, True):.1f} % |
| **{look}** | **{share(e):.1f} %** | **{acc(e):.1f} %** | {share(e, True):.1f} % | {acc(e, True):.1f} % |

Held out: the {e["held_out"]["concepts"]} concepts of models/recipe/style_heldout.txt. The full tables:
docs/style/{look}/eval/README.md and docs/style/{look}/no-style/README.md.""")
PY
echo "style $STYLE: $dest; $DOCS"

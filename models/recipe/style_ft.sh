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
#   lora-rR.safetensors   the extraction, installed and judged (docs/style/STYLE/eval-xN: `prtkl eval --style`,
#                 116 concepts x SAMPLES at the model's own sampling, held-out concepts apart)
#   data/metadata_curated.jsonl, ft-3/, lora-rR-curated.safetensors   self-curation: the concepts still drawn in
#                 the other look repeated in a third stage, extracted, installed and judged (eval-curated-xN)
# Installs models/prtkl-emoji/styles/STYLE (LoRA, style.json, card) beside docs/style/STYLE/no-style-xN.
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
stage() {  # name config base data
  if [[ ! -f "$SW/$1/finished" ]]; then
    "$PRTKL" train --config "$HERE/$2" --model "$3" --data "$4" --out "$SW/$1" --resume latest \
      --set device="$DEVICE" --threads "$THREADS"
    touch "$SW/$1/finished"
  fi
}
extract() {  # stage lora
  [[ -f "$2" ]] || "$PRTKL" model extract-lora "$MODEL_DIR" "$SW/$1/model" --rank "$RANK" --out "$2"
}
# The style folder: the LoRA alone (no trigger tokens: the look needs no word), the prompt as it is.
dest="$MODEL_DIR/styles/$STYLE"
install_style() {  # lora
  rm -rf "$dest.partial" && mkdir -p "$dest.partial"
  cp "$1" "$dest.partial/prtkl.safetensors"
  printf '{\n  "lora_scale": %s,\n  "embeddings": "",\n  "prompt": "{prompt}",\n  "description": "%s"\n}\n' "$SCALE" \
    "$([[ $STYLE == flat ]] && echo "flat fills, Twemoji-like" || echo "glossy shading, Noto-like")" \
    > "$dest.partial/style.json"
  rm -rf "$dest" && mv "$dest.partial" "$dest"
}
stage ft-1 train_style_ft_1.json "$MODEL_DIR" "$SW/data/metadata.jsonl"
stage ft-2 train_style_ft_2.json "$SW/ft-1/model" "$SW/data/metadata.jsonl"
stop_if train
lora="$SW/lora-r$RANK.safetensors"
extract ft-2 "$lora"
stop_if extract

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
FIRST="$DOCS/eval-x$SAMPLES" FINAL="$DOCS/eval-curated-x$SAMPLES" NONE="$DOCS/no-style-x$SAMPLES"
if [[ ! -f "$FINAL/eval.json" ]]; then
  [[ -f "$FIRST/eval.json" ]] || { install_style "$lora"; style_eval "$STYLE" "$FIRST" || true; }  # a FAIL is a result
fi
[[ -f "$NONE/eval.json" ]] || style_eval none "$NONE" || true

# Self-curation, the mission's loop on the fine-tune: the concepts the style still draws in the other look (under
# CURATE_SHARE of their pictures in it, by the eval above; held-out concepts left alone, so they stay a test) get
# their rows CURATE_REPEAT times in a third stage from ft-2 (train_style_ft_3.json: 1,000 steps at lr 5e-5).
CURATE_SHARE=${CURATE_SHARE:-0.65}
CURATE_REPEAT=${CURATE_REPEAT:-8}
curated="$SW/data/metadata_curated.jsonl"
if [[ ! -f "$curated" ]]; then
  python3 - "$FIRST/eval.json" "$SW/data/metadata.jsonl" "$STYLE" "$CURATE_SHARE" "$CURATE_REPEAT" > "$curated.partial" <<'PY'
import json, sys
e, rows, look, share, repeat = json.load(open(sys.argv[1])), open(sys.argv[2]).readlines(), *sys.argv[3:]
k = e["looks"].index(look)
weak = {c["id"] for c in e["concepts"] if not c["held_out"] and c["looks"][k] < float(share) * sum(c["looks"])}
print(f"curated: {len(weak)} concepts repeated x{repeat}: {' '.join(sorted(weak))}", file=sys.stderr)
sys.stdout.write("".join(rows))  # every row once, then the weak concepts' rows repeat - 1 times more
for row in rows:
    sys.stdout.write(row * (int(repeat) - 1 if json.loads(row)["concept"] in weak else 0))
PY
  mv "$curated.partial" "$curated"
fi
stage ft-3 train_style_ft_3.json "$SW/ft-2/model" "$curated"
lora3="$SW/lora-r$RANK-curated.safetensors"
extract ft-3 "$lora3"
install_style "$lora3"
[[ -f "$FINAL/eval.json" ]] || style_eval "$STYLE" "$FINAL" || true
python3 - "$FINAL/eval.json" "$NONE/eval.json" "$STYLE" "$RANK" "$SCALE" > "$dest/README.md" <<'PY'
import json, sys
e, n, look, rank, scale = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), *sys.argv[3:]
share = lambda r, h=False: 100 * (r["held_out"] if h else r)["look_shares"][r["looks"].index(look)]
acc = lambda r, h=False: 100 * (r["held_out"] if h else r)["accuracy"]
print(f"""# The bundled model's `{look}` style

What a full fine-tune of the bundled UNet on the real {look} pictures alone (2,100 steps, batch 32, the captions of
the model's own data set, then 1,000 steps more with the concepts it still drew in the other look repeated: the
self-curation stage) changed, kept as a rank-{rank} LoRA (`prtkl model extract-lora`), applied at scale {scale}.
No trigger tokens: prompts stay as they are. Made by `STYLE={look} make style-ft` (models/recipe/style_ft.sh).

Judged at the model's own sampling (4 LCM steps, CFG 2), {e["settings"]["samples"]} images per concept, by the style judge that
also learnt the autoencoder's round trips (the look a generation can have: real {look} pictures through the
autoencoder are the ceiling) and the concept judge:

| | {look} share | top-1 | held-out {look} share | held-out top-1 |
|---|---:|---:|---:|---:|
| no style | {share(n):.1f} % | {acc(n):.1f} % | {share(n, True):.1f} % | {acc(n, True):.1f} % |
| **{look}** | **{share(e):.1f} %** | **{acc(e):.1f} %** | {share(e, True):.1f} % | {acc(e, True):.1f} % |

Held out: the {e["held_out"]["concepts"]} concepts of models/recipe/style_heldout.txt. The full tables:
docs/style/{look}/eval-curated-x{e["settings"]["samples"]}/README.md and docs/style/{look}/no-style-x{n["settings"]["samples"]}/README.md.""")
PY
echo "style $STYLE: $dest; $DOCS"

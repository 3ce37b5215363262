#!/usr/bin/env bash
# One style for the bundled model, learned the way a user learns theirs: the model draws candidates of everyday
# words, the judges keep those in the target look (what a person does on /curation.html), and LoRA + pivotal
# tuning (`prtkl train --preset ready`) learns them; the checkpoint is chosen by measurement on concepts the
# words never asked for, not by training loss. Every step is a prtkl command a user could type; every step is
# resumable (kill it, run it again).
#
#   STYLE=flat make style          # or STYLE=glossy; WORK=dir keeps its files (default ~/.cache/prtkl/bundled)
#   STOP_AFTER=candidates|train|choose STYLE=flat make style
#
# Steps (under WORK/style-STYLE):
#   prompts.txt     style_words.txt (88 everyday words), each interpreted for the bundled model
#   cand-B/         `prtkl dataset generate`: 2 variations of every prompt (176 candidates), batch B seeded B*1000;
#                   `prtkl curate --auto` keeps the look and the concept into cand-B/train; batches until 50 kept
#   train.jsonl     the kept images of every batch, one training set
#   adamw/ prodigy/ `prtkl train --preset ready` (AdamW, as the mission's final recipe) and the same with Prodigy
#   choose/         `prtkl eval` of checkpoints: the 116 evaluation concepts, 1 image each, held-out ones apart
# The chosen checkpoint becomes models/prtkl-emoji/styles/STYLE (LoRA, embeddings, style.json, card) when it reaches
# the gate; its full eval (116 concepts x 8, held-out concepts apart) and the sweep sheet go to docs/style/STYLE.
# What the runs measured so far, and why none is installed yet: docs/style/README.md.
set -euo pipefail
STYLE=${STYLE:?"STYLE=flat or STYLE=glossy"}
source "$(dirname "$0")/lib.sh"
MODEL_DIR="$ROOT/models/prtkl-emoji"
SW="$WORK/style-$STYLE"
DOCS="$ROOT/docs/style/$STYLE"
NPM="$WORK/npm/node_modules"
MIN_KEPT=${MIN_KEPT:-50}
MAX_BATCHES=${MAX_BATCHES:-4}
CHOOSE_STEPS=${CHOOSE_STEPS:-"1000 1600 2200"}
mkdir -p "$SW"
prepare_npm

# Everyday words -> the prompts the bundled model is asked for (what the page sends for each word).
if [[ ! -f "$SW/prompts.txt" ]]; then
  grep -v '^\s*\(#\|$\)' "$HERE/style_words.txt" | while read -r word; do
    "$PRTKL" interpret "$word" --model "$MODEL_DIR" | sed -n 's/^prompt: *//p'
  done > "$SW/prompts.txt.partial"
  mv "$SW/prompts.txt.partial" "$SW/prompts.txt"
fi

# Candidates and their curation, batch by batch until enough are kept.
kept=0
for ((b = 0; b < MAX_BATCHES && kept < MIN_KEPT; b++)); do
  cand="$SW/cand-$b"
  if [[ ! -f "$cand/generated" ]]; then
    "$PRTKL" dataset generate --model "$MODEL_DIR" --prompts "$SW/prompts.txt" --variations 2 --seed $((b * 1000)) \
      --out "$cand" --threads "$THREADS" --dtype fp32  # the same candidates on every machine
    touch "$cand/generated"
  fi
  if [[ ! -f "$cand/curated" ]]; then
    "$PRTKL" curate --auto --candidates "$cand" --style "$STYLE" --npm "$NPM" \
      --style-judge "$WORK/style_judge.safetensors" --threads "$THREADS"
    touch "$cand/curated"
  fi
  kept=$((kept + $(wc -l < "$cand/train/metadata.jsonl")))
done
echo "$kept candidates kept in the $STYLE look"
# One training set: each batch's export, its images named from the set's folder.
for ((i = 0; i < b; i++)); do
  sed "s|\"file_name\":\"|\"file_name\":\"cand-$i/train/|" "$SW/cand-$i/train/metadata.jsonl"
done > "$SW/train.jsonl"
stop_if candidates

# Validation prompts: concepts the words never asked for. The trigger TOK (<s0><s1>) goes after the caption: the
# bundled model's causal text encoder then reads the caption as it always did ("TOK, penguin", diffusers' form,
# made it draw no penguin at all, even before training).
VALIDATION='["penguin TOK", "robot TOK", "castle TOK", "rainbow TOK", "guitar TOK"]'
train_style() {  # run-name, then flags
  local run="$SW/$1"
  shift
  if [[ ! -f "$run/finished" ]]; then
    "$PRTKL" train --preset ready --model "$MODEL_DIR" --data "$SW/train.jsonl" --out "$run" --resume latest \
      --threads "$THREADS" --set trigger_template='"{caption} {trigger}"' --set validation_prompts="$VALIDATION" \
      --set validation_every=400 "$@"
    touch "$run/finished"
  fi
}
train_style adamw --optimizer adamw
train_style prodigy --optimizer prodigy --set lr=1.0 --set text_encoder_lr=1.0
stop_if train

# The checkpoint by measurement: the judges on every evaluation concept, 1 image each, for every run and step.
style_eval() {  # adapter-folder out samples [extra flags]
  "$PRTKL" eval --model "$MODEL_DIR" --concepts "$MODEL_DIR/concepts.json" --eval-set "$HERE/eval_concepts.txt" \
    --npm "$NPM" --work "$WORK/eval_work" --out "$2" --samples "$3" --cfg 7 --threads "$THREADS" \
    --style-judge "$WORK/style_judge.safetensors" --target-style "$STYLE" --min-accuracy 0.92 \
    --held-out-set "$HERE/style_heldout.txt" \
    --lora "$1/prtkl.safetensors" --embeddings "$1/prtkl_emb.safetensors" --prompt-template '{prompt} <s0><s1>' \
    "${@:4}"
}
table="$SW/choose/checkpoints.tsv"
mkdir -p "$SW/choose"
for run in adamw prodigy; do
  for step in $CHOOSE_STEPS; do
    out="$SW/choose/$run-$step"
    [[ -f "$out/eval.json" ]] || style_eval "$SW/$run/checkpoint-$step" "$out" 1
  done
done
python3 "$HERE/style_choose.py" "$SW/choose" "$STYLE" > "$table"
best=$(head -1 "$table" | cut -f1)
echo "chosen: $best"
cp "$table" "$ROOT/docs/style/$STYLE-checkpoints.tsv"
stop_if choose
# Installed only when the chosen checkpoint reaches both gates on this measurement (score >= 1), as the bundled
# model's recipe installs only a model that passes its gate: a style that costs recognition is worse than none.
if ! awk -F'\t' 'NR == 1 { exit !($4 >= 1) }' "$table"; then
  echo "no checkpoint reaches the gate (best: $(head -1 "$table")); nothing installed: docs/style/README.md"
  exit 0
fi

# Install: the chosen checkpoint's adapters, its prompt, and a card.
dest="$MODEL_DIR/styles/$STYLE"
rm -rf "$dest.partial" && mkdir -p "$dest.partial"
cp "$SW/${best%-*}/checkpoint-${best##*-}/prtkl.safetensors" "$SW/${best%-*}/checkpoint-${best##*-}/prtkl_emb.safetensors" \
  "$dest.partial/"
printf '{\n  "prompt": "{prompt} <s0><s1>",\n  "description": "%s"\n}\n' \
  "$([[ $STYLE == flat ]] && echo "flat fills, Twemoji-like" || echo "glossy shading, Noto-like")" \
  > "$dest.partial/style.json"
rm -rf "$dest" && mv "$dest.partial" "$dest"

# Its full evaluation, the held-out concepts apart, and the sweep sheet of the chosen run: checkpoints x prompts of
# concepts the words never asked for.
mkdir -p "$DOCS"
if [[ ! -f "$DOCS/sweep.png" ]]; then
  printf '%s TOK\n' penguin robot castle rainbow guitar octopus > "$SW/sweep_prompts.txt"
  "$PRTKL" sweep --run "$SW/${best%-*}" --prompts "$SW/sweep_prompts.txt" --seeds 1,2 --out "$SW/sweep-${best%-*}" \
    --checkpoints "$(printf 'checkpoint-%s,' $CHOOSE_STEPS | sed 's/,$//')" --threads "$THREADS" --dtype fp32
  cp "$SW/sweep-${best%-*}/contact.png" "$DOCS/sweep.png"
fi
[[ -f "$DOCS/eval/eval.json" ]] || style_eval "$dest" "$DOCS/eval" 8
# Its card: the data, the recipe and the numbers.
python3 - "$DOCS/eval/eval.json" "$table" "$kept" "$best" "$STYLE" > "$dest/README.md" <<'PY'
import json, sys
e, table, kept, best, look = json.load(open(sys.argv[1])), open(sys.argv[2]).read(), *sys.argv[3:]
print(f"""# The bundled model's `{look}` style

A LoRA (rank 16) and two trigger tokens `<s0><s1>` learned together (pivotal tuning, `prtkl train --preset ready`)
on {kept} pictures the bundled model drew itself for 88 everyday words (models/recipe/style_words.txt) and that
`prtkl curate --auto` kept: the style judge put them in the {look} look and the concept judge recognised them.
Made by `STYLE={look} make style` (models/recipe/style.sh); prompts are `{{prompt}} <s0><s1>` (style.json).

| | |
|---|---|
| checkpoint | {best} (chosen by the judges, not by loss: docs/style/{look}-checkpoints.tsv) |
| {look} share (116 concepts x 8) | {100 * e["look_shares"][e["looks"].index(look)]:.1f} % |
| top-1 accuracy (116 concepts x 8) | {100 * e["accuracy"]:.1f} % |
| held-out concepts ({e["held_out"]["concepts"]}, never in the training words) | {100 * e["held_out"]["accuracy"]:.1f} % top-1, {100 * e["held_out"]["look_shares"][e["looks"].index(look)]:.1f} % {look} |

The full table: docs/style/{look}/eval/README.md.""")
PY
echo "style $STYLE: $dest; $DOCS"

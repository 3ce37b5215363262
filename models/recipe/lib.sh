# Sourced by the bundled model's recipes (recipe.sh: the committed weights; recipe_f8.sh: a faster recipe being
# measured): their settings, the data they share, one resumable training stage, the evaluation and the install.
# A recipe sets THREADS before sourcing this when its default is not one thread.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/models/recipe"
PRTKL=${PRTKL:-$ROOT/build/prtkl}
WORK=${WORK:-$HOME/.cache/prtkl/bundled}
DEVICE=${DEVICE:-cpu}
THREADS=${THREADS:-1}
OUT=${OUT:-$ROOT/models/prtkl-emoji}
STOP_AFTER=${STOP_AFTER:-}
mkdir -p "$WORK"
stop_if() { [[ "$STOP_AFTER" == "$1" ]] && { echo "stopped after stage $1 (STOP_AFTER)"; exit 0; }; true; }

# The npm packages into a folder of their own (lockfile in the repo): the pictures the judges learn.
prepare_npm() {
  if [[ ! -f "$WORK/npm/node_modules/.package-lock.json" ]]; then
    mkdir -p "$WORK/npm"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$WORK/npm/"
    (cd "$WORK/npm" && npm ci --no-audit --no-fund)
  fi
}

# The npm packages, the training set, and the BPE tokenizer.
prepare_data() {
  prepare_npm
  if [[ ! -f "$WORK/dataset/concepts.json" ]]; then
    "$PRTKL" dataset emoji --npm "$WORK/npm/node_modules" --out "$WORK/dataset" --seed 0
  fi
  if [[ ! -f "$WORK/tokenizer/vocab.json" ]]; then
    "$PRTKL" tokenizer train --data "$WORK/dataset/metadata_all.jsonl" --vocab-size 4096 --out "$WORK/tokenizer"
  fi
}

train_stage() {  # name config base data [steps: resume the stage up to this many, the schedule stretched to them]
  local done="$WORK/$1/finished${5:+-$5}"
  if [[ ! -f "$done" ]]; then
    "$PRTKL" train --config "$HERE/$2" --model "$3" --data "$WORK/dataset/$4" --out "$WORK/$1" \
      --resume latest --set device="$DEVICE" --threads "$THREADS" ${5:+--set max_train_steps=$5}
    touch "$done"
  fi
}

evaluate() {  # model_dir eval_work result_dir: the quality gate's table (a judge already in eval_work is reused)
  "$PRTKL" eval --model "$1" --concepts "$WORK/dataset/concepts.json" --eval-set "$HERE/eval_concepts.txt" \
    --npm "$WORK/npm/node_modules" --work "$2" --out "$3" --cfg 7 --threads "$THREADS"  # CFG 7: generate's and serve's
}

install_model() {  # model_dir: the weights, configs and tokenizer of the run, the inventory, and the folder's own
  # prtkl.json and model card (kept) into the repo
  rm -rf "$OUT.partial" && cp -r "$1" "$OUT.partial"
  cp "$WORK/dataset/concepts.json" "$HERE/prtkl.json" "$OUT.partial/"
  [[ -f "$OUT/README.md" ]] && cp "$OUT/README.md" "$OUT.partial/"
  rm -rf "$OUT" && mv "$OUT.partial" "$OUT"
  echo "bundled model: $OUT"
}

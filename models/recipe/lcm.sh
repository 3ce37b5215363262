#!/usr/bin/env bash
# An LCM-LoRA of the bundled model, and what it changes (docs/lcm/README.md): `prtkl train --distill lcm` with
# train_lcm.json (the model with its guidance folded in as the teacher, 1,000 steps, about 25 minutes alone on 2
# cores), then the judges at 4 and 2 LCM steps at CFG 1 with and without it. Every step is a prtkl command and
# resumable. The result is not installed: on this model it changed nothing measurable (docs/lcm); a model folder
# that gains from one names it in its prtkl.json ("sampling": {..., "lora": "FILE"}).
#
#   make lcm                          # WORK=dir keeps its files (default ~/.cache/prtkl/bundled)
#   STOP_AFTER=train make lcm         # SAMPLES=8: the evals at the gate's 8 a concept (default 2)
#
# Under WORK: dataset/metadata_third.jsonl (every third caption line of the bundled set: 3,542 captions, enough
# pictures for a distillation and a third of the caching), lcm/ (the run); docs/lcm/<run>/ (the judges).
set -euo pipefail
THREADS=${THREADS:-2}
source "$(dirname "$0")/lib.sh"
MODEL_DIR="$ROOT/models/prtkl-emoji"
prepare_data
subset="$WORK/dataset/metadata_third.jsonl"
[[ -f "$subset" ]] || awk 'NR % 3 == 1' "$WORK/dataset/metadata.jsonl" > "$subset"
train_stage lcm train_lcm.json "$MODEL_DIR" metadata_third.jsonl
stop_if train

lcm_eval() {  # steps out [--lora FILE]
  local steps=$1 out=$2
  shift 2
  [[ -f "$out/eval.json" ]] || "$PRTKL" eval --model "$MODEL_DIR" --concepts "$MODEL_DIR/concepts.json" \
    --eval-set "$HERE/eval_concepts.txt" --held-out-set "$HERE/style_heldout.txt" --npm "$WORK/npm/node_modules" \
    --work "$WORK/eval_work" --out "$out" --samples "${SAMPLES:-2}" --sampler lcm --steps "$steps" --cfg 1 \
    --threads "$THREADS" --style flat --min-accuracy 0.92 --style-judge "$WORK/style_judge_rt.safetensors" \
    --style-judge-round-trip "$@" || true  # the gate's FAIL is a result too
}
DOCS="$ROOT/docs/lcm"
for steps in 4 2; do
  lcm_eval "$steps" "$DOCS/lora-$steps-cfg1" --lora "$WORK/lcm/pytorch_lora_weights.safetensors"
  lcm_eval "$steps" "$DOCS/plain-$steps-cfg1"
done
echo "LCM-LoRA: $WORK/lcm/pytorch_lora_weights.safetensors; judged in $DOCS"

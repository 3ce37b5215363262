#!/usr/bin/env bash
# prtkl against stable-diffusion.cpp on one single-file checkpoint: same size, sampler (Euler), steps, CFG, seed
# and thread count, runs alternating between the two programs, medians over the runs, ratios prtkl / sd.cpp.
# The UNet's FLOPs per step are counted and the fp32 matmul peak measured by bench_op_profile in the same
# invocation, so the table also says how close each program's steps are to this machine's limit.
#
#   SDCPP=/path/to/sd-cli bench/vs_sdcpp.sh MODEL.safetensors
#
# Model loading is timed too: prtkl's "load text encoders" + "load UNet/VAE" against the sum of sd.cpp's "loading
# tensors completed" lines (both load each part when its stage starts; the file is in the page cache after the first
# run). sd.cpp's sampling time includes its UNet load, prtkl's denoise time does not. For load times alone:
# STEPS=1 SIZE=256 PROFILE=0 RUNS=5.
#
# Environment: RUNS (3), STEPS (20), SIZE (512), THREADS (2), CFG (7), SDCPP_FLAGS ("--diffusion-fa"),
# PROFILE (1: count FLOPs and measure the matmul peak; 0 skips it),
# CONTEXT=1 adds one run each of sd.cpp without flash attention and with --type f16 and q8_0 (CONTEXT_STEPS steps,
# default STEPS), REPORT_ONLY=1 prints the table again from the logs in OUT without running the main runs,
# PRTKL (build/prtkl), OP_PROFILE (build/bench/bench_op_profile), OUT (/tmp/prtkl-bench/vs_sdcpp).
# prtkl reads configs and tokenizer from the diffusers folder beside MODEL (same stem), as `prtkl convert` leaves it.
# Needs GNU time (/usr/bin/time, Debian package `time`) for peak RSS.
set -euo pipefail

model=${1:?usage: SDCPP=/path/to/sd-cli bench/vs_sdcpp.sh MODEL.safetensors}
: "${SDCPP:?set SDCPP to the sd-cli binary of stable-diffusion.cpp}"
RUNS=${RUNS:-3} STEPS=${STEPS:-20} SIZE=${SIZE:-512} THREADS=${THREADS:-2} CFG=${CFG:-7}
SDCPP_FLAGS=${SDCPP_FLAGS---diffusion-fa}
PRTKL=${PRTKL:-build/prtkl} OP_PROFILE=${OP_PROFILE:-build/bench/bench_op_profile}
OUT=${OUT:-/tmp/prtkl-bench/vs_sdcpp}
PROMPT="a red fox sitting in the snow, particle art"
SEED=42
mkdir -p "$OUT"

median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
field() { grep -o "$2" "$1" | tail -1 | grep -o '[0-9.]*' | head -1; }  # first number in the last match
peak_gib() { awk '/Maximum resident set size/ {printf "%.2f\n", $6/1048576}' "$1"; }

run_prtkl() {  # $1: log file
  /usr/bin/time -v "$PRTKL" generate -m "$model" -p "$PROMPT" --steps "$STEPS" --cfg "$CFG" --sampler euler \
    -W "$SIZE" -H "$SIZE" -s "$SEED" -t "$THREADS" -o "$OUT/prtkl.png" >"$1" 2>&1
  # encode, denoise, decode seconds (reading the UNet and the VAE when their stages start is in none of them, as
  # sd.cpp's model loading is not), then all model loading
  echo "$(field "$1" 'encode [0-9.]* s')" "$(field "$1" 'denoise [0-9.]* s')" "$(field "$1" 'decode [0-9.]* s')" \
    "$(awk -v a="$(field "$1" 'load text encoders [0-9.]* s')" -v b="$(field "$1" 'load UNet/VAE [0-9.]* s')" \
      'BEGIN {print a + b}')" >"$1.stages"
}
run_sdcpp() {  # $1: log file, $2: steps, then extra flags
  local log=$1 steps=$2; shift 2
  /usr/bin/time -v "$SDCPP" -m "$model" -p "$PROMPT" --steps "$steps" --cfg-scale "$CFG" --sampling-method euler \
    -W "$SIZE" -H "$SIZE" -s "$SEED" -t "$THREADS" "$@" -o "$OUT/sdcpp.png" -v >"$log" 2>&1
  echo "$(field "$log" 'get_learned_condition completed, taking [0-9.]*s')" \
       "$(field "$log" 'sampling completed, taking [0-9.]*s')" \
       "$(field "$log" 'decode_first_stage completed, taking [0-9.]*s')" \
       "$(grep -o 'loading tensors completed, taking [0-9.]*s' "$log" | grep -o '[0-9.]*s$' | tr -d s |
          awk '{s += $1} END {print s}')" >"$log.stages"
}

PROFILE=${PROFILE:-1}
if [ "${REPORT_ONLY:-0}" != 1 ] && [ "$PROFILE" = 1 ]; then
  echo "counting the UNet's FLOPs and measuring the matmul peak ($OP_PROFILE)" >&2
  "$OP_PROFILE" --model "${model%.safetensors}" --component unet --size "$SIZE" --batch 2 --threads "$THREADS" \
    --json "$OUT/unet_profile.json" >"$OUT/unet_profile.txt" 2>&1
fi
if [ "${REPORT_ONLY:-0}" != 1 ]; then
  for i in $(seq 1 "$RUNS"); do  # alternating: prtkl, sd.cpp, prtkl, sd.cpp, ...
    echo "run $i/$RUNS: prtkl" >&2
    run_prtkl "$OUT/prtkl.$i.log"
    echo "run $i/$RUNS: sd.cpp $SDCPP_FLAGS" >&2
    # shellcheck disable=SC2086
    run_sdcpp "$OUT/sdcpp.$i.log" "$STEPS" $SDCPP_FLAGS
  done
fi
[ "$PROFILE" = 1 ] && flops=$(grep -o '"flops": [0-9.e+]*' "$OUT/unet_profile.json" | awk '{print $2}')
[ "$PROFILE" = 1 ] && peak=$(grep -o '"matmul_peak_flops": [0-9.e+]*' "$OUT/unet_profile.json" | awk '{print $2}')

stat() {  # $1: prefix (prtkl|sdcpp), $2: column of .stages (1 encode, 2 denoise, 3 decode, 4 load) or "rss"/"wall"
  for i in $(seq 1 "$RUNS"); do
    local log="$OUT/$1.$i.log"
    case $2 in
      rss) peak_gib "$log" ;;
      e2e) awk '{print $1 + $2 + $3}' "$log.stages" ;;
      step) awk -v s="$STEPS" '{print $2 / s}' "$log.stages" ;;
      *) awk -v c="$2" '{print $c}' "$log.stages" ;;
    esac
  done | median
}

printf '\nSD at %sx%s, Euler, %s steps, CFG %s, %s threads, fp32 weights; medians of %s alternating runs\n' \
  "$SIZE" "$SIZE" "$STEPS" "$CFG" "$THREADS" "$RUNS"
printf '%-40s %12s %16s %8s\n' "" "prtkl" "sd.cpp" "ratio"
row() {
  local a b; a=$(stat prtkl "$2"); b=$(stat sdcpp "$2")
  printf '%-40s %12.2f %16.2f %8.2f\n' "$1" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {print a / b}')"
}
row "seconds per denoising step" step
row "VAE decode, s" 3
row "text encode, s" 1
row "end to end (encode+denoise+decode), s" e2e
row "peak RSS, GiB" rss
row "model load, s" 4
printf 'sd.cpp flags: %s\n' "${SDCPP_FLAGS:-(none)}"
[ "$PROFILE" = 1 ] && awk -v f="$flops" -v p="$peak" -v a="$(stat prtkl step)" -v b="$(stat sdcpp step)" 'BEGIN {
  printf "UNet step (CFG batch 2): %.1f GFLOP counted; fp32 matmul peak this run %.1f GFLOP/s\n", f / 1e9, p / 1e9
  printf "  prtkl  %.1f GFLOP/s = %.0f %% of peak\n  sd.cpp %.1f GFLOP/s = %.0f %% of peak\n", f / a / 1e9, 100 * f / a / p, f / b / 1e9, 100 * f / b / p }'

if [ "${CONTEXT:-0}" = 1 ]; then
  CONTEXT_STEPS=${CONTEXT_STEPS:-$STEPS}
  printf '\nsd.cpp for context (one run each, %s steps): seconds per step, VAE decode s, peak RSS GiB\n' "$CONTEXT_STEPS"
  for variant in "default:" "f16:--type f16 --diffusion-fa" "q8_0:--type q8_0 --diffusion-fa"; do
    name=${variant%%:*} flags=${variant#*:}
    echo "context: sd.cpp $name" >&2
    # shellcheck disable=SC2086
    run_sdcpp "$OUT/context.$name.log" "$CONTEXT_STEPS" $flags
    awk -v s="$CONTEXT_STEPS" -v n="$name" -v r="$(peak_gib "$OUT/context.$name.log")" \
      '{printf "%-40s %8.2f %8.2f %8s\n", "sd.cpp " n, $2 / s, $3, r}' "$OUT/context.$name.log.stages"
  done
fi

#!/usr/bin/env bash
# The CUDA check and benchmark, for a machine with an NVIDIA GPU, a CUDA build of libtorch 2.x and the
# development packages of scripts/install-deps.sh (libtorch-dev aside). It
#   1. builds prtkl against the CUDA libtorch (TORCH_DIR, or the one inside python3's torch),
#   2. runs the model and pipeline tests (CPU parity against the fixtures, same binaries as CI),
#   3. generates with both tiny fixture models on CUDA in fp32 and bf16 and compares each image with the CPU
#      fp32 image of the same seed: fp32 within 2/255 per pixel, bf16 within a mean of 6/255 (bf16 keeps 8 bits
#      of mantissa; four denoising steps through a random tiny UNet amplify that to a few levels per pixel),
#   4. builds full-size SDXL with `prtkl model init` and times 1024×1024, 30 Euler steps, CFG 7, bf16.
# Results go to $OUT (or /tmp/prtkl-gpu): gpu.txt with the figures, logs beside it.
#
#   bench/gpu.sh            (FIXTURES=../shared/fixtures, BUILD=build-cuda)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/prtkl-gpu}
FIXTURES=${FIXTURES:-../shared/fixtures}
BUILD=${BUILD:-build-cuda}
mkdir -p "$OUT"
report() { echo "$*" | tee -a "$OUT/gpu.txt"; }
: >"$OUT/gpu.txt"

torch_dir=${TORCH_DIR:-$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')}
report "date: $(date -u +%F), GPU: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
report "libtorch: $torch_dir"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_dir" \
  -DPRTKL_FIXTURES_DIR="$(realpath "$FIXTURES")" -DPRTKL_BUILD_BENCH=ON >"$OUT/configure.log" 2>&1
cmake --build "$BUILD" --target prtkl test_models test_parity bench_op_profile >"$OUT/build.log" 2>&1
(cd "$BUILD" && ./test_models && ./test_parity) >"$OUT/tests.log" 2>&1 && report "CPU parity tests: passed" ||
  report "CPU parity tests: FAILED (tests.log)"

# 3. CUDA against CPU on the tiny models.
compare() {  # $1 reference PNG, $2 PNG: prints max and mean absolute difference in 1/255 steps
  python3 - "$1" "$2" <<'EOF'
import sys
import numpy as np
from PIL import Image
a = np.asarray(Image.open(sys.argv[1]), dtype=np.float64)
b = np.asarray(Image.open(sys.argv[2]), dtype=np.float64)
d = np.abs(a - b)
print(f"{d.max():.0f} {d.mean():.2f}")
EOF
}
for model in tiny-sd15 tiny-sdxl; do
  gen() { "$BUILD/prtkl" generate -m "$FIXTURES/$model" -p "a red fox in the snow" --steps 4 -s 7 "$@"; }
  gen --device cpu --dtype fp32 -o "$OUT/$model.cpu.png" >"$OUT/$model.cpu.log" 2>&1
  for dtype in fp32 bf16; do
    gen --device cuda --dtype "$dtype" -o "$OUT/$model.cuda.$dtype.png" >"$OUT/$model.cuda.$dtype.log" 2>&1
    read -r max mean < <(compare "$OUT/$model.cpu.png" "$OUT/$model.cuda.$dtype.png")
    if [ "$dtype" = fp32 ]; then ok=$(awk -v m="$max" 'BEGIN {print (m <= 2) ? "ok" : "FAIL"}')
    else ok=$(awk -v m="$mean" 'BEGIN {print (m <= 6) ? "ok" : "FAIL"}'); fi
    report "$model cuda $dtype vs cpu fp32: max $max/255, mean $mean/255: $ok"
  done
done

# 4. Full-size SDXL, 1024², 30 steps, bf16.
sdxl="$OUT/sdxl"
[ -f "$sdxl/model_index.json" ] || "$BUILD/prtkl" model init --family sdxl \
  --out "$sdxl" --dtype bf16 >"$OUT/model_init.log" 2>&1
/usr/bin/time -v "$BUILD/prtkl" generate -m "$sdxl" -p "a red fox sitting in the snow, particle art" \
  --device cuda --dtype bf16 -W 1024 -H 1024 --steps 30 --cfg 7 -s 42 -o "$OUT/sdxl.png" >"$OUT/sdxl.log" 2>&1
report "SDXL 1024x1024, 30 steps, bf16: $(grep '^encode ' "$OUT/sdxl.log")"
report "SDXL wall time incl. load: $(awk '/Elapsed/ {print $8}' "$OUT/sdxl.log")"

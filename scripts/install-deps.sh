#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the app need. Idempotent: it installs only what is
# missing, so a second run costs a few seconds.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread   # libtorch calls the system libblas: OpenBLAS is ~40x the reference BLAS
  nlohmann-json3-dev libcpp-httplib-dev libstb-dev libcli11-dev libsqlite3-dev
  wordnet-base wordnet-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libgloo-dev                         # the headers of the c10d Gloo process group (the code is in libtorch)
  libhiredis-dev redis-server         # the shared job queue of `prtkl serve --redis` and `prtkl worker`
  chromium                            # the browser tests (driven by playwright-core from npm)
)
# Node.js and npm build the web app. Some machines carry NodeSource's nodejs, which bundles npm and conflicts
# with Debian's npm package, so each is installed only when its command is missing.
command -v node >/dev/null || PACKAGES+=(nodejs)
command -v npm >/dev/null || PACKAGES+=(npm)
command -v python3 >/dev/null || PACKAGES+=(python3)  # the style recipe's checkpoint table (models/recipe)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO=sudo
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Make sure libtorch picks OpenBLAS rather than the reference BLAS.
blas=/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3
if [[ -e $blas ]] && command -v update-alternatives >/dev/null; then
  current=$(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu 2>/dev/null || true)
  if [[ "$current" != "$blas" ]]; then
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO=sudo
    $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu "$blas"
  fi
fi
echo "dependencies ready"

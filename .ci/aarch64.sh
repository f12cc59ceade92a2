#!/usr/bin/env bash
# aarch64 job: cross-builds the C library and its C tests with Debian's gcc-aarch64-linux-gnu and
# runs them under qemu-user, so the NEON kernels, the dispatch on ARM and the build without the x86
# kernel files are tested on an x86 CI machine. Installs what it needs (root, Debian, PyPI).
# Budget: about 5 minutes (packages ~30 s, build ~30 s, tests under emulation 2-4 min; the layout
# test is the longest at ~2 min of emulated CPU time).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
build=${UMAPC_AARCH64_BUILD:-build-aarch64}

pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
missing=()
for p in "${pkgs[@]}" libgomp1-arm64-cross; do
    dpkg -s "$p" > /dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # libgomp for arm64 is optional: without it the cross build runs on one thread.
    install=()
    for p in "${missing[@]}"; do
        if [ "$p" != libgomp1-arm64-cross ] || apt-cache show "$p" > /dev/null 2>&1; then
            install+=("$p")
        fi
    done
    apt-get install -y -qq --no-install-recommends "${install[@]}" > /dev/null
fi
openmp=auto
dpkg -s libgomp1-arm64-cross > /dev/null 2>&1 || openmp=disabled
if ! command -v meson > /dev/null || ! command -v ninja > /dev/null; then
    python -m pip install -q "meson>=1.3" ninja
fi
echo "aarch64: tools ready after $((SECONDS - start)) s"

rm -rf "$build"
meson setup "$build" --cross-file .ci/aarch64-cross.ini -Dpython=false -Dopenmp="$openmp" > /dev/null
if ! ninja -C "$build" > "$build/ninja.log" 2>&1; then
    tail -n 60 "$build/ninja.log"
    exit 1
fi
echo "aarch64: built after $((SECONDS - start)) s"
# Emulation is 10-30 times slower than native: the per-test timeouts (300 s) are scaled.
meson test -C "$build" --print-errorlogs --timeout-multiplier 4 --num-processes "$(nproc)"
grep -h "simd level\|code kernels" "$build/meson-logs/testlog.txt" || true
echo "aarch64: done in $((SECONDS - start)) s"

#!/usr/bin/env bash
# Packaging job: "python -m build --sdist --wheel" (sdist and wheel from the checkout, in build's
# isolated environment from PyPI), then the sdist unpacked and built into a wheel offline (pip
# with --no-index and --no-build-isolation against the meson-python, meson, ninja and numpy
# installed here; inside a network namespace without interfaces where unshare allows one), and
# both wheels installed into throw-away targets and smoke-tested there (.ci/wheel_smoke.py).
# Budget: 2 minutes (two builds of the extension; measured on the 2-core machine, in the budget
# comment of .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$SECONDS
tmp=$(mktemp -d "${TMPDIR:-/tmp}/umapc-package.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

python -m pip install -q build "meson-python>=0.15" "meson>=1.3" ninja "numpy>=1.25"
python -m build --sdist --wheel --outdir "$tmp/dist" . > "$tmp/build.log" 2>&1 || {
    tail -n 60 "$tmp/build.log"
    exit 1
}
sdist=$(ls "$tmp"/dist/umapc-*.tar.gz)
wheel=$(ls "$tmp"/dist/umapc-*.whl)
echo "package: $(basename "$sdist") ($(du -k "$sdist" | cut -f1) KiB) and $(basename "$wheel") after $((SECONDS - start)) s"

# What a build from the sdist needs must be in it: no file of the checkout outside it is reachable.
mkdir "$tmp/src"
tar -xzf "$sdist" -C "$tmp/src"
src=$(ls -d "$tmp"/src/umapc-*)
for f in meson.build meson.options pyproject.toml README.md src include python/umapc; do
    [ -e "$src/$f" ] || { echo "package: the sdist lacks $f"; exit 1; }
done
offline=(env PIP_NO_INDEX=1)
if unshare -rn true 2> /dev/null; then
    offline=(unshare -rn env PIP_NO_INDEX=1)
fi
(cd "$src" && "${offline[@]}" python -m pip wheel -q --no-index --no-build-isolation --no-deps \
    -w "$tmp/offline" . > "$tmp/offline.log" 2>&1) || {
    tail -n 60 "$tmp/offline.log"
    echo "package: the sdist does not build offline"
    exit 1
}
echo "package: the sdist built a wheel offline (${offline[0]}) after $((SECONDS - start)) s"

# Each wheel into its own target, imported from outside the checkout (python/ has no extension).
for w in "$wheel" "$tmp"/offline/umapc-*.whl; do
    target="$tmp/target-$(basename "$(dirname "$w")")"
    python -m pip install -q --no-index --no-deps --target "$target" "$w"
    (cd "$tmp" && PYTHONPATH="$target" python -c "import umapc; umapc.UMAP" &&
        PYTHONPATH="$target" python "$root/.ci/wheel_smoke.py")
done
echo "package: done in $((SECONDS - start)) s"

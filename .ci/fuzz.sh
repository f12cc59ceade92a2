#!/usr/bin/env bash
# Fuzzing job: builds the libFuzzer targets in tests/fuzz (clang, ASan + UBSan, the whole library
# compiled in with each SIMD file under its own flags) and runs each one from its seed corpus for
# UMAPC_FUZZ_SECONDS (default 60) seconds. Any crash, sanitizer report, leak, timeout or
# out-of-memory fails the job; the input that caused it is left in $UMAPC_FUZZ_DIR/artifacts.
# The array target's corpus is then replayed at the lower SIMD levels, which a 60 s run at the
# best level does not reach.
# Budget: 4 minutes on 2 cores (measured 2.7 min: build 26 s, 2 x 61 s of fuzzing, replays 11 s;
# installing clang where it is absent adds about a minute); figures in docs/reliability.md.
#
# Longer local campaigns: UMAPC_FUZZ_SECONDS=3600 UMAPC_FUZZ_JOBS=2 .ci/fuzz.sh
# After a change to the index format: UMAPC_FUZZ_MAKE_CORPUS=1 .ci/fuzz.sh rewrites the seeds
# (tests/fuzz/make_corpus.c) before fuzzing; commit them.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
seconds=${UMAPC_FUZZ_SECONDS:-60}
jobs=${UMAPC_FUZZ_JOBS:-1}
parallel=()
[ "$jobs" -gt 1 ] && parallel=(-fork="$jobs")
dir=${UMAPC_FUZZ_DIR:-/tmp/fuzz-umapc}
targets=(fuzz_index_load fuzz_arrays)

if ! command -v clang > /dev/null; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get > /dev/null; then
        echo "fuzz: clang is missing and cannot be installed here (not root or no apt-get): skipped"
        exit 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends clang > /dev/null
fi

# The library without OpenMP (its pragmas are then ignored): the fuzzers call it with one thread,
# and libFuzzer's leak and timeout handling is simplest in a single-threaded process.
cflags=(-std=c11 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
    -fno-sanitize-recover=undefined -Wall -Wextra -Werror -Wno-unknown-pragmas
    -Wno-unused-parameter -Wno-unused-variable -Wno-unused-but-set-variable
    -fno-math-errno -ffp-contract=off -D_GNU_SOURCE -Iinclude -Isrc/core -Isrc/knn -Isrc/embed)
simd_flags() {
    case "$1" in
    *_avx2.c) echo "-mavx2 -mfma -mf16c" ;;
    *_avx512.c) echo "-mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma -mf16c" ;;
    *_vnni.c) echo "-mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni -mavx2 -mfma" ;;
    *_dotprod.c) echo "-march=armv8.2-a+dotprod" ;;
    *) echo "" ;;
    esac
}
# The same per-architecture file sets as meson.build.
sources=()
arch=$(uname -m)
for f in src/*/*.c; do
    case "$f" in
    *_avx2.c | *_avx512.c | *_vnni.c) [ "$arch" = x86_64 ] || continue ;;
    *_neon.c | *_dotprod.c) [ "$arch" = aarch64 ] || continue ;;
    esac
    sources+=("$f")
done

rm -rf "$dir/obj" "$dir/artifacts"
mkdir -p "$dir/obj" "$dir/artifacts"
pids=()
for f in "${sources[@]}"; do
    # shellcheck disable=SC2046 # the flags are words
    clang "${cflags[@]}" $(simd_flags "$f") -c "$f" -o "$dir/obj/$(basename "$f" .c).o" &
    pids+=($!)
    if [ ${#pids[@]} -ge 2 ]; then
        wait "${pids[0]}"
        pids=("${pids[@]:1}")
    fi
done
for p in "${pids[@]}"; do
    wait "$p"
done
for t in "${targets[@]}"; do
    clang "${cflags[@]}" -fsanitize=fuzzer "tests/fuzz/$t.c" "$dir"/obj/*.o -lm -o "$dir/$t"
done
if [ "${UMAPC_FUZZ_MAKE_CORPUS:-0}" = 1 ]; then
    clang "${cflags[@]}" tests/fuzz/make_corpus.c "$dir"/obj/*.o -lm -o "$dir/make_corpus"
    ASAN_OPTIONS=detect_leaks=1 "$dir/make_corpus" tests/fuzz/corpus
fi
echo "fuzz: built after $((SECONDS - start)) s"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
for t in "${targets[@]}"; do
    # New inputs go to a scratch copy, so the checked-in seed corpus stays as it is.
    work="$dir/corpus-$t"
    rm -rf "$work"
    mkdir -p "$work"
    cp "tests/fuzz/corpus/$t"/* "$work/"
    log="$dir/$t.log"
    t0=$SECONDS
    if ! "$dir/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
        "${parallel[@]}" -print_final_stats=1 -artifact_prefix="$dir/artifacts/" "$work" \
        > "$log" 2>&1; then
        status=1
        echo "fuzz: $t FAILED after $((SECONDS - t0)) s; log tail:"
        tail -n 60 "$log"
    fi
    # The final stats line; fork mode prints none, and its last "#N" status line counts instead.
    execs=$(grep -h "stat::number_of_executed_units" "$log" | awk '{print $2}' | tail -n 1 || true)
    [ -n "$execs" ] || execs=$(grep -o "^#[0-9]*" "$log" | tail -n 1 | tr -d '#' || true)
    echo "fuzz: $t: $execs executions in $((SECONDS - t0)) s, corpus $(ls "$work" | wc -l) inputs"
done

# Replays: every input the run kept, at each lower SIMD level this CPU has.
for level in scalar avx2; do
    if ! UMAPC_SIMD=$level "$dir/fuzz_arrays" -runs=0 "$dir/corpus-fuzz_arrays" \
        > "$dir/replay-$level.log" 2>&1; then
        status=1
        echo "fuzz: replay of fuzz_arrays at $level FAILED:"
        tail -n 60 "$dir/replay-$level.log"
    fi
done
if [ -n "$(ls -A "$dir/artifacts")" ]; then
    echo "fuzz: inputs that failed, to add to tests/fuzz/corpus as regression cases:"
    ls -l "$dir/artifacts"
fi
echo "fuzz: done in $((SECONDS - start)) s, status $status"
exit "$status"

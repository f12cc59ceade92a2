#!/usr/bin/env bash
# Sanitizer jobs, each in its own build folder under $UMAPC_SANITIZE_DIR (default /tmp/sanitize-umapc):
#   asan    the C tests (meson test) built by clang with AddressSanitizer + UndefinedBehaviorSanitizer,
#           OpenMP on. tests/python/test_c_library.py already runs them built by gcc; clang's
#           -fsanitize=undefined also checks float-to-int casts (gcc's leaves float-cast-overflow
#           out), which is where the fuzzers found most of their bugs.
#   tsan    the C tests built by clang with ThreadSanitizer and LLVM's OpenMP runtime (gcc's libgomp
#           is not instrumented, so every parallel region would look racy). libomp itself is not
#           instrumented either: ignore_noninstrumented_modules=1 drops reports from inside it, and
#           its OMPT tool libarcher tells TSan about OpenMP's barriers, locks and reductions. That
#           leaves no false positives (tests/c/tsan.supp stays empty; see the note there).
#   python  the whole Python test suite against an ASan + UBSan build (gcc) of the extension, in a
#           throwaway virtual environment.
# Usage: .ci/sanitize.sh [asan] [tsan] [python]   (no argument: all three)
# Installs what it needs (clang, libomp-dev: root and apt only; otherwise that job is skipped).
# Budget on 2 cores (measured figures in docs/reliability.md): asan 1.6 min, tsan 2 min, python
# 6.3 min (the whole suite); 14 minutes in all leaves room for a slower machine.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=${UMAPC_SANITIZE_DIR:-/tmp/sanitize-umapc}
jobs=("$@")
[ ${#jobs[@]} -gt 0 ] || jobs=(asan tsan python)
for job in "${jobs[@]}"; do
    case "$job" in
    asan | tsan | python | --job) ;;
    *) echo "usage: $0 [asan] [tsan] [python]" >&2; exit 2 ;;
    esac
done
mkdir -p "$dir"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

can_install() {
    [ "$(id -u)" -eq 0 ] && command -v apt-get > /dev/null
}

# clang and LLVM's OpenMP runtime (with libarcher); 0 when they are there.
need_clang_openmp() {
    local missing=()
    command -v clang > /dev/null || missing+=(clang)
    [ -n "$(archer_lib)" ] || missing+=(libomp-dev)
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! can_install; then
        echo "sanitize: ${missing[*]} missing and cannot be installed here (not root or no apt-get)"
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
    [ -n "$(archer_lib)" ]
}

archer_lib() {
    local lib
    for lib in /usr/lib/llvm-*/lib/libarcher.so; do
        [ -e "$lib" ] && { echo "$lib"; return; }
    done
}

need_meson() {
    if ! command -v meson > /dev/null || ! command -v ninja > /dev/null; then
        python -m pip install -q "meson>=1.3" ninja
    fi
}

# meson setup + build in $1 with the remaining arguments; the build log tail on failure.
build() {
    local b=$1
    shift
    rm -rf "$b"
    meson setup "$b" -Dpython=false -Dbuildtype=debugoptimized "$@" > "$b.setup.log" 2>&1 ||
        { tail -n 40 "$b.setup.log"; return 1; }
    ninja -C "$b" > "$b.ninja.log" 2>&1 || { tail -n 60 "$b.ninja.log"; return 1; }
}

job_asan() {
    need_clang_openmp || { echo "sanitize asan: skipped"; return 0; }
    need_meson
    local b=$dir/asan
    CC=clang build "$b" -Db_sanitize=address,undefined -Db_lundef=false -Dopenmp=enabled \
        -Dc_args=-fno-sanitize-recover=all
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 meson test -C "$b" --print-errorlogs \
        --num-processes 2
}

job_tsan() {
    need_clang_openmp || { echo "sanitize tsan: skipped"; return 0; }
    need_meson
    local b=$dir/tsan
    CC=clang build "$b" -Db_sanitize=thread -Db_lundef=false -Dopenmp=enabled
    # A report fails the test (TSan's exit code 66); TSan runs the tests 5-15 times slower.
    OMP_TOOL_LIBRARIES=$(archer_lib) \
        TSAN_OPTIONS="ignore_noninstrumented_modules=1 halt_on_error=0 exitcode=66 suppressions=$root/tests/c/tsan.supp" \
        meson test -C "$b" --print-errorlogs --num-processes 1 --timeout-multiplier 3
}

job_python() {
    need_meson
    local venv=$dir/venv
    local system_site
    system_site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    rm -rf "$venv"
    # A plain venv that reads the system's packages (numpy, scipy, pytest, ...) through a .pth
    # line: --system-site-packages would also run the system's .pth hooks, and an editable umapc
    # there would put its own loader in front of the build under test.
    python -m venv "$venv"
    local venv_site
    venv_site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$system_site" > "$venv_site/system-site.pth"
    "$venv/bin/python" -m pip install -q --no-build-isolation --no-deps \
        -Cbuild-dir="$dir/python-build" \
        -Csetup-args=-Db_sanitize=address,undefined -Csetup-args=-Db_lundef=false \
        -Csetup-args=-Dbuildtype=debugoptimized .
    # python is not instrumented, so the ASan runtime is preloaded (the extension links gcc's
    # libubsan itself), and libstdc++ with it: ASan finds __cxa_throw only in libraries loaded
    # before it starts, and matplotlib's C++ extensions throw. CPython leaks at exit: no leak
    # check. PYTHONMALLOC=malloc lets ASan see the objects' memory.
    export LD_PRELOAD ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 PYTHONMALLOC=malloc
    LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
    # The instrumented module must be the one imported, not the system's or the source tree's.
    local where
    where=$(cd /tmp && "$venv/bin/python" -c 'import umapc._core as c; print(c.__file__)')
    case "$where" in
    "$venv_site"/*) echo "sanitize python: testing $where" ;;
    *) echo "sanitize python: wrong umapc imported: $where"; return 1 ;;
    esac
    # test_c_library builds the C library with meson under the preload: that is the asan job's
    # work, done there without it. The soak test's flat-memory check reads RSS, which ASan's
    # quarantine of freed blocks moves by megabytes either way (2193 -> 2021 MiB over a run whose
    # window medians differed by +3.4 MiB; +0.03 MiB uninstrumented): it runs in the plain suite.
    # shellcheck disable=SC2086 # the extra arguments are words
    UMAPC_SKIP_SANITIZERS=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/python \
        --deselect tests/python/test_c_library.py \
        --deselect tests/python/test_soak.py::test_repeated_cycles_keep_memory_flat \
        --durations=10 ${UMAPC_SANITIZE_PYTEST_ARGS:-}
}

if [ "${1:-}" = --job ]; then
    "job_$2"
    exit 0
fi
# Each job in its own bash, where set -e still stops it at the first failure (inside an `if` it
# would not).
status=0
for job in "${jobs[@]}"; do
    start=$SECONDS
    if bash "$0" --job "$job"; then
        echo "sanitize $job: passed in $((SECONDS - start)) s"
    else
        echo "sanitize $job: FAILED after $((SECONDS - start)) s"
        status=1
    fi
done
exit "$status"

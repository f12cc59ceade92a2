"""Builds the C library on its own (no Python) and runs its C unit tests, plain and under
AddressSanitizer + UndefinedBehaviorSanitizer, so the README's single test command covers both."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("meson") is None
    or shutil.which("ninja") is None
    or not (ROOT / "meson.build").exists(),
    reason="meson/ninja or the source tree is not available",
)


def _meson_build_and_test(build_dir: Path, *options: str) -> None:
    env = dict(
        os.environ,
        ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1",
    )
    subprocess.run(
        ["meson", "setup", str(build_dir), "-Dpython=false", *options],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    build = subprocess.run(["ninja", "-C", str(build_dir)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-5000:] + build.stderr[-3000:]
    result = subprocess.run(
        ["meson", "test", "-C", str(build_dir), "--print-errorlogs", "--num-processes", "2"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]


def test_c_library_builds_and_passes_its_tests(tmp_path: Path) -> None:
    _meson_build_and_test(tmp_path / "build")
    lib = list((tmp_path / "build").glob("libumapc.so*"))
    assert lib, "shared library was not built"
    pc = tmp_path / "build" / "meson-private" / "umapc.pc"
    assert pc.exists(), "pkg-config file was not generated"


@pytest.mark.skipif(os.environ.get("UMAPC_SKIP_SANITIZERS") == "1", reason="disabled by env")
def test_c_tests_pass_under_sanitizers(tmp_path: Path) -> None:
    _meson_build_and_test(
        tmp_path / "build-asan",
        "-Db_sanitize=address,undefined",
        "-Db_lundef=false",
        "-Dbuildtype=debugoptimized",
    )

"""The installed package holds every module of the source tree (a module missing from
python/umapc/meson.build's install list imports from a source checkout but not once installed)."""

from __future__ import annotations

from pathlib import Path

import pytest

import umapc

SOURCE = Path(__file__).resolve().parents[2] / "python" / "umapc"


def test_every_source_module_is_installed() -> None:
    if not SOURCE.is_dir():
        pytest.skip("no source tree beside the tests")
    installed = {p.name for p in Path(umapc.__file__).parent.glob("*.py")}
    source = {p.name for p in SOURCE.glob("*.py")}
    assert source <= installed, f"not installed: {sorted(source - installed)}"


def test_meson_installs_every_source_module() -> None:
    build = SOURCE / "meson.build"
    if not build.is_file():
        pytest.skip("no source tree beside the tests")
    text = build.read_text()
    missing = [p.name for p in SOURCE.glob("*.py") if f"'{p.name}'" not in text]
    assert not missing, f"missing from python/umapc/meson.build: {missing}"

"""What the benchmarks share: writing a script's output into docs/benchmarks.md (one "## " section
per script) and naming the machine it ran on."""

from __future__ import annotations

import platform
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def replace_section(section: str) -> None:
    """Replace the section whose "## " heading starts ``section`` (or append it)."""
    heading = section.splitlines()[0] + "\n"
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n\n"
    start = text.find(heading)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section.rstrip("\n") + "\n" + ("" if end < 0 else text[end:])
    DOCS.write_text(text if text.endswith("\n") else text + "\n")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one), for the machine line."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM) in MiB; NaN where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def reset_peak_rss() -> None:
    """Make VmHWM restart from the current RSS, so data loading does not count (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass

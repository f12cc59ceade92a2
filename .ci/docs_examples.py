"""Runs every Python example of the docs' guide pages, each in a fresh interpreter and an empty
temporary folder, so that the pages stay true to the package.

Usage: python .ci/docs_examples.py [PAGE.md ...] (default: docs/getting-started.md and
docs/howto/*.md). A block right after a MyST comment line starting ``% docs_examples.py: not run``
is skipped (it needs a download); a block whose imports are not installed (BERTopic, scanpy) is
reported as skipped, so the job says what it did not check. Exit status: the number of failures.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(
    r"(?P<comment>^% docs_examples\.py: not run[^\n]*\n)?^```python\n(?P<code>.*?)^```", re.S | re.M
)
# Imports beyond umapc's dependencies (scanpy comes with the test extra, BERTopic with none): a
# block that needs one is skipped, and says so, where it is not installed.
OPTIONAL = ("bertopic", "scanpy")


def missing_module(code: str) -> str | None:
    import importlib.util

    for name in OPTIONAL:
        imported = re.search(rf"^\s*(import|from) {name}\b", code, re.M)
        if imported and importlib.util.find_spec(name) is None:
            return name
    return None


def main(argv: list[str]) -> int:
    pages = [Path(p) for p in argv] or [
        ROOT / "docs/getting-started.md",
        *sorted((ROOT / "docs/howto").glob("*.md")),
    ]
    failures = 0
    for page in pages:
        for number, match in enumerate(BLOCK.finditer(page.read_text()), 1):
            name = f"{page.relative_to(ROOT) if page.is_absolute() else page} example {number}"
            if match.group("comment"):
                print(f"skip {name}: marked not run")
                continue
            absent = missing_module(match.group("code"))
            if absent:
                print(f"skip {name}: {absent} is not installed")
                continue
            start = time.monotonic()
            with tempfile.TemporaryDirectory() as folder:
                proc = subprocess.run(
                    [sys.executable, "-c", match.group("code")],
                    cwd=folder,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
            took = time.monotonic() - start
            if proc.returncode == 0:
                print(f"ok   {name} ({took:.1f} s)")
            else:
                failures += 1
                print(f"FAIL {name} ({took:.1f} s)\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
    return failures


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

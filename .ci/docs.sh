#!/usr/bin/env bash
# Docs job: builds the Sphinx site (docs/) with warnings as errors, then runs the Python examples
# of the guide pages (.ci/docs_examples.py). The API reference is read from the installed umapc:
# .ci/run has installed it with the test extra by now, so only the docs extra's own requirements
# are installed here (no second build of the package); run alone on a machine without umapc, it
# installs ".[docs]". Budget: 3 minutes (measured on the 2-core machine, in the budget comment of
# .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
out=${UMAPC_DOCS_OUT:-build/docs-html}

# The docs extra's requirements, read from pyproject.toml (tomllib from Python 3.11, tomli before).
mapfile -t reqs < <(python - <<'PY'
try:
    import tomllib
except ImportError:
    import tomli as tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["optional-dependencies"]["docs"]))
PY
)
# Outside the source tree, so that "import umapc" can only find an installed package.
if (cd /tmp && python -c "import umapc" 2> /dev/null); then
    python -m pip install -q "${reqs[@]}"
else
    python -m pip install -q ".[docs]"
fi
echo "docs: requirements ready after $((SECONDS - start)) s"

rm -rf "$out"
python -m sphinx -W --keep-going -q -b html docs "$out"
echo "docs: site built in $out after $((SECONDS - start)) s"

python .ci/docs_examples.py
echo "docs: done in $((SECONDS - start)) s"

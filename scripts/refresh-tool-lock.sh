#!/usr/bin/env bash
# Refresh install/requirements.lock, the hashed lock from which safe-install itself is installed
# (see "Install safe-install itself" in README.md). It locks the runtime dependencies of
# pyproject.toml and its build backend (to build safe-install from a checkout without fetching
# anything unchecked), for CPython 3.11-3.14 on Linux (glibc, musl), macOS and Windows.
#
# The lock is written by safe-install's own `safe-install-tool lock` (only on-time files, by
# the default policy), then checked by its own `safe-install-tool guard` against the lock it
# replaces: a hash added to a release that was already locked must be on time, or the old lock
# is kept and the script fails. Needs the network (PyPI) and .venv (bash scripts/test.sh).
#
#   bash scripts/refresh-tool-lock.sh            # refresh in place
#   LOCK=/tmp/x.lock LOCK_INPUT=/tmp/x.in bash scripts/refresh-tool-lock.sh   # elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
lock=${LOCK:-install/requirements.lock}
input=${LOCK_INPUT:-install/requirements.in}
# pip 26 runs on 3.10 too, but newer httpx2 and platformdirs need 3.11: one lock cannot hold both
targets=3.11-3.14:*
# from PyPI alone: this machine's pip configuration (find-links, extra indexes, constraints) is
# left out, as in scripts/test.sh
clean=(env -u PIP_FIND_LINKS -u PIP_CONSTRAINT -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL
       PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1)
index=https://pypi.org/simple/
work=$(mktemp -d)
# the new lock is written next to the old one, so that the paths in its comments ("via the
# user (requirements.in:3)") are relative to where it ends up
new="$(dirname "$lock")/.$(basename "$lock").new"
trap 'rm -rf "$work" "$new"' EXIT

# the requirements: pyproject's [project].dependencies and [build-system].requires
mkdir -p "$(dirname "$input")" "$(dirname "$lock")"
"$venv/bin/python" - pyproject.toml >"$input" <<'PY'
import sys
try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
with open(sys.argv[1], "rb") as f:
    data = tomllib.load(f)
print("# What install/requirements.lock locks: pyproject.toml's [project].dependencies and")
print("# [build-system].requires. Written by scripts/refresh-tool-lock.sh; do not edit.")
for req in [*data["project"]["dependencies"], *data["build-system"]["requires"]]:
    print(req)
PY

"${clean[@]}" "$venv/bin/safe-install-tool" lock --quiet -i "$index" --targets "$targets" \
    -r "$input" --output-requirements "$new" --output-pylock ''

if [[ -f "$lock" ]]; then
  "${clean[@]}" "$venv/bin/safe-install-tool" guard -i "$index" --targets "$targets" \
      "$lock" "$new"
fi
{
  echo "# safe-install's own runtime dependencies and build backend, hash-pinned and checked."
  echo "# Written by scripts/refresh-tool-lock.sh (safe-install-tool lock, then guard); do not"
  echo "# edit. Install: pip install --require-hashes -r install/requirements.lock"
  echo "# (see \"Install safe-install itself\" in README.md)."
  cat "$new"
} >"$work/final.lock"
mv "$work/final.lock" "$lock"
echo "refresh-tool-lock: wrote $lock" >&2

#!/usr/bin/env bash
# Set up .venv from scratch and run every check: ruff, mypy --strict, and the whole test suite
# (hermetic tests on a local index, plus the tests marked `network` against the real PyPI).
# This machine's pip configuration is neutralised for the set-up so it is the same everywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
clean=(env -u PIP_FIND_LINKS -u PIP_CONSTRAINT -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL
       PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1)
python3 -m venv .venv
"${clean[@]}" .venv/bin/python -m pip install --quiet --upgrade pip
"${clean[@]}" .venv/bin/python -m pip install --quiet -e '.[test]'
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy

# -- PostgreSQL for the state-store tests (issue 5) -------------------------------------------
# Self-contained and idempotent: installs Debian's postgresql when it is missing (as root; CI is
# a fresh Debian 12), starts a throwaway cluster that listens only on a Unix socket in a
# temporary directory, creates a database and exports its URL as SAFE_INSTALL_TEST_POSTGRES_URL.
# The cluster is stopped and deleted when this script exits. An already exported URL is used
# as is. When no server can be started the PostgreSQL tests skip and say why.
start_test_postgres() {
  [[ -n "${SAFE_INSTALL_TEST_POSTGRES_URL:-}" ]] && return 0
  local bindir port=5433 runas=()
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -z "$bindir" || ! -x "$bindir/pg_ctl" ]]; then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
      echo "test.sh: PostgreSQL is not installed and cannot be (not root/Debian);" \
           "its tests will skip" >&2
      return 0
    fi
    echo "test.sh: installing PostgreSQL (Debian package postgresql)" >&2
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
           && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >/dev/null; then
      echo "test.sh: apt-get install postgresql failed; the PostgreSQL tests will skip" >&2
      return 0
    fi
    bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  # in /tmp, not $TMPDIR: the server's user must be able to reach its socket directory
  PG_TEST_DIR=$(mktemp -d /tmp/safe-install-pg.XXXXXX)
  if [[ $(id -u) -eq 0 ]]; then  # initdb refuses to run as root
    runas=(runuser -u postgres --)
    if ! chown postgres: "$PG_TEST_DIR"; then
      echo "test.sh: no 'postgres' user to run PostgreSQL as; its tests will skip" >&2
      rm -rf "$PG_TEST_DIR"
      return 0
    fi
  fi
  trap stop_test_postgres EXIT
  if ! "${runas[@]}" "$bindir/initdb" -D "$PG_TEST_DIR/data" -A trust -U postgres -E UTF8 \
         --no-sync >"$PG_TEST_DIR/initdb.log" 2>&1 \
     || ! "${runas[@]}" "$bindir/pg_ctl" -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/server.log" \
         -o "-k $PG_TEST_DIR -c listen_addresses='' -p $port -c fsync=off" -w -t 60 start \
         >/dev/null \
     || ! "${runas[@]}" "$bindir/createdb" -h "$PG_TEST_DIR" -p "$port" -U postgres \
         safe_install_test; then
    echo "test.sh: could not start PostgreSQL; the PostgreSQL tests will skip:" >&2
    tail -n 5 "$PG_TEST_DIR"/*.log >&2 || true
    return 0
  fi
  PG_TEST_CTL=("${runas[@]}" "$bindir/pg_ctl" -D "$PG_TEST_DIR/data")
  export SAFE_INSTALL_TEST_POSTGRES_URL="postgresql://postgres@/safe_install_test?host=$PG_TEST_DIR&port=$port"
  echo "test.sh: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') for the tests" \
       "at $SAFE_INSTALL_TEST_POSTGRES_URL" >&2
}
stop_test_postgres() {
  if [[ -n "${PG_TEST_CTL+x}" ]]; then
    "${PG_TEST_CTL[@]}" -m fast -w stop >/dev/null 2>&1 || true
  fi
  [[ -n "${PG_TEST_DIR:-}" ]] && rm -rf "$PG_TEST_DIR"
  return 0
}
start_test_postgres

.venv/bin/python -m pytest -m "network or not network" "$@"

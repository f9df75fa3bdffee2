#!/usr/bin/env bash
# Sets up a fresh clone: checks Python 3.11+, Java 17+ and Maven, installs kcat and
# PostgreSQL where missing, creates .venv
# and installs the project with its test extras. Re-running is cheap: the
# install is skipped while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is required: $2" >&2; exit 1; }; }

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      PYTHON="$candidate"; break
    fi
  done
fi
[ -n "$PYTHON" ] || { echo "error: Python 3.11 or newer is required (install python3.11)" >&2; exit 1; }
need java "install a Java 17+ runtime (e.g. openjdk-17-jre-headless)"
need mvn "install Maven (e.g. the maven package); it fetches the Kafka jars"

# Debian's package $1, installed when apt-get is there (as root, or through sudo
# without a password), with one `apt-get update` and a second try if the first fails.
apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  local as_root=""
  [ "$(id -u)" -eq 0 ] || as_root="sudo -n"
  echo "==> installing $1 (apt-get install $1)"
  $as_root apt-get install -y -qq "$1" >/dev/null 2>&1 ||
    { $as_root apt-get update -qq >/dev/null 2>&1 && $as_root apt-get install -y -qq "$1" >/dev/null 2>&1; }
}

# kcat: the ordinary Kafka tool the README shows analysts (and a test uses) to
# read the run-status topic.
if ! command -v kcat >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  apt_install kcat ||
    echo "warning: could not install kcat; install it to read topics by hand (tests that need it will fail)" >&2
fi
command -v kcat >/dev/null 2>&1 ||
  echo "warning: kcat is not installed (Debian/Ubuntu: apt-get install kcat; others: see its README); the test that reads the run-status topic with it will fail" >&2

# PostgreSQL: the projections' store at scale, and the tests run both stores against a
# throwaway cluster (tests/postgres.py: initdb and pg_ctl). Debian's server package
# when missing; the demo needs none (SQLite).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    apt_install postgresql ||
      echo "warning: could not install PostgreSQL; the PostgreSQL store's tests will fail (Debian/Ubuntu: apt-get install postgresql)" >&2
  else
    echo "warning: PostgreSQL is not installed (initdb not found); the PostgreSQL store's tests will fail" >&2
  fi
fi

# sqlite3: the README's recipe for querying the default projections' store (a test runs it).
if ! command -v sqlite3 >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  apt_install sqlite3 ||
    echo "warning: could not install sqlite3; the test of the README's SQLite recipe will fail" >&2
fi

# A venv whose creation failed half way (Debian without python3.X-venv) has a
# python but no pip: made again, and a clear error if it fails again.
if [ -x .venv/bin/python ] && ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv || { rm -rf .venv; echo "error: $PYTHON -m venv failed (Debian/Ubuntu: install the ${PYTHON##*/}-venv package)" >&2; exit 1; }
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing the project and its test tools into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

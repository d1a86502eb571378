#!/usr/bin/env bash
# Set everything up (idempotent), then run the whole test suite. Extra arguments go to pytest.
#   scripts/test.sh --fast   only what needs no Rasa and no browser (make test-fast): no Rasa model, no Chromium,
#                            in parallel over LINLI_TEST_WORKERS processes (default: one per core), one file per worker,
#                            the slowest files first (tests/conftest.py orders them; xdist must not reorder)
set -euo pipefail
cd "$(dirname "$0")/.."
# Bytecode is cached under .cache/pycache (git-ignored; nothing written into the shared venvs' folders), even when the
# environment sets PYTHONDONTWRITEBYTECODE: otherwise every worker recompiles and assertion-rewrites every test module
# and imported source file on each run (measured: collection 12.5 s → 4.7 s CPU per process).
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX="${PYTHONPYCACHEPREFIX:-$PWD/.cache/pycache}"
if [[ "${1:-}" == "--fast" ]]; then
  shift
  scripts/setup.sh --no-train
  exec .venv/bin/python -m pytest -m "not e2e and not rasa and not browser" -n "${LINLI_TEST_WORKERS:-auto}" \
    --dist loadfile --no-loadscope-reorder "$@"
fi
if [[ ! -x /usr/bin/chromium ]]; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "[test] installing Debian's chromium (and CJK fonts) for the browser tests" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) \
      || echo "[test] could not install chromium; browser tests will fail" >&2
  else
    echo "[test] /usr/bin/chromium is missing: install Debian's 'chromium' package for the browser tests" >&2
  fi
fi
scripts/setup.sh
# The whole suite runs on LINLI_TEST_WORKERS pytest-xdist workers (default 2; 1 = one process): one file per worker,
# slowest first; each worker that reaches an e2e module starts its own shared Rasa stack on free ports, so Rasa's
# start-up waits overlap with the other worker's tests (measured on 2 idle cores: ~16 min vs 25 min in one process).
if [[ "${LINLI_TEST_WORKERS:-2}" != 1 ]]; then
  exec .venv/bin/python -m pytest -n "${LINLI_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
fi
exec .venv/bin/python -m pytest "$@"

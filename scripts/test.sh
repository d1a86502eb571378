#!/usr/bin/env bash
# Set everything up (idempotent), then run the whole test suite. Extra arguments go to pytest.
#   scripts/test.sh --fast   only what needs no Rasa and no browser (make test-fast): no Rasa model, no Chromium,
#                            in parallel over LINLI_TEST_WORKERS processes (default: one per core), one file per worker
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--fast" ]]; then
  shift
  scripts/setup.sh --no-train
  exec .venv/bin/python -m pytest -m "not e2e and not rasa and not browser" -n "${LINLI_TEST_WORKERS:-auto}" --dist loadfile "$@"
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
exec .venv/bin/python -m pytest "$@"

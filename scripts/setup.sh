#!/usr/bin/env bash
# Idempotent setup: both Python environments (reinstalled only when their lock changes), the knowledge-base check,
# the offline embedding model, the database schema and the Rasa model (retrained only when its inputs change).
# Usage: scripts/setup.sh [--no-train]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TRAIN=1
[[ "${1:-}" == "--no-train" ]] && TRAIN=0

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[setup]\033[0m %s\n' "$*" >&2; exit 1; }

find_python() {  # find_python 3.10 → path of a working interpreter of that minor version
  local v=$1 cand
  for cand in "python$v" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python "/usr/bin/python$v" "/usr/local/bin/python$v"; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c "import sys, venv; assert sys.version_info[:2] == tuple(map(int, '$v'.split('.')))" 2>/dev/null; then
      command -v "$cand"; return 0
    fi
  done
  if command -v uv >/dev/null 2>&1 && cand=$(uv python find "$v" 2>/dev/null); then echo "$cand"; return 0; fi
  return 1
}

lock_hash() { cat "$@" | sha256sum | cut -c1-16; }

ensure_env() {  # ensure_env DIR PYVER LOCK [extra files hashed]
  local dir=$1 ver=$2 lock=$3; shift 3
  local want; want=$(lock_hash "$lock" "$@")
  if [[ -f "$dir/.linli-stamp" && "$(cat "$dir/.linli-stamp")" == "$want" ]]; then
    log "$dir is up to date"; return 0
  fi
  local py
  py=$(find_python "$ver") || die "Python $ver is required for $dir but was not found.
  Install it, e.g.:  pyenv install $ver   (or: uv python install $ver, or: apt-get install python$ver python$ver-venv)"
  log "creating $dir with $py (lock $lock)"
  rm -rf "$dir"
  "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip wheel 2>&1 | grep -v '^WARNING: Location' || true
  "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$lock" 2>&1 | grep -v '^WARNING: Location' || true
  "$dir/bin/python" -m pip check >/dev/null 2>&1 || log "note: pip check reports conflicts in $dir (see: $dir/bin/pip check)"
  echo "$want" > "$dir/.linli-stamp"
}

ensure_env .venv-rasa 3.10 requirements/rasa.lock
ensure_env .venv 3.11 requirements/app.lock pyproject.toml
# the bot package itself, editable (cheap; keeps entry points current)
if ! (cd / && "$ROOT/.venv/bin/python" -c "import bot, sys; sys.exit(0 if bot.__file__.startswith('$ROOT/') else 1)") 2>/dev/null; then
  .venv/bin/python -m pip install -q --no-deps -e . 2>&1 | grep -v -E '^(WARNING: Location|\s)' || true
fi

log "checking the knowledge base"
.venv/bin/python -m bot kb check
.venv/bin/python -m bot kb userdict --check || die "knowledge_base/jieba/userdict.txt is stale: run .venv/bin/python -m bot kb userdict"

log "preparing the offline embedding model (and its ONNX export, fp32 + int8)"
.venv/bin/python -m bot model convert

log "upgrading the database schema"
.venv/bin/python -m bot db upgrade

if [[ $TRAIN == 1 ]]; then
  scripts/train.sh
fi

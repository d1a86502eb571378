#!/usr/bin/env bash
# Idempotent setup: both Python environments (reinstalled only when their lock changes), the knowledge-base check,
# the offline embedding model, the database schema and the Rasa model (retrained only when its inputs change).
# The engine side (.venv-rasa, then the Rasa training, which needs nothing else) runs in the background, its lines
# tagged [rasa], while the app side (.venv, tagged [app], then the KB check, model and schema) runs here: from
# scratch the two environments and the training overlap instead of following one another.
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
  # --no-compile: byte-compiling every installed file cost 54 s of CPU (28 000 files, both envs), and the tests never
  # read those .pyc files (scripts/test.sh keeps bytecode under .cache/pycache); a module is compiled when first imported
  "$dir/bin/python" -m pip install -q --disable-pip-version-check --no-compile --upgrade pip wheel 2>&1 | grep -v '^WARNING: Location' || true
  "$dir/bin/python" -m pip install -q --disable-pip-version-check --no-compile -r "$lock" 2>&1 | grep -v '^WARNING: Location' || true
  "$dir/bin/python" -m pip check >/dev/null 2>&1 || log "note: pip check reports conflicts in $dir (see: $dir/bin/pip check)"
  echo "$want" > "$dir/.linli-stamp"
}

tagged() {  # tagged TAG CMD... → run CMD with each of its output lines (stdout and stderr) on stderr after TAG
  local tag=$1; shift
  ("$@") 2>&1 | sed -u "s/^/$tag /" >&2
}
engine_side() {
  ensure_env .venv-rasa 3.10 requirements/rasa.lock
  if [[ $TRAIN == 1 ]]; then scripts/train.sh; fi
}
kill_tree() {  # kill_tree PID → that process and everything it started (a failed app side stops the engine side)
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}
tagged '[rasa]' engine_side &
ENGINE=$!
trap '[[ -z ${ENGINE:-} ]] || kill_tree "$ENGINE"' EXIT
tagged '[app] ' ensure_env .venv 3.11 requirements/app.lock pyproject.toml
# the bot package itself, editable (cheap; keeps entry points current)
if ! (cd / && "$ROOT/.venv/bin/python" -c "import bot, sys; sys.exit(0 if bot.__file__.startswith('$ROOT/') else 1)") 2>/dev/null; then
  .venv/bin/python -m pip install -q --no-deps -e . 2>&1 | grep -v -E '^(WARNING: Location|\s)' || true
fi

# The three steps below are no-ops when nothing changed, but each is a Python process (~3 s of CPU together on the
# critical path of make test-fast). Each one's stamp is a fingerprint of its inputs and outputs as it left them (names,
# sizes and mtimes, the LINLI_* environment, .env, the app env's lock): an unchanged fingerprint skips the step, any
# change (a KB file, the code, the model folder, the database file, a setting) runs it again.
STAMPS=$ROOT/var/.setup-stamps
KB_DIR=${LINLI_KB_DIR:-knowledge_base}
CACHE_DIR=${LINLI_CACHE_DIR:-.cache}
fingerprint() {  # fingerprint PATH... → hash of the listed trees (a missing one counts too) and the settings
  {
    env | { grep -i '^linli_' || true; } | sort
    cat .env .venv/.linli-stamp 2>/dev/null || true
    local p
    for p in "$@"; do
      if [[ -e $p ]]; then find "$p" -name __pycache__ -prune -o -printf '%p %s %T@\n'; else echo "missing $p"; fi
    done | sort
  } | sha256sum | cut -c1-32
}
unchanged() {  # unchanged NAME PATH... → true when step NAME last succeeded and nothing listed changed since
  [[ -f $STAMPS/$1 && "$(cat "$STAMPS/$1")" == "$(fingerprint "${@:2}")" ]]
}
stamp() { mkdir -p "$STAMPS" && fingerprint "${@:2}" > "$STAMPS/$1"; }

KB_INPUTS=("$KB_DIR" bot linli_common)
if unchanged kb "${KB_INPUTS[@]}"; then
  log "knowledge base unchanged since its last check"
else
  log "checking the knowledge base"
  .venv/bin/python -m bot kb check
  .venv/bin/python -m bot kb userdict --check || die "knowledge_base/jieba/userdict.txt is stale: run .venv/bin/python -m bot kb userdict"
  stamp kb "${KB_INPUTS[@]}"
fi

MODEL_INPUTS=("$CACHE_DIR/models" bot linli_common)
if unchanged model "${MODEL_INPUTS[@]}"; then
  log "offline embedding model (and its ONNX export) unchanged"
else
  log "preparing the offline embedding model (and its ONNX export, fp32 + int8)"
  .venv/bin/python -m bot model convert
  stamp model "${MODEL_INPUTS[@]}"
fi

# the texts the assistant learns from (scope probe, gate, matters) are encoded once per model and cached: done here,
# so the first test worker or action server on a fresh machine does not spend minutes on it
WARM_INPUTS=("$CACHE_DIR/models" "$CACHE_DIR"/index* "$KB_DIR" bot tests/data)
if unchanged warm "${WARM_INPUTS[@]}"; then
  log "assistant caches unchanged"
else
  log "warming the assistant's caches (search index, scope probe)"
  .venv/bin/python -m bot index warm
  stamp warm "${WARM_INPUTS[@]}"
fi

# only an SQLite file can be fingerprinted; another database (LINLI_DATABASE_URL, here or in .env) is always upgraded
DB_URL=${LINLI_DATABASE_URL:-}
if [[ -z $DB_URL && -f .env ]]; then
  DB_URL=$(sed -n 's/^LINLI_DATABASE_URL=//p' .env | tail -1 | tr -d "\"'")
fi
DB_FILE=""
if [[ -z $DB_URL ]]; then
  DB_FILE=${LINLI_VAR_DIR:-var}/linli.db
elif [[ $DB_URL == sqlite:///* ]]; then
  DB_FILE=${DB_URL#sqlite:///}
fi
DB_INPUTS=("$DB_FILE" "$DB_FILE-wal" "$KB_DIR" bot linli_common)
if [[ -n $DB_FILE ]] && unchanged db "${DB_INPUTS[@]}"; then
  log "database schema unchanged since its last upgrade"
else
  log "upgrading the database schema"
  .venv/bin/python -m bot db upgrade
  [[ -z $DB_FILE ]] || stamp db "${DB_INPUTS[@]}"
fi

wait "$ENGINE" || { ENGINE=""; die "the engine side (.venv-rasa or the Rasa training) failed: see the [rasa] lines above"; }
ENGINE=""

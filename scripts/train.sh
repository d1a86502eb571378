#!/usr/bin/env bash
# Train the Rasa model only when its inputs (config, domain, NLU data, jieba dictionary, pipeline addons, the
# shared rules they import from linli_common/, rasa lock) changed; rasa_addons/lock_store.py is a server component,
# not a training input.
# Serialised with the same lock as tests/stack.py; trains into a temp folder and moves the model into place
# atomically, so a running server never reads half a file.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p models
exec 9>models/.train.lock
flock 9
inputs=$(find config.yml domain.yml nlu_data knowledge_base/jieba rasa_addons linli_common -type f \( -name '*.yml' -o -name '*.yaml' -o -name '*.txt' -o -name '*.py' \) -not -name lock_store.py 2>/dev/null | LC_ALL=C sort)
want=$(cat $inputs requirements/rasa.lock | sha256sum | cut -c1-16)
if [[ -f models/linli.tar.gz && -f models/.linli-stamp && "$(cat models/.linli-stamp)" == "$want" ]]; then
  echo "[train] model is up to date ($want)" >&2; exit 0
fi
echo "[train] training the Rasa model (inputs $want)…" >&2
start=$(date +%s)
tmp=$(mktemp -d models/.train-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
PYTHONWARNINGS=ignore TF_CPP_MIN_LOG_LEVEL=3 .venv-rasa/bin/rasa train --data nlu_data --config config.yml --domain domain.yml --out "$tmp" --fixed-model-name linli --quiet
mv -f "$tmp/linli.tar.gz" models/linli.tar.gz
echo "$want" > models/.linli-stamp
echo "[train] done in $(( $(date +%s) - start ))s" >&2

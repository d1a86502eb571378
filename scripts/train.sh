#!/usr/bin/env bash
# Train the Rasa model only when its inputs (config, domain, NLU data, jieba dictionary) changed.
set -euo pipefail
cd "$(dirname "$0")/.."
inputs=$(find config.yml domain.yml nlu_data knowledge_base/jieba -type f | LC_ALL=C sort)
want=$(cat $inputs requirements/rasa.lock | sha256sum | cut -c1-16)
if [[ -f models/linli.tar.gz && -f models/.linli-stamp && "$(cat models/.linli-stamp)" == "$want" ]]; then
  echo "[train] model is up to date ($want)" >&2; exit 0
fi
echo "[train] training the Rasa model (inputs $want)…" >&2
start=$(date +%s)
.venv-rasa/bin/rasa train --data nlu_data --config config.yml --domain domain.yml --out models --fixed-model-name linli --quiet
echo "$want" > models/.linli-stamp
echo "[train] done in $(( $(date +%s) - start ))s" >&2

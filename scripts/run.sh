#!/usr/bin/env bash
# Run the whole assistant on this machine: action server, Rasa (REST + web chat, Telegram when TELEGRAM_TOKEN is set,
# WeChat when WECHAT_APP_ID and WECHAT_TOKEN are set)
# and the committee inbox. Sets everything up first (idempotent). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

umask 077  # tokens, the SQLite database and the logs: owner-only
mkdir -p var
chmod 700 var
# Secrets travel in the environment, never on a command line (`ps` shows those to every local user).
# LINLI_RASA_TOKEN: Rasa's HTTP API and the inbox (status pushes); LINLI_ACTION_TOKEN: Rasa -> action server.
# Generated once, kept in var/ (mode 0600).
secret() {
  [[ -s "var/$1" ]] || .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(24))" > "var/$1"
  chmod 600 "var/$1"
  cat "var/$1"
}
LINLI_RASA_TOKEN=${LINLI_RASA_TOKEN:-$(secret rasa_token)}
LINLI_ACTION_TOKEN=${LINLI_ACTION_TOKEN:-$(secret action_token)}
export LINLI_RASA_TOKEN LINLI_ACTION_TOKEN
chmod 600 var/*.db var/*.db-* var/*.log 2>/dev/null || true
RASA_PORT=${RASA_PORT:-5005}
ACTION_PORT=${LINLI_ACTION_PORT:-5055}
INBOX_PORT=${LINLI_INBOX_PORT:-8000}
export LINLI_RASA_URL=${LINLI_RASA_URL:-http://127.0.0.1:$RASA_PORT}
export ACTION_ENDPOINT_URL=${ACTION_ENDPOINT_URL:-http://127.0.0.1:$ACTION_PORT/webhook}

pids=()
cleanup() {
  trap - INT TERM HUP EXIT
  echo; echo "[run] stopping…" >&2
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM HUP EXIT

LINLI_ACTION_PORT=$ACTION_PORT .venv/bin/python -m actions.serve > var/actions.log 2>&1 &
pids+=($!)
.venv/bin/python -m bot inbox serve --host 127.0.0.1 --port "$INBOX_PORT" > var/inbox.log 2>&1 &
pids+=($!)
.venv-rasa/bin/python -m rasa_addons.run run --enable-api -i 127.0.0.1 -p "$RASA_PORT" \
  -m models/linli.tar.gz --credentials credentials.yml --endpoints endpoints.yml --cors "http://127.0.0.1:$RASA_PORT" \
  > var/rasa.log 2>&1 &
pids+=($!)

echo "[run] waiting for the servers…" >&2
for _ in $(seq 1 180); do
  if curl -sf "http://127.0.0.1:$RASA_PORT/" >/dev/null && curl -sf "http://127.0.0.1:$ACTION_PORT/health" >/dev/null; then break; fi
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "[run] a server exited; see var/*.log" >&2; tail -n 20 var/*.log >&2; exit 1; }; done
  sleep 1
done
cat >&2 <<MSG
[run] linli 邻里 is running:
  REST webhook   http://127.0.0.1:$RASA_PORT/webhooks/rest/webhook
  web chat       http://127.0.0.1:$RASA_PORT/webhooks/webchat/
  committee inbox http://127.0.0.1:$INBOX_PORT/   (create a user: .venv/bin/python -m bot inbox adduser NAME --committee ID)
  Telegram       $([[ -n "${TELEGRAM_TOKEN:-}" ]] && echo "enabled (${TELEGRAM_WEBHOOK_URL:-polling})" || echo "off (set TELEGRAM_TOKEN)")
  WeChat         $([[ -n "${WECHAT_APP_ID:-}" && -n "${WECHAT_TOKEN:-}" ]] && echo "enabled ($([[ -n "${WECHAT_ENCODING_AES_KEY:-}" ]] && echo safe || echo plaintext) mode): callback http://127.0.0.1:$RASA_PORT/webhooks/wechat/webhook (publish it over https)" || echo "off (set WECHAT_APP_ID, WECHAT_APP_SECRET, WECHAT_TOKEN)")
  logs           var/rasa.log var/actions.log var/inbox.log
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}"
echo "[run] a server exited; see var/*.log" >&2
exit 1

#!/usr/bin/env bash
# Run the whole assistant on this machine: action server, Rasa (REST + web chat, Telegram when TELEGRAM_TOKEN is set,
# WeChat when WECHAT_APP_ID and WECHAT_TOKEN are set)
# and the committee inbox. Sets everything up first (idempotent). Ctrl-C stops everything.
# The terminal shows progress, the URLs and errors; every server's and the setup's full output goes to var/log/.
set -euo pipefail
cd "$(dirname "$0")/.."

umask 077  # tokens, the SQLite database and the logs: owner-only
mkdir -p var/log
chmod 700 var var/log
LOG=var/log
quiet() { python3 scripts/console.py "$1"; }  # keep the log, show progress and errors only

echo "[run] setting up (details: $LOG/setup.log)…" >&2
: > "$LOG/setup.log"
if ! scripts/setup.sh 2>&1 | quiet "$LOG/setup.log"; then
  echo "[run] setup failed; the last lines of $LOG/setup.log:" >&2
  tail -n 15 "$LOG/setup.log" >&2
  exit 1
fi
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
chmod 600 var/*.db var/*.db-* "$LOG"/*.log 2>/dev/null || true
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

LINLI_ACTION_PORT=$ACTION_PORT .venv/bin/python -m actions.serve > "$LOG/actions.log" 2>&1 &
pids+=($!)
.venv/bin/python -m bot inbox serve --host 127.0.0.1 --port "$INBOX_PORT" > "$LOG/inbox.log" 2>&1 &
pids+=($!)
.venv-rasa/bin/python -m rasa_addons.run run --enable-api -i 127.0.0.1 -p "$RASA_PORT" \
  -m models/linli.tar.gz --credentials credentials.yml --endpoints endpoints.yml --cors "http://127.0.0.1:$RASA_PORT" \
  > "$LOG/rasa.log" 2>&1 &
pids+=($!)

# a server that stopped: say which, and show the errors of its log (the full log stays in var/log/)
exited() {
  local name
  for name in actions inbox rasa; do
    if ! kill -0 "${pid_of[$name]}" 2>/dev/null; then
      echo "[run] the $name server exited; errors from $LOG/$name.log:" >&2
      tail -n 200 "$LOG/$name.log" | python3 -c 'import sys; sys.path.insert(0, "scripts"); from console import shown; [sys.stdout.write(l) for l in sys.stdin if shown(l)]' | tail -n 15 >&2
    fi
  done
}
declare -A pid_of=([actions]=${pids[0]} [inbox]=${pids[1]} [rasa]=${pids[2]})

echo "[run] starting the servers (loading the model takes a minute)…" >&2
ready=0 deadline=$((SECONDS + ${LINLI_START_TIMEOUT:-900}))  # a loaded machine can take minutes to load the model
while (( SECONDS < deadline )); do
  if curl -sf "http://127.0.0.1:$RASA_PORT/" >/dev/null && curl -sf "http://127.0.0.1:$ACTION_PORT/health" >/dev/null \
     && curl -sf "http://127.0.0.1:$INBOX_PORT/healthz" >/dev/null; then ready=1; break; fi
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { exited; exit 1; }; done
  sleep 1
done
[[ $ready == 1 ]] || { echo "[run] the servers did not answer within ${LINLI_START_TIMEOUT:-900} s; see $LOG/" >&2; exit 1; }
cat >&2 <<MSG
[run] linli 邻里 is running:
  REST webhook   http://127.0.0.1:$RASA_PORT/webhooks/rest/webhook
  web chat       http://127.0.0.1:$RASA_PORT/webhooks/webchat/
  committee inbox http://127.0.0.1:$INBOX_PORT/   (create a user: .venv/bin/python -m bot inbox adduser NAME --committee ID)
  Telegram       $([[ -n "${TELEGRAM_TOKEN:-}" ]] && echo "enabled (${TELEGRAM_WEBHOOK_URL:-polling})" || echo "off (set TELEGRAM_TOKEN)")
  WeChat         $([[ -n "${WECHAT_APP_ID:-}" && -n "${WECHAT_TOKEN:-}" ]] && echo "enabled ($([[ -n "${WECHAT_ENCODING_AES_KEY:-}" ]] && echo safe || echo plaintext) mode): callback http://127.0.0.1:$RASA_PORT/webhooks/wechat/webhook (publish it over https)" || echo "off (set WECHAT_APP_ID, WECHAT_APP_SECRET, WECHAT_TOKEN)")
  logs           $LOG/rasa.log $LOG/actions.log $LOG/inbox.log (setup: $LOG/setup.log)
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}" || true
exited
exit 1

"""Security evidence: no personal data in any log, Rasa's HTTP API only with its token, no secrets in the tree.

The committee inbox's own authorization matrix is ``tests/test_inbox_authz.py``.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.stack import APP_PYTHON, REPO, _stop, _wait, free_port, running_stack

NAME, PHONE = "王建国", "13912345678"
TRACKING = re.compile(r"YS-\d{8}-\d{4,}")


@pytest.fixture(scope="module")
def system():
    """Action server + Rasa + committee inbox on one SQLite store, every process logging to a file."""
    with tempfile.TemporaryDirectory(prefix="linli-sec-") as tmp:
        work = Path(tmp)
        env_db = {"LINLI_DATABASE_URL": f"sqlite:///{work / 'sec.db'}", "LINLI_VAR_DIR": str(work), "LINLI_LOG_LEVEL": "INFO"}
        with running_stack(extra_env=env_db) as stack:
            env = dict(os.environ) | env_db | {"LINLI_RASA_URL": stack.rasa_url, "LINLI_RASA_TOKEN": stack.token,
                                               "LINLI_INBOX_SECRET_KEY": secrets.token_hex(32),
                                               "LINLI_NOTIFY_BACKOFF_SECONDS": "0.5"}
            password = secrets.token_urlsafe(12)
            add = subprocess.run([str(APP_PYTHON), "-m", "bot", "inbox", "adduser", "sec-admin", "--admin", "--password-stdin"],
                                 input=password + "\n", text=True, capture_output=True, cwd=REPO, env=env, timeout=300)
            assert add.returncode == 0, add.stderr
            port = free_port()
            inbox_log = work / "inbox.log"
            with open(inbox_log, "wb") as log:
                inbox = subprocess.Popen([str(APP_PYTHON), "-m", "bot", "inbox", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                         cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                _wait(f"http://127.0.0.1:{port}/healthz", inbox, inbox_log, time.monotonic() + 180)
                stack.logs["inbox"] = inbox_log
                yield stack, f"http://127.0.0.1:{port}", password
            finally:
                _stop(inbox)


# ---- Rasa's HTTP API -----------------------------------------------------------------------------------

API_CALLS = [
    ("GET", "/conversations/sec-x/tracker", None),
    ("GET", "/conversations/sec-x/story", None),
    ("POST", "/conversations/sec-x/trigger_intent", {"name": "greet"}),
    ("POST", "/conversations/sec-x/messages", {"text": "你好", "sender": "user"}),
    ("POST", "/conversations/sec-x/tracker/events", [{"event": "slot", "name": "tracking_number", "value": "x"}]),
    ("POST", "/model/parse", {"text": "你好"}),
    ("GET", "/status", None),
    ("GET", "/domain", None),
]


@pytest.mark.e2e
@pytest.mark.parametrize("method,path,body", API_CALLS, ids=[f"{m} {p}" for m, p, _ in API_CALLS])
def test_rasa_http_api_only_with_its_token(system, method, path, body):
    stack = system[0]
    url = stack.rasa_url + path
    with httpx.Client(timeout=60) as c:
        anonymous = c.request(method, url, json=body)
        wrong = c.request(method, url, json=body, params={"token": "not-" + stack.token})
        right = c.request(method, url, json=body, params={"token": stack.token},
                          headers={"Accept": "application/json"})
    assert anonymous.status_code == 401, anonymous.text[:200]
    assert wrong.status_code in (401, 403), wrong.text[:200]
    assert right.status_code == 200, right.text[:200]


@pytest.mark.e2e
def test_public_rasa_routes_leak_nothing(system):
    """Only the health line and the channel webhooks answer without a token."""
    stack = system[0]
    r = httpx.get(stack.rasa_url + "/", timeout=30)
    assert r.status_code == 200 and "Hello from Rasa" in r.text
    assert stack.token not in r.text


# ---- personal data in logs -----------------------------------------------------------------------------

def _grep_personal_data(logs: dict[str, Path]) -> list[str]:
    needles = [PHONE, "139 1234 5678", "139-1234-5678", NAME, NAME[1:]]
    hits = []
    for name, path in logs.items():
        text = path.read_text(errors="replace") if path.exists() else ""
        for ln in text.splitlines():
            if any(n in ln for n in needles):
                hits.append(f"{name}: {ln[:300]}")
    return hits


@pytest.mark.e2e
def test_contact_data_never_reaches_any_log(system):
    stack, inbox_url, password = system
    sender = f"sec-{secrets.token_hex(4)}"
    # a question that carries contact data (retrieval + feedback paths), then a consultation with contact
    stack.rest(sender, f"我叫{NAME}，电话{PHONE}，想问问老年人助餐怎么申请")
    steps = ["我要发起议事协商", f"楼道灯坏了一个月没人修，晚上很黑，请联系{NAME}，电话{PHONE}",
             '/inform{"community":"xingfu"}', '/inform{"contact_choice":"contact"}', "/affirm", NAME, PHONE, "/affirm"]
    replies = [stack.rest(sender, s) for s in steps]
    told = TRACKING.findall(" ".join(m.get("text", "") for m in replies[-1]))
    assert told, f"no tracking number after the form: {replies}"
    tn = told[0]
    assert PHONE not in " ".join(m.get("text", "") for r in replies for m in r), "the summary must show the phone masked"

    with httpx.Client(base_url=inbox_url, timeout=60, follow_redirects=False) as c:
        page = c.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        login = c.post("/login", data={"username": "sec-admin", "password": password, "csrf_token": csrf, "next": "/"})
        assert login.status_code in (302, 303), login.text[:300]
        # a member looks the resident up by phone and by name, opens the item, accepts it with a note naming them
        for q in (PHONE, NAME):
            found = c.get("/consultations", params={"q": q})
            assert found.status_code == 200 and tn in found.text
        detail = c.get(f"/consultations/{tn}")
        assert detail.status_code == 200
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', detail.text).group(1)
        changed = c.post(f"/consultations/{tn}/status",
                         data={"to_status": "accepted", "note": f"已电话联系{NAME}（{PHONE}）", "csrf_token": csrf})
        assert changed.status_code in (302, 303), changed.text[:300]
    # the status push reaches the resident's conversation through Rasa's API
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        events = stack.tracker(sender)["events"]
        if any(e.get("event") == "user" and (e.get("parse_data") or {}).get("intent", {}).get("name") == "EXTERNAL_consultation_status"
               for e in events):
            break
        time.sleep(1)
    else:
        pytest.fail("the status push never reached Rasa")
    time.sleep(1)  # let the processes flush their last log lines
    hits = _grep_personal_data(stack.logs)
    assert not hits, "personal data in logs:\n" + "\n".join(hits[:20])


# ---- secrets only from the environment -------------------------------------------------------------------

SECRET_PATTERNS = [
    ("telegram bot token", re.compile(r"\b\d{8,10}:[A-Za-z0-9_-]{35}\b")),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("AWS key", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b")),
    ("URL with password", re.compile(r"\b[a-z+]+://[^/\s:@'\"]+:[^@\s'\"${}]{3,}@")),
    ("assigned secret", re.compile(r"(?i)\b(password|passwd|secret|secret_key|api_key|auth_token|token)\b\s*[:=]\s*['\"][^'\"\s${}]{8,}['\"]")),
    ("rasa --auth-token literal", re.compile(r"--auth-token[ =](?![\"']?\$)[A-Za-z0-9_-]{8,}")),
]
#: Test fixtures may hold throwaway credentials; production code and configuration may not.
SCANNED = re.compile(r"^(bot|actions|connectors|scripts|deploy|docs|bench)/|^[^/]+\.(ya?ml|toml|cfg|ini|sh|md|env)$|^Makefile$")


def _tree_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if (REPO / f).is_file()]


def test_no_hard_coded_secrets_in_the_tree():
    findings = []
    for rel in _tree_files():
        if not SCANNED.search(rel) or rel.endswith((".lock", ".png", ".ico", ".woff2")):
            continue
        text = (REPO / rel).read_text(errors="ignore")
        for what, pattern in SECRET_PATTERNS:
            for m in pattern.finditer(text):
                findings.append(f"{rel}: {what}: {m.group(0)[:60]}")
    assert not findings, "\n".join(findings)


def test_runtime_secrets_are_not_tracked():
    files = _tree_files()
    assert not [f for f in files if f == ".env" or f.startswith("var/") or f.endswith(("rasa_token", ".pem", ".key"))], files


def test_yaml_secrets_come_from_the_environment():
    """Every token/secret/password key in the deployment YAML is empty or a ${VAR} reference."""
    import yaml

    bad = []
    for rel in ("credentials.yml", "endpoints.yml", "deploy/endpoints.scaleout.yml"):
        path = REPO / rel
        if not path.exists():
            continue

        def walk(node, where):
            if isinstance(node, dict):
                for k, v in node.items():
                    if re.search(r"(?i)token|secret|password|api_key", str(k)) and v not in (None, ""):
                        if not (isinstance(v, str) and re.fullmatch(r"\$\{[A-Z0-9_]+\}", v.strip())):
                            bad.append(f"{rel}: {where}{k} = {v!r}")
                    walk(v, f"{where}{k}.")
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, f"{where}{i}.")

        walk(yaml.safe_load(path.read_text()) or {}, "")
    assert not bad, bad


def test_settings_secrets_default_to_empty(monkeypatch):
    from bot.settings import Settings

    for var in ("LINLI_RASA_TOKEN", "LINLI_INBOX_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    s = Settings(_env_file=None)
    for field in ("rasa_token", "inbox_secret_key"):
        assert getattr(s, field) == "", field

"""REST webhook latency: retrieval-answered vs utter-only messages, measured in the same run.

Starts the real stack (tests/stack.py: action server + Rasa on free loopback ports, temp SQLite),
warms it up, then interleaves three kinds of message so all see the same machine load: a question never asked
before (``retrieval_new``: each one distinct, from the dev set, so its query is really encoded), a question asked
again (``retrieval``: ten questions in turn, their query vectors cached by the action server), and a fixed reply. Then it shows
where a retrieval reply's extra milliseconds go, in the same run: the size of the action call Rasa sends
(tracker, domain), the action server's round trip for that very call posted directly, and in this process
``Assistant.ask`` and the query encode alone (cache bypassed).

    .venv/bin/python bench/bench_webhook.py [--n 40] [--backend onnx] [--workers 1] [--no-prefetch] [--timeline]

``--timeline``: both servers mark each step of a message (LINLI_TIMELINE, ``bench/timeline_report.py``) and the
report ends with each kind's median timeline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.stack import running_stack  # noqa: E402

RETRIEVAL = [
    "家里老人没人照看，社区能上门照顾吗",
    "在社区能办医保吗",
    "失业了去哪里登记",
    "孩子放学后没人管怎么办",
    "社工师的指标是多少",
    "残疾人康复找哪个部门",
    "普惠托育有什么条件",
    "村务公开规划里怎么说的",
    "退伍军人找工作有什么帮助",
    "老年食堂在哪里",
]
UTTER = ["你好", "谢谢", "你是机器人吗", "你能干什么", "再见"]


def new_questions(n: int, every: bool = False) -> list[str]:
    """``n`` distinct dev questions that are not among the repeated ones (never sent before in this run);
    ``every``: all of them."""
    import yaml

    path = Path(__file__).resolve().parent.parent / "tests" / "data" / "dev_questions.yml"
    qs = [q["q"] for q in yaml.safe_load(path.read_text(encoding="utf-8"))["questions"] if q["q"] not in RETRIEVAL]
    if every:
        return qs
    if len(qs) < n:
        raise SystemExit(f"--n {n}: only {len(qs)} distinct dev questions")
    return qs[:n]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="messages of each kind")
    ap.add_argument(
        "--backend", default=None, help="LINLI_EMBEDDING_BACKEND of the stack (default: the configured one)"
    )
    ap.add_argument("--workers", type=int, default=None, help="LINLI_ACTION_WORKERS of the stack")
    ap.add_argument(
        "--no-prefetch", action="store_true", help="channels do not announce texts to /prepare (LINLI_PREFETCH=off)"
    )
    ap.add_argument("--timeline", action="store_true", help="mark each step of each message and report them")
    args = ap.parse_args()
    env = {"LINLI_EMBEDDING_BACKEND": args.backend} if args.backend else {}
    if args.no_prefetch:
        env["LINLI_PREFETCH"] = "off"
    if args.workers:
        env["LINLI_ACTION_WORKERS"] = str(args.workers)
    tmp_dir = tempfile.TemporaryDirectory()
    tmp = tmp_dir.name
    if args.timeline:
        env["LINLI_TIMELINE"] = f"{tmp}/timeline.txt"
    sent: list[tuple[str, int, int]] = []
    with tmp_dir, running_stack(extra_env={"LINLI_DATABASE_URL": f"sqlite:///{tmp}/bench.db", **env}) as stack:
        for i, q in enumerate(RETRIEVAL + UTTER):  # warm-up: model, index, caches, tracker store
            stack.rest(f"warm-{i}", q)
        fresh = new_questions(args.n)
        before = prepare_stats(stack)
        times: dict[str, list[float]] = {"retrieval_new": [], "retrieval": [], "utter": []}
        for i in range(args.n):
            for kind, pool in (("retrieval_new", fresh), ("retrieval", RETRIEVAL), ("utter", UTTER)):
                text = pool[i % len(pool)]
                t0 = time.monotonic_ns()
                replies = stack.rest(f"bench-{kind}-{i}", text)
                t1 = time.monotonic_ns()
                times[kind].append((t1 - t0) / 1e6)
                sent.append((kind, t0, t1))
                if not replies:
                    raise SystemExit(f"no reply to {text!r}")
        prepared = prepare_lines(before, prepare_stats(stack), args.n)
        parses = {
            kind: parse_ms(stack, pool[: args.n])
            for kind, pool in (("retrieval_new", fresh), ("retrieval", RETRIEVAL), ("utter", UTTER))
        }
        breakdown = action_call_breakdown(
            stack, f"bench-retrieval-{args.n - 1}", RETRIEVAL[(args.n - 1) % len(RETRIEVAL)], args.backend
        )
        if args.timeline:
            from bench.timeline_report import lines

            breakdown += lines(env["LINLI_TIMELINE"], sent)
    from bench.procstats import load_average

    print(f"REST webhook latency, {args.n} messages each (ms); machine load average {load_average()} (2 cores shared)")
    for kind, t in times.items():
        print(f"  {kind:<13} p50 {statistics.median(t):7.1f}   p95 {pct(t, 95):7.1f}   mean {statistics.mean(t):7.1f}")
    for kind in ("retrieval_new", "retrieval"):
        ratio50 = statistics.median(times[kind]) / statistics.median(times["utter"])
        ratio95 = pct(times[kind], 95) / pct(times["utter"], 95)
        print(f"  ratio {kind}/utter: p50 {ratio50:.2f}x   p95 {ratio95:.2f}x")
    for line in prepared:
        print("  " + line)
    print(
        "  Rasa NLU alone (POST /model/parse, p50 ms): "
        + ", ".join(f"{kind} {statistics.median(t):.1f}" for kind, t in parses.items())
        + " (longer texts cost DIET and the featurizers more: part of any retrieval/utter gap)"
    )
    extra = statistics.median(times["retrieval"]) - statistics.median(times["utter"])
    print(f"where a retrieval reply's extra {extra:.1f} ms (p50 difference) go, same run:")
    for line in breakdown:
        print("  " + line)
    return 0


def parse_ms(stack, texts: list[str], rounds: int = 3) -> list[float]:
    """Rasa's NLU alone on each text (the HTTP API's /model/parse), best of ``rounds``."""
    out = []
    for text in texts:
        best = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            stack.client.post(f"{stack.rasa_url}/model/parse", params={"token": stack.token}, json={"text": text})
            best = min(best, 1000 * (time.perf_counter() - t0))
        out.append(best)
    return out


def prepare_stats(stack) -> dict:
    """The action server's ``GET /prepare`` counts (one worker's, with several)."""
    r = stack.client.get(f"{stack.action_url}/prepare", headers={"Authorization": f"Bearer {stack.action_token}"})
    r.raise_for_status()
    return r.json()


def prepare_lines(before: dict, after: dict, n: int) -> list[str]:
    """What the channels' /prepare announcements did during the timed messages."""

    def delta(kind: str, key: str) -> int:
        return after.get(kind, {}).get(key, 0) - before.get(kind, {}).get(key, 0)

    p = {k: delta("prepares", k) for k in ("scheduled", "warmed", "refused", "failed", "busy", "not_loaded")}
    e = {k: delta("encodes", k) for k in ("encoded", "awaited", "hit")}
    return [
        f"/prepare during the timed messages: {p['scheduled']} scheduled, {p['warmed']} warmed, {p['refused']} refused,"
        f" {p['failed']} failed, {p['busy']} dropped busy, {p['not_loaded']} before the model loaded",
        f"action server query encodes: {e['encoded']} for {n} new questions (one each if none is encoded twice);"
        f" {e['awaited']} lookups waited for an encode in flight, {e['hit']} found it cached",
    ]


def action_call_breakdown(stack, conversation_sender: str, question: str, backend: str | None) -> list[str]:
    """The action call Rasa made for ``question``, rebuilt from Rasa's own tracker and domain and posted directly."""
    import json

    from bot.settings import get_settings

    conv = stack.rest_id(conversation_sender)
    tracker = stack.tracker(conv)
    # the tracker as it was when Rasa called the action: up to the user message that asked the question
    events = tracker["events"]
    last_user = max(i for i, e in enumerate(events) if e.get("event") == "user")
    cut = dict(
        tracker,
        events=events[: last_user + 1],
        latest_message=events[last_user].get("parse_data") or tracker["latest_message"],
    )
    domain = stack.client.get(
        f"{stack.rasa_url}/domain", params={"token": stack.token}, headers={"Accept": "application/json"}
    ).json()
    # the stack's endpoints.yml enables Rasa's selective domain: action_answer_question gets no domain
    body = {"next_action": "action_answer_question", "sender_id": conv, "tracker": cut, "version": "3.6.21"}
    sizes = {k: len(json.dumps(v, ensure_ascii=False).encode()) for k, v in (("tracker", cut), ("domain", domain))}
    url = stack.action_url + "/webhook"
    headers = {"Authorization": f"Bearer {stack.action_token}"}
    direct, response_bytes = [], 0
    for _ in range(20):
        t0 = time.perf_counter()
        r = stack.client.post(url, json=body, headers=headers)
        direct.append(1000 * (time.perf_counter() - t0))
        r.raise_for_status()
        response_bytes = len(r.content)
    settings = get_settings().model_copy(update={"embedding_backend": backend}) if backend else get_settings()
    from bot.retrieval.assistant import Assistant

    bot = Assistant.build(settings, progress=False)
    bot.ask(question)
    asks, encodes = [], []
    for i in range(20):
        t0 = time.perf_counter()
        bot.ask(question)  # its query vector is cached after the first call, like a repeated question
        asks.append(1000 * (time.perf_counter() - t0))
        t0 = time.perf_counter()
        bot.retriever.embedder.queries([f"{question}{i}"])  # a new text each time: the encode itself
        encodes.append(1000 * (time.perf_counter() - t0))
    from bot.retrieval.prepared import warm

    unseen = new_questions(0, every=True)[-20:]  # the last 20: beyond any --n the timed phase sends
    fresh = []
    for text in unseen:
        warm(bot, text)  # what /prepare does while Rasa parses: the typo pass and the query encode
        t0 = time.perf_counter()
        bot.ask(text)
        fresh.append(1000 * (time.perf_counter() - t0))
    med = statistics.median
    return [
        f"action call body {sizes['tracker']} bytes (the tracker; the {sizes['domain']}-byte domain is not sent: selective domain); "
        f"response {response_bytes} bytes",
        f"action server round trip for that call, posted directly: p50 {med(direct):.1f} ms (HTTP + parse + action + JSON;"
        f" the server has this question's vector cached)",
        f"in-process Assistant.ask with its query vector cached: p50 {med(asks):.1f} ms (search + answer composition)",
        f"in-process Assistant.ask of a never-asked question, prepared as /prepare does: p50 {med(fresh):.1f} ms,"
        f" max {max(fresh):.1f} ms (no regex or table may be built per question: they would show here)",
        f"in-process query encode ({settings.embedding_backend}): p50 {med(encodes):.1f} ms",
        f"so: encode {med(encodes):.1f} + search/compose {med(asks):.1f} + action-server overhead "
        f"{med(direct) - med(asks):.1f} ms (HTTP, JSON, rasa_sdk); the rest is Rasa's side of the call",
    ]


if __name__ == "__main__":
    sys.exit(main())

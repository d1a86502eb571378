"""The knowledge desk's pages (in-process app on SQLite; the browser and running-stack proof is test_kb_desk_e2e):
who may use them, upload → review → publish → rollback with the audit, bad files, the learning queue, the service
forms, the public clause page, and Q&A entries in the knowledge base."""

from __future__ import annotations

import io
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.feedback.store import FeedbackStore
from bot.inbox.app import create_app
from bot.kb.loader import KBError, load_kb
from bot.kb.qa import add_qa
from bot.kb.versions import current_version, history, publish
from tests.inbox_support import csrf_from, login, make_env
from tests.vector_cache import CachedEmbedder

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "tests" / "data" / "docs" / "childcare_action_plan.txt"
EDITOR, EDITOR_PASSWORD = "zhao-kb", "zhao-desk-pass-77"


@pytest.fixture()
def desk(tmp_path):
    root = tmp_path / "kb"
    shutil.copytree(REPO / "knowledge_base", root, ignore=shutil.ignore_patterns("versions"))
    env = make_env(tmp_path / "var", kb_dir=root, kb_reload_seconds=0, kb_upload_max_bytes=64 * 1024)
    env.service.accounts.create_user(EDITOR, EDITOR_PASSWORD, None, role="kb-editor")
    app = create_app(env.settings, env.service, push_interval=0)
    app.state.kb_index.get = lambda: None  # the embedding model is not loaded here (hit test: see below)
    return env, app, root


def _client(app, user: str, password: str | None = None) -> TestClient:
    c = TestClient(app)
    login(c, user, password)
    return c


def _flash(r) -> str:
    m = re.search(r'class="flash flash-(\w+)"[^>]*>([^<]*)<', r.text)
    return f"{m.group(1)}: {m.group(2)}" if m else ""


def _token(c) -> str:
    return csrf_from(c.get("/kb").text)


def _upload(c, name: str, data: bytes):
    return c.post("/kb/upload", data={"csrf_token": _token(c)}, files={"document": (name, data)})


def test_only_kb_editors_and_admins_use_the_desk(desk):
    env, app, _ = desk
    editor = _client(app, EDITOR, EDITOR_PASSWORD)
    assert editor.get("/").url.path == "/kb"  # a kb-editor's home is the desk
    for path in ("/consultations", "/handoffs", f"/consultations/{env.a[0].tracking_no}", "/admin/users"):
        assert editor.get(path).status_code == 403, path
    member = _client(app, "alice")
    for path in ("/kb", "/kb/hit?q=医保", "/kb/learning", "/kb/services", "/kb/services/export", "/kb/status"):
        assert member.get(path).status_code == 403, path
    r = member.post("/kb/versions/seed/rollback", data={"csrf_token": csrf_from(member.get("/consultations").text)})
    assert r.status_code == 403
    assert "知识库" not in member.get("/").text.split("<main", 1)[0]  # no desk link in a member's menu
    assert _client(app, "root").get("/kb").status_code == 200
    assert TestClient(app).get("/kb").url.path == "/login"


def test_upload_review_publish_rollback_with_audit(desk):
    _, app, root = desk
    c = _client(app, EDITOR, EDITOR_PASSWORD)
    r = _upload(c, "childcare.txt", DOC.read_bytes())
    assert r.url.path.startswith("/kb/review/"), _flash(r)
    assert "章节 5，条款 11，责任单位 9，指标 4，专栏条目 2，问题 0" in r.text
    assert "doc2-1.2-01" in r.text and "市教育局、市卫健委、市财政局" in r.text and "≥95%" in r.text
    token = r.url.path.rsplit("/", 1)[1]
    r = c.post(f"/kb/review/{token}/publish", data={"csrf_token": _token(c), "title": ""})
    assert r.url.path == "/kb/versions/v0001" and "已发布知识版本 v0001" in _flash(r)
    assert current_version(root) == "v0001" and [d.id for d in load_kb(root / "versions" / "v0001").documents] == [
        "plan",
        "doc2",
    ]
    assert c.get(f"/kb/review/{token}").url.path == "/kb"  # published: the staged file is gone

    home = c.get("/kb").text
    assert "新增 doc2《幸福市社区托育服务三年行动方案（2024—2026年）》" in home and EDITOR in home
    r = c.post("/kb/versions/seed/rollback", data={"csrf_token": _token(c)})
    assert "当前知识版本：seed（之前：v0001）" in _flash(r) and current_version(root) == "seed"
    assert [(h["action"], h["version"], h["by"]) for h in history(root)] == [
        ("publish", "v0001", EDITOR),
        ("rollback", "seed", EDITOR),
    ]
    r = c.post("/kb/versions/v0042/rollback", data={"csrf_token": _token(c)})
    assert r.status_code == 200 and "没有这个版本" in _flash(r)
    assert c.post("/kb/versions/v0001/rollback", data={}).status_code == 403  # no CSRF token
    assert current_version(root) == "seed"


def _docx(text_lines: list[str]) -> bytes:
    from docx import Document

    d = Document()
    for line in text_lines:
        d.add_paragraph(line)
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("virus.exe", b"MZ\x90\x00", "只能上传 .txt、.docx"),
        ("empty.txt", b"", "上传的文件是空的"),
        ("huge.txt", "一、".encode() * 40_000, "文件太大"),
        ("broken.pdf", b"%PDF-1.4 not really", "不是有效的 PDF"),
        ("broken.docx", b"PK\x03\x04garbage", "不是有效的 .docx"),
        ("blank.txt", b"\x00\x01\x02   \n\n", "没有可读的文字"),
        ("../../etc/passwd.txt", b"<script>alert(1)</script>", ""),
    ],
)
def test_bad_files_get_a_clear_message_never_a_5xx(desk, name, data, message):
    env, app, root = desk
    c = _client(app, EDITOR, EDITOR_PASSWORD)
    r = _upload(c, name, data)
    assert r.status_code == 200
    if message:
        assert r.url.path == "/kb" and message in _flash(r) and _flash(r).startswith("error")
        uploads = env.settings.var_dir / "kb-uploads"
        assert not uploads.exists() or not any(uploads.iterdir())  # a refused file is not kept
    else:  # read, but nothing like a plan: the review says so with lines, escaped, and publishing is refused
        assert r.url.path.startswith("/kb/review/") and "<script>alert" not in r.text and "第1行" in r.text
        token = r.url.path.rsplit("/", 1)[1]
        r = c.post(f"/kb/review/{token}/publish", data={"csrf_token": _token(c)})
        assert "解析报告了" in _flash(r) and current_version(root) == "seed"
    assert not (root.parent / "etc").exists()


def test_a_docx_with_problems_shows_them_with_lines_and_needs_force(desk):
    _, app, root = desk
    lines = DOC.read_text(encoding="utf-8").splitlines()
    lines.insert(9, "一、")  # an ambiguous heading
    c = _client(app, "root")
    r = _upload(c, "childcare.docx", _docx(lines))
    assert r.url.path.startswith("/kb/review/")
    problems = re.search(r'id="kb-problems">(.*?)</section>', r.text, re.S).group(1)
    assert "第10行" in problems and "含糊的标题" in problems
    token = r.url.path.rsplit("/", 1)[1]
    r = c.post(f"/kb/review/{token}/publish", data={"csrf_token": _token(c)})
    assert "解析报告了" in _flash(r) and current_version(root) == "seed"
    r = c.post(f"/kb/review/{token}/publish", data={"csrf_token": _token(c), "force": "1"})
    assert "已发布知识版本 v0001" in _flash(r) and current_version(root) == "v0001"


def test_public_clause_page_highlights_the_cited_sentence(desk):
    _, app, root = desk
    anyone = TestClient(app)
    r = anyone.get("/kb/c/plan-7-04")
    assert r.status_code == 200
    marked = re.findall(r'<mark id="([^"]+)" class="cited">([^<]+)</mark>', r.text)
    assert marked == [("plan-7-04", load_kb(root).plan.clause("plan-7-04")[1].text)]
    assert "《规划》(七)强化为民服务功能 第4句" in r.text
    for bad in ("nope", "plan-7-99", "<script>", "x" * 500):
        r = anyone.get(f"/kb/c/{bad}")
        assert r.status_code == 404 and "<script>" not in r.text
    assert anyone.get("/kb/clause/plan-7-04").url.path == "/login"  # the inbox's own page needs a login


def test_learning_queue_masks_groups_and_publishes_reviewed_answers(desk):
    env, app, root = desk
    store = FeedbackStore(env.settings.sqlalchemy_url)
    store.record_unanswered("小区能养羊吗？我电话13812345678", kb_version="seed")
    store.record_unanswered("小区能养羊吗", kb_version="seed")
    store.record_unanswered("小区能养羊吗", kb_version="seed")
    store.record_rating(-1, "医保在哪办", answer_kind="service", kb_version="seed")
    c = _client(app, EDITOR, EDITOR_PASSWORD)
    page = c.get("/kb/learning").text
    assert "13812345678" not in page and "138****5678" in page and "👎" in page
    assert re.search(r"<strong>小区能养羊吗</strong>.*?<td class=\"num\">2", page, re.S)

    post = lambda **f: c.post("/kb/learning", data={"csrf_token": _token(c), **f})  # noqa: E731
    assert "请二选一" in _flash(post(question="小区能养羊吗"))
    assert "请二选一" in _flash(post(question="小区能养羊吗", answer="不行。", link="plan-7-04"))
    assert "没有这条条款或服务" in _flash(post(question="小区能养羊吗", link="plan-99-01"))
    assert "问题不能为空" in _flash(post(question="", answer="不行。"))
    assert current_version(root) == "seed"
    r = post(question="小区能养羊吗 13812345678", answer="住宅小区一般不允许饲养羊等家畜，可咨询社区居委会。")
    assert "已发布知识版本 v0001" in _flash(r)
    r = post(question="医保在哪办", link="medical-insurance-service")
    assert "已发布知识版本 v0002" in _flash(r)
    kb = load_kb(root / "versions" / "v0002")
    assert [(e.id, e.question, e.link, e.by) for e in kb.qa] == [
        ("qa-1", "小区能养羊吗 138****5678", "", EDITOR),
        ("qa-2", "医保在哪办", "medical-insurance-service", EDITOR),
    ]
    page = c.get("/kb/learning").text
    assert "已收录 qa-2" in page and "新增问答「医保在哪办」→medical-insurance-service" in c.get("/kb").text


def test_qa_entries_are_checked_and_become_passages(desk):
    from bot.retrieval.passages import build_passages

    _, _, root = desk
    with pytest.raises(KBError, match="没有这条条款或服务"):
        publish(root, lambda d: add_qa(d, "问题", link="plan-99-99"))
    name, kb = publish(
        root, lambda d: add_qa(d, "老人没人照看咋办", link="home-elderly-care") + add_qa(d, "羊", answer="不行。")
    )
    assert kb.fingerprint != load_kb(root).fingerprint  # a new index is built for it
    passages = {p.id: p for p in build_passages(kb)}
    seed = {p.id: p for p in build_passages(load_kb(root))}
    assert passages["home-elderly-care"].search_text == seed["home-elderly-care"].search_text + "。老人没人照看咋办"
    assert passages["qa-2"].type == "qa" and passages["qa-2"].text == "不行。"
    assert list(passages)[: len(seed)] == list(seed)  # the documents' passages keep their positions


def test_service_form_is_checked_like_kb_check_and_exported(desk):
    _, app, root = desk
    c = _client(app, EDITOR, EDITOR_PASSWORD)
    assert c.get("/kb/services").status_code == 200 and c.get("/kb/services/nope").status_code == 404
    form = {
        "eligible": "本市60周岁以上居家老年人。",
        "steps": "到社区居委会申请\n\n上门评估\n",
        "materials": "身份证\n户口簿",
        "where": "社区养老服务站",
        "agency": "市民政局",
        "phone": "0000-12340001",
        "hours": "工作日 8:30-17:30",
        "clause": "plan-7-04",
    }
    save = lambda **f: c.post("/kb/services/home-elderly-care", data={"csrf_token": _token(c), **form, **f})  # noqa: E731
    assert "办理步骤：不能为空" in _flash(save(steps=" \n "))
    assert "依据条款：格式不对" in _flash(save(clause="第七章"))
    assert "no clause" in _flash(save(clause="plan-9-77")) and "plan-9-77" in _flash(save(clause="plan-9-77"))
    assert "unknown agency" in _flash(save(agency="市不存在局"))
    assert current_version(root) == "seed"
    r = save()
    assert "已发布知识版本 v0001" in _flash(r)
    svc = load_kb(root / "versions" / "v0001").service("home-elderly-care")
    assert svc.how_to_apply.steps == ["到社区居委会申请", "上门评估"] and svc.where == "社区养老服务站"
    assert load_kb(root).service("home-elderly-care").where != "社区养老服务站"  # git's file is untouched
    export = c.get("/kb/services/export")
    assert (
        export.status_code == 200
        and "社区养老服务站" in export.text
        and "attachment" in export.headers["content-disposition"]
    )
    assert "更新服务「居家养老服务」" in c.get("/kb").text


def test_hit_test_shows_scores_gate_and_answer(desk, assistant):
    """With the real assistant (the session's, so the model loads once): the fused ranking and both scores."""
    from bot.retrieval.live import LiveAssistant

    env, app, _ = desk
    live = LiveAssistant(env.settings, assistant)
    app.state.kb_index.get = lambda: live
    app.state.kb_index.wait = lambda seconds: live
    c = _client(app, EDITOR, EDITOR_PASSWORD)
    r = c.get("/kb/hit", params={"q": "在社区能办医保吗"})
    assert r.status_code == 200
    rows = re.findall(r'<tr data-id="([^"]+)">', r.text)
    result = assistant.search("在社区能办医保吗")
    assert rows == [h.passage.id for h in result.hits[:10]]
    assert f"{result.hits[0].score:.4f}" in r.text and f"{result.hits[0].dense:.4f}" in r.text
    assert "在知识库范围内" in r.text and "服务目录「社区医保服务点」" in r.text
    r = c.get("/kb/hit", params={"q": "今天天气怎么样"})
    assert "超出范围" in r.text or "天气" in r.text
    r = c.get("/kb/hit", params={"q": "\x00\x01"})
    assert r.status_code == 200 and "Traceback" not in r.text


def test_a_reviewed_answer_is_answered_as_written(desk, assistant):
    """A written Q&A entry answers its question (and close wordings) as written, even one the seed declined."""
    from bot.retrieval.assistant import Assistant
    from bot.settings import Settings, get_settings

    _, _, root = desk
    text = "住宅小区一般不允许饲养羊等家畜，有需要可咨询社区居委会。"
    name, kb = publish(root, lambda d: add_qa(d, "小区里能养羊吗", answer=text))
    settings = Settings(kb_dir=root, cache_dir=get_settings().cache_dir)
    embedder = CachedEmbedder(assistant.retriever.embedder)  # only the new entry's passage is encoded
    desk_assistant = Assistant.build(settings, kb=kb, embedder=embedder, progress=False)
    assert assistant.ask("小区里能养羊吗").kind != "qa"  # the seed has no reviewed answer
    for q in ("小区里能养羊吗", "小区里能养羊吗？"):
        ans = desk_assistant.ask(q)
        assert ans.kind == "qa" and ans.answer == f"{text}\n来源：社区问答「小区里能养羊吗」" and ans.kb_version == name
        assert [s.id for s in ans.sources] == ["qa-1"]
    other = desk_assistant.ask("在社区能办医保吗")
    assert other.kind == "service" and "qa-1" not in [s.id for s in other.sources]  # the rest answers as before


def test_zipfile_is_not_mistaken_for_docx(desk):
    _, app, _ = desk
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "hi")
    r = _upload(_client(app, "root"), "not-a-doc.docx", buf.getvalue())
    assert r.url.path == "/kb" and "docx" in _flash(r)


def test_kb_editor_role_is_created_from_the_users_page(desk):
    env, app, _ = desk
    c = _client(app, "root")
    r = c.post(
        "/admin/users",
        data={
            "csrf_token": csrf_from(c.get("/admin/users").text),
            "username": "li-kb",
            "password": "li-desk-pass-9",
            "role": "kb-editor",
            "committee_id": "",
        },
    )
    assert "已创建用户 li-kb" in _flash(r) and "知识库编辑" in r.text
    assert env.service.accounts.get_user("li-kb").role == "kb-editor"


def test_a_body_past_the_limit_is_refused_while_it_arrives(desk):
    """Far past the upload limit: refused on the declared length and, for a chunked body, on the bytes received,
    before the form is parsed (the desk's message, no upload kept); other forms have their own ceiling (413)."""
    env, app, _ = desk
    c = _client(app, EDITOR, EDITOR_PASSWORD)
    huge = "一、".encode() * 200_000  # 1.2 MB against a 64 KB upload limit
    r = _upload(c, "huge.txt", huge)  # the desk's own message, on the desk
    assert r.url.path == "/kb" and _flash(r).startswith("error") and "文件太大" in _flash(r)
    token = _token(c)
    boundary = "linli-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="document"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()

    def chunks():  # no Content-Length: only the bytes received can tell
        yield head
        for _ in range(40):
            yield b"x" * 32 * 1024
        yield f"\r\n--{boundary}--\r\n".encode()

    r = c.post("/kb/upload", content=chunks(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.url.path == "/kb" and "文件太大" in _flash(r)
    uploads = env.settings.var_dir / "kb-uploads"
    assert not uploads.exists() or not any(uploads.iterdir())
    r = c.post("/login", data={"csrf_token": token, "username": "医" * 600_000})  # 1.8 MB in an ordinary form
    assert r.status_code == 413 and "提交的内容过大" in r.text and "Traceback" not in r.text
    assert _upload(c, "childcare.txt", DOC.read_bytes()).url.path.startswith("/kb/review/")  # within limits: fine

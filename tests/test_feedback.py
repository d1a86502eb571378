"""Learning loop store, its migration and `python -m bot report gaps`, on real SQLite (and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bot.feedback.store import FeedbackStore, normalize_question
from tests.stack import REPO


def test_gaps_group_wordings_rank_by_frequency_and_mask_personal_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'fb.db'}"
    store = FeedbackStore(url)
    store.record_unanswered("能帮我办护照吗？我电话13812345678", reason="out_of_scope", channel="rest")
    store.record_unanswered("能帮我办护照吗 我电话 13812345678", reason="nlu_fallback", channel="telegram")
    store.record_unanswered("小区能养羊吗", reason="out_of_scope")
    store.record_rating(-1, "医保在哪办", answer_kind="service", sources=["medical-insurance-service"])
    store.record_rating(1, "医保在哪办", answer_kind="service")
    store.record_unanswered("？？？")  # nothing left after normalisation: not stored
    gaps = store.gaps()
    assert [g.count for g in gaps] == [2, 1, 1]
    assert "13812345678" not in gaps[0].question and "138****5678" in gaps[0].question
    assert set(gaps[0].reasons) == {"out_of_scope", "nlu_fallback"}
    assert {g.question for g in gaps[1:]} == {"小区能养羊吗", "医保在哪办"}
    assert [g.question for g in store.gaps(include_thumbs_down=False)] == [gaps[0].question, "小区能养羊吗"]
    assert store.rating_counts() == {"up": 1, "down": 1}
    # the CLI reads the same database through settings
    env = dict(os.environ, LINLI_DATABASE_URL=url)
    out = subprocess.run(
        [sys.executable, "-m", "bot", "report", "gaps", "--json", "--limit", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["count"] == 2 and "13812345678" not in out.stdout


def test_normalize_question_ignores_spacing_punctuation_and_width():
    assert normalize_question("医保 在哪办？") == normalize_question("医保在哪办") == normalize_question("医保在哪办?")
    assert normalize_question("ＡＢＣ") == "abc"


def test_rating_must_be_plus_or_minus_one(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'fb.db'}")
    try:
        store.record_rating(5, "x")
    except ValueError:
        pass
    else:
        raise AssertionError("rating 5 accepted")


def test_indicator_figures_parsed_from_a_workers_message():
    from bot.indicators import parse_figures

    assert parse_figures("户数1200，综合服务设施面积400平方米，活动区域面积260平方米，社工师2人，常住人口3500") == {
        "households": 1200,
        "facility_area": 400,
        "activity_area": 260,
        "social_workers": 2,
        "urban_residents": 3500,
    }
    assert parse_figures("我们社区800户，服务设施面积300平方米") == {"households": 800, "facility_area": 300}
    assert parse_figures("你好") == {}


def _head() -> str:
    """The head revision the migration scripts define (not a literal: other branches add revisions)."""
    from alembic.script import ScriptDirectory

    from bot.db import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _downgrade(url: str, revision: str) -> None:
    from alembic import command

    from bot.db import alembic_config, engine_for

    cfg = alembic_config(url)
    with engine_for(url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request):
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def test_feedback_table_comes_from_the_migration(db_url):
    """`python -m bot db upgrade` creates feedback_events; the store then only uses it."""
    from sqlalchemy import inspect, text

    from bot.db import current_revision, dispose_engines, engine_for, upgrade

    try:
        upgrade(db_url)
        assert current_revision(db_url) == _head()
        cols = {c["name"] for c in inspect(engine_for(db_url)).get_columns("feedback_events")}
        assert {"kind", "reason", "rating", "question", "question_key", "sources", "channel", "kb_version"} <= cols
        store = FeedbackStore(db_url)
        store.record_unanswered("小区能养羊吗", channel="rest", kb_version="v0003")
        store.record_rating(-1, "医保在哪办", kb_version="seed")
        store.record_rating(1, "医保在哪办")
        assert sorted(g.question for g in store.gaps()) == sorted(["小区能养羊吗", "医保在哪办"])
        with store.engine.connect() as conn:
            logged = conn.execute(text("SELECT kb_version FROM feedback_events ORDER BY id")).scalars().all()
        assert logged == ["v0003", "seed", None]  # which knowledge version answered (revision 0009)
        assert current_revision(db_url) == _head()
    finally:
        dispose_engines()


def test_store_on_an_empty_database_runs_the_migrations(tmp_path):
    from sqlalchemy import inspect

    from bot.db import current_revision, dispose_engines

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    try:
        store = FeedbackStore(url)
        assert current_revision(url) == _head()
        assert {"feedback_events", "consultations"} <= set(inspect(store.engine).get_table_names())
    finally:
        dispose_engines()


def test_upgrade_adopts_a_table_the_old_store_created_itself(db_url):
    """Before revision 0003 the store ran create_all at 0002: the upgrade keeps that table and its rows."""
    from sqlalchemy import inspect, text

    from bot.db import current_revision, dispose_engines, engine_for, upgrade
    from bot.feedback.store import events

    try:
        upgrade(db_url, "0002")
        engine = engine_for(db_url)
        with engine.begin() as conn:
            events.create(conn)
            conn.execute(
                text(
                    "INSERT INTO feedback_events (created_at, kind, reason, question, question_key) "
                    "VALUES (CURRENT_TIMESTAMP, 'unanswered', 'out_of_scope', '旧问题', '旧问题')"
                )
            )
        upgrade(db_url)
        assert current_revision(db_url) == _head()
        assert [g.question for g in FeedbackStore(db_url).gaps()] == ["旧问题"]
        _downgrade(db_url, "0008")  # what 0009 adds comes off and back cleanly (SQLite: a batch table rebuild)
        assert "kb_version" not in {c["name"] for c in inspect(engine).get_columns("feedback_events")}
        upgrade(db_url)
        assert [g.question for g in FeedbackStore(db_url).gaps()] == ["旧问题"]
    finally:
        dispose_engines()

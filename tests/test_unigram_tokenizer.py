"""The small tokenizer (bot/embedding/unigram.py) must give exactly the input ids ``tokenizers`` gives.

Compared on the real model's tokenizer.json: every KB passage (as searched, quoted and titled, with and without
neighbouring sentences), every string of every file in tests/data (questions of all evaluation sets, routing
texts, co-sign pairs), and a generated stress list, each with the e5 query and passage prompts and bare.
"""

from __future__ import annotations

import json
import random

import pytest
import yaml
from tokenizers import Tokenizer

import bot.embedding as emb
from bot.embedding.onnx_encoder import MAX_SEQ_LENGTH, OnnxEncoder, load_tokenizer
from bot.embedding.unigram import UnigramTokenizer, UnsupportedTokenizer
from bot.kb.loader import load_kb
from bot.retrieval.passages import build_passages
from bot.settings import REPO_ROOT, get_settings

PROMPTS = ("query: ", "passage: ", "")
# characters the e5 normaliser treats specially, scripts we serve and some we do not, specials in the raw text
STRESS = [
    "",
    " ",
    "   ",
    "\t\n\r\n",
    "a  b   c",
    " 前面有空格",
    "后面有空格 ",
    "繁體中文：社區服務中心在哪裡？長者送餐怎麼申請？",
    "孩子3岁了😀👍🏽，附近有普惠托育机构吗？🍼🇨🇳👨‍👩‍👧",
    "How can my grandmother apply for home-based elderly care? It's URGENT!!!",
    "电话 0755-12345678，身份证 44030119900101123X，2025年12月31日 9:30",
    "１２３４５６７８９０ ＡＢＣｄｅｆ ｶﾀｶﾅ",
    "，。！？；：「」『』（）【】《》〈〉～…—·、",
    "\x00\x01\x02\x07\x1b[31m控制字符\x7f\x85\x9f",
    "\u200b\u200c\u200d\ufeff零宽\u2028\u2029\u00a0\u3000",
    "▁▁ ▁x▁",
    "<s>",
    "a<mask>b",
    "</s><pad><unk><s>",
    " <s> </s> ",
    "<s",
    "＜ｓ＞ ＜/ｓ＞ ＜ｕｎｋ＞ ＜ｍａｓｋ＞ ＜ｕｎｋ＞ꙮ",
    "ﬁ ﬀ ½ ㍿ ㋿ ～ ‴ ⅷ ① ㈱",
    "e\u0301 é Å Å ﬃ",
    "한국어 日本語 ไทย العربية हिन्दी русский ελληνικά",
    "\ue000\uf8ff\U000f0000\U0010ffff\ufffd\uffff",
    "'; DROP TABLE consultations; -- <script>alert('x')</script>",
    "x" * 5000,
    "中" * 3000,
    "a b " * 800,
    "社区" * 300 + "😀" * 300,
]
# a deterministic random mix over ASCII, Latin, symbols, CJK punctuation, CJK, full-width and emoji blocks
BLOCKS = [(0, 0x250), (0x2000, 0x2100), (0x3000, 0x3100), (0x4E00, 0x5000), (0xFF00, 0xFFF0), (0x1F300, 0x1F700)]


def _random_texts(count: int, seed: int = 15) -> list[str]:
    rng = random.Random(seed)
    chars = [chr(c) for lo, hi in BLOCKS for c in range(lo, hi) if not 0xD800 <= c < 0xE000]
    return ["".join(rng.choice(chars) for _ in range(rng.randint(0, 80))) for _ in range(count)]


def _strings(node, out: list[str]) -> None:
    if isinstance(node, str):
        out.append(node)
    elif isinstance(node, dict):
        for k, v in node.items():
            _strings(k, out)
            _strings(v, out)
    elif isinstance(node, list):
        for v in node:
            _strings(v, out)


def _data_texts() -> list[str]:
    out: list[str] = []
    for path in sorted((REPO_ROOT / "tests" / "data").glob("*.yml")):
        _strings(yaml.safe_load(path.read_text("utf-8")), out)
    return out


def _kb_texts() -> list[str]:
    kb = load_kb()
    out: list[str] = []
    for window in sorted({0, 1, get_settings().retrieval_sentence_window}):
        for p in build_passages(kb, window=window):
            out += [p.search_text, p.text, p.title, p.sparse_text, p.chapter]
    return out


@pytest.fixture(scope="module")
def tokenizer_json():
    emb.ensure_exported(get_settings().model_copy(update={"embedding_backend": "onnx"}))
    return emb.onnx_model_dir() / "tokenizer.json"


@pytest.fixture(scope="module")
def encoder(tokenizer_json) -> OnnxEncoder:
    """The process's encoder of the default backend (shared with every test that encodes with it): building an
    OnnxEncoder of its own only to look at its tokenizer cost a second InferenceSession (~4 s of CPU)."""
    return emb.load_onnx_encoder(get_settings().model_copy(update={"embedding_backend": "onnx"}))


@pytest.fixture(scope="module")
def pair(tokenizer_json, encoder):
    """``tokenizers`` and the small tokenizer the encoder reads the same file with (what is served is compared;
    reading tokenizer.json into a small tokenizer of its own costs ~1.5 s of CPU)."""
    ref = Tokenizer.from_file(str(tokenizer_json))
    ref.no_padding()
    ref.enable_truncation(max_length=MAX_SEQ_LENGTH)
    assert isinstance(encoder.tokenizer, UnigramTokenizer) and encoder.tokenizer.max_length == MAX_SEQ_LENGTH
    return ref, encoder.tokenizer


def _mismatches(pair, texts: list[str], prompts=PROMPTS) -> list[tuple[str, list[int], list[int]]]:
    ref, small = pair
    # each distinct text once: the KB's titles and chapters repeat over the passages and windows, the data files'
    # questions over the sets (820 KB strings are 278 distinct ones, the data files' 20 000 under 4 000)
    inputs = [prompt + t for t in dict.fromkeys(texts) for prompt in prompts]
    want = [e.ids for e in ref.encode_batch(inputs)]
    got = small.encode_batch(inputs)
    return [(t[:60], w[:12], g[:12]) for t, w, g in zip(inputs, want, got) if w != g]


def test_ids_equal_on_every_kb_passage(pair):
    texts = _kb_texts()
    assert len(texts) > 500
    assert _mismatches(pair, texts) == []


def test_ids_equal_on_every_evaluation_text(pair):
    texts = _data_texts()
    assert len(texts) > 2000  # all sets, frozen ones included: only their tokens are compared, nothing is scored
    assert _mismatches(pair, texts, prompts=[PROMPTS[0]]) == []  # questions are encoded as queries


def test_ids_equal_on_stress_texts(pair):
    ref, small = pair
    assert _mismatches(pair, STRESS + _random_texts(1500)) == []
    # the cases that matter most are really exercised: truncation, unknown characters, special tokens
    long_ids = small.encode("passage: " + "x" * 5000)
    assert len(long_ids) == MAX_SEQ_LENGTH and long_ids[0] == 0 and long_ids[-1] == 2
    assert small.unk_id in small.encode("ꙮ" * 3)
    assert small.encode("a<mask>b").count(small.token_to_id("<mask>")) == 1
    assert small.encode("") == [0, 2]


def test_encoder_uses_the_small_tokenizer_and_the_fallback_is_equal(tokenizer_json, encoder):
    assert isinstance(encoder, OnnxEncoder) and encoder.folder == tokenizer_json.parent
    assert isinstance(encoder.tokenizer, UnigramTokenizer)
    fallback = load_tokenizer(tokenizer_json, "tokenizers")
    assert not isinstance(fallback, UnigramTokenizer)
    texts = ["query: 我家老人行动不便，社区能上门照顾吗", "passage: " + "社区" * 400, "query: "]
    assert fallback.encode_batch(texts) == encoder.tokenizer.encode_batch(texts)


def test_unported_pipelines_are_refused(tokenizer_json, tmp_path):
    cfg = json.loads(tokenizer_json.read_text("utf-8"))
    cfg["model"] = {
        **cfg["model"],
        "vocab": cfg["model"]["vocab"][:2000],
    }  # the refusal is about the pipeline, not the size
    variants = {
        "bpe": {**cfg, "model": {**cfg["model"], "type": "BPE"}},
        "byte_fallback": {**cfg, "model": {**cfg["model"], "byte_fallback": True}},
        "pre": {**cfg, "pre_tokenizer": {"type": "Whitespace"}},
        "lstrip": {**cfg, "added_tokens": [{**cfg["added_tokens"][0], "lstrip": True}]},
        "template": {**cfg, "post_processor": {**cfg["post_processor"], "single": cfg["post_processor"]["single"][1:]}},
    }
    for name, variant in variants.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(variant), "utf-8")
        with pytest.raises(UnsupportedTokenizer):
            UnigramTokenizer(path)
        if name != "bpe":  # (a Unigram vocabulary under a BPE type is not loadable by tokenizers either)
            assert not isinstance(load_tokenizer(path), UnigramTokenizer)  # the encoder falls back

"""A small-memory reader of the e5 folder's ``tokenizer.json``: the same input ids as ``tokenizers``, in ~70 MB.

Why: ``tokenizers.Tokenizer`` holds XLM-R's 250k-piece Unigram vocabulary as a char trie of hash maps, about
280 MB resident per process, the largest part of the action server. Here the vocabulary is one dict
(piece -> id) plus an array of scores, and the Viterbi search is a line-for-line port of ``tokenizers``'
``Unigram::encode_optimized`` (same float64 sums, same scan order, ties kept by the first path found,
consecutive unknown characters fused into one ``<unk>``), so the ids are identical, not just close. The
normaliser and the Metaspace pre-tokeniser are ``tokenizers``' own objects, loaded with a one-piece
vocabulary. A folder whose ``tokenizer.json`` uses anything not ported here raises
:class:`UnsupportedTokenizer`, and the caller keeps ``tokenizers``. ``tests/test_unigram_tokenizer.py``
asserts the equality on every KB passage, every evaluation question and a generated stress list.
"""

from __future__ import annotations

import ctypes
import gc
import json
import re
from array import array
from pathlib import Path

#: tokenizers' K_UNK_PENALTY: an unknown character scores this much below the worst piece.
UNK_PENALTY = 10.0


class UnsupportedTokenizer(ValueError):
    """``tokenizer.json`` uses a feature this reader does not reproduce exactly."""


def _check(cfg: dict) -> tuple[int, int]:
    """The (bos, eos) ids of a ``<s> $A </s>`` template; raises when the pipeline is not the one ported here."""
    model = cfg.get("model") or {}
    if model.get("type") != "Unigram" or model.get("byte_fallback") or model.get("unk_id") is None:
        raise UnsupportedTokenizer("model is not a Unigram with an unk id and no byte fallback")
    pre = cfg.get("pre_tokenizer") or {}
    if pre.get("type") != "Metaspace":
        raise UnsupportedTokenizer("pre-tokenizer is not Metaspace")
    if cfg.get("truncation") or cfg.get("padding"):
        raise UnsupportedTokenizer("truncation/padding saved in the file")
    for tok in cfg.get("added_tokens") or []:
        if not tok.get("special") or tok.get("normalized") or tok.get("lstrip") or tok.get("rstrip"):
            raise UnsupportedTokenizer(f"added token {tok.get('content')!r} is not a plain special token")
        if tok.get("single_word"):
            raise UnsupportedTokenizer(f"added token {tok.get('content')!r} is single-word")
    post = cfg.get("post_processor") or {}
    single = post.get("single") or []
    shape = [next(iter(step)) for step in single]
    if post.get("type") != "TemplateProcessing" or shape != ["SpecialToken", "Sequence", "SpecialToken"]:
        raise UnsupportedTokenizer("post-processor is not a '<s> $A </s>' template")
    ids = []
    for step in (single[0], single[2]):
        spec = post["special_tokens"][step["SpecialToken"]["id"]]["ids"]
        if len(spec) != 1:
            raise UnsupportedTokenizer("a template special token maps to several ids")
        ids.append(int(spec[0]))
    return ids[0], ids[1]


class UnigramTokenizer:
    """Input ids of e5's tokenizer (prompt included by the caller), truncated to ``max_length`` like tokenizers."""

    def __init__(self, path: Path | str, max_length: int = 512):
        from tokenizers import Tokenizer

        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
        self.bos, self.eos = _check(cfg)
        model = cfg.pop("model")
        self.unk_id = int(model["unk_id"])
        self.scores = array("d", (float(score) for _, score in model["vocab"]))
        self.unk_score = min(self.scores) - UNK_PENALTY
        self.longest = max(len(piece) for piece, _ in model["vocab"])
        pieces = _joined_pieces(model.pop("vocab"))
        self.specials = {tok["content"]: int(tok["id"]) for tok in cfg.get("added_tokens") or []}
        # tokenizers splits special tokens out of the raw text leftmost-longest, before normalising
        alternatives = "|".join(re.escape(s) for s in sorted(self.specials, key=len, reverse=True))
        self._split = re.compile(f"({alternatives})") if alternatives else None
        cfg["model"] = {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0]], "byte_fallback": False}
        shell = Tokenizer.from_str(json.dumps(cfg))
        self._normalizer, self._pre_tokenizer = shell.normalizer, shell.pre_tokenizer
        self.max_length = max_length
        del cfg, model, shell
        gc.collect()
        # the pieces are made anew after the parsed JSON is gone, so they fill fresh memory pages instead of
        # pinning the parser's (measured: 37 MB resident instead of 68); the last id of a duplicated piece wins,
        # as in tokenizers' token_to_ids map
        self.ids = pieces if isinstance(pieces, dict) else {p: i for i, p in enumerate(pieces.split(_SEP))}
        del pieces
        _release_freed_memory()

    def token_to_id(self, piece: str) -> int | None:
        return self.ids.get(piece)

    def encode(self, text: str) -> list[int]:
        """``<s>`` + ids + ``</s>``, the content cut to ``max_length - 2`` ids (tokenizers' right truncation)."""
        ids: list[int] = []
        segments = self._split.split(text) if self._split else [text]
        for segment in segments:
            if not segment:
                continue
            special = self.specials.get(segment)
            if special is not None:
                ids.append(special)
                continue
            normalized = self._normalizer.normalize_str(segment) if self._normalizer else segment
            for word, _ in self._pre_tokenizer.pre_tokenize_str(normalized):
                self._viterbi(word, ids)
        return [self.bos, *ids[: max(self.max_length - 2, 0)], self.eos]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def _viterbi(self, word: str, out: list[int]) -> None:
        """Best segmentation of one pre-token (``Unigram::encode_optimized``), appended to ``out``."""
        n = len(word)
        ids, scores, unk = self.ids, self.scores, self.unk_id
        best = [0.0] * (n + 1)
        start = [-1] * (n + 1)
        piece = [0] * (n + 1)
        for i in range(n):
            here = best[i]
            single = False
            for j in range(i + 1, min(n, i + self.longest) + 1):  # shortest first, like the trie's prefix search
                pid = ids.get(word[i:j])
                if pid is None:
                    continue
                score = scores[pid] + here
                if start[j] < 0 or score > best[j]:
                    best[j], start[j], piece[j] = score, i, pid
                if j == i + 1:
                    single = True
            if not single:
                score = self.unk_score + here
                if start[i + 1] < 0 or score > best[i + 1]:
                    best[i + 1], start[i + 1], piece[i + 1] = score, i, unk
        found: list[int] = []
        end = n
        while end > 0:
            pid = piece[end]
            # fused unknowns: a run of them is one token (never a vocabulary piece: that piece would have won)
            if pid != unk or not found or found[-1] != unk:
                found.append(pid)
            end = start[end]
        found.reverse()
        out.extend(found)


_SEP = "\x00"


def _joined_pieces(vocab: list) -> str | dict[str, int]:
    """The pieces as one string (split again once the JSON is freed), or the map itself if a piece holds NUL."""
    if any(_SEP in piece for piece, _ in vocab):
        return {piece: i for i, (piece, _) in enumerate(vocab)}
    return _SEP.join(piece for piece, _ in vocab)


def _release_freed_memory() -> None:
    """Hand the parsed JSON's freed pages back to the OS (glibc keeps them otherwise)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass

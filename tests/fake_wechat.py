"""A stand-in for WeChat: its server API on loopback, and its side of the callback (signing, encrypting).

:class:`FakeWeChat` answers ``/cgi-bin/token`` (checks appid and secret, hands out expiring tokens),
``/cgi-bin/message/custom/send`` and ``/cgi-bin/message/template/send`` (check the token, the
2048-byte text limit, the 48-hour window) and ``/cgi-bin/menu/create``, and records what was sent.
:class:`WeChatCallbacks` plays WeChat's server calling the account's callback: it signs every
request, encrypts in safe mode and decrypts/validates the passive replies. The crypto here follows
WeChat's published protocol on ``cryptography`` — independently of the connector's wechatpy — so
a mistake on either side shows up.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import secrets
import struct
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.fake_api import FakeAPI, Request

APP_ID = "wx5f2ad10e5c3b9a01"
APP_SECRET = "c0ffee5ecret0123456789abcdef0123"
ACCOUNT = "gh_1a2b3c4d5e6f"  # the account's original id (ToUserName of incoming messages)
TEXT_LIMIT_BYTES = 2048


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def new_aes_key() -> str:
    """An EncodingAESKey as WeChat shows it: 43 characters of base64 (32 bytes without the trailing '=')."""
    return base64.b64encode(os.urandom(32)).decode("ascii").rstrip("=")


class MessageCrypto:
    """WeChat's message encryption: AES-256-CBC, IV = first 16 key bytes, PKCS#7 to 32-byte blocks,
    plaintext = 16 random bytes + 4-byte network-order length + message + appid."""

    def __init__(self, encoding_aes_key: str, app_id: str):
        self.key = base64.b64decode(encoding_aes_key + "=")
        assert len(self.key) == 32
        self.app_id = app_id

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, message: bytes) -> str:
        plain = os.urandom(16) + struct.pack(">I", len(message)) + message + self.app_id.encode()
        pad = 32 - len(plain) % 32
        plain += bytes([pad]) * pad
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(plain) + enc.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> bytes:
        dec = self._cipher().decryptor()
        plain = dec.update(base64.b64decode(encrypted)) + dec.finalize()
        pad = plain[-1]
        assert 1 <= pad <= 32 and plain[-pad:] == bytes([pad]) * pad, "bad PKCS#7 padding"
        plain = plain[:-pad]
        (length,) = struct.unpack(">I", plain[16:20])
        message, app_id = plain[20 : 20 + length], plain[20 + length :]
        assert app_id.decode() == self.app_id, f"reply encrypted for {app_id!r}"
        return message


def xml_of(fields: dict[str, Any]) -> bytes:
    """A WeChat ``<xml>`` message (numbers bare, strings in CDATA, as WeChat sends them)."""
    inner = "".join(
        f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()
    )
    return f"<xml>{inner}</xml>".encode()


def fields_of(xml: bytes | str) -> dict[str, str]:
    root = ET.fromstring(xml)
    return {child.tag: child.text or "" for child in root}


# -- WeChat calling the account's callback -------------------------------------------------------------

_msg_ids = itertools.count(int(time.time()) * 1000)


class WeChatCallbacks:
    """WeChat's server calling ``url`` (the account's callback) like the real one does."""

    def __init__(self, url: str, token: str, app_id: str = APP_ID, encoding_aes_key: str = "", timeout: float = 60):
        self.url, self.token, self.app_id = url, token, app_id
        self.crypto = MessageCrypto(encoding_aes_key, app_id) if encoding_aes_key else None
        self.client = httpx.Client(timeout=timeout)

    def _query(self, openid: str = "", **extra: str) -> dict[str, str]:
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
        q = {"signature": signature(self.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce, **extra}
        if openid:
            q["openid"] = openid
        return q

    def verify_url(self, echostr: str, **override: str) -> httpx.Response:
        return self.client.get(self.url, params={**self._query(), "echostr": echostr, **override})

    def post_raw(self, body: bytes, query: dict[str, str] | None = None, **override: str) -> httpx.Response:
        params = {**(query if query is not None else self._query()), **override}
        return self.client.post(self.url, params=params, content=body, headers={"Content-Type": "text/xml"})

    def post(self, fields: dict[str, Any], **override: str) -> httpx.Response:
        """Deliver one message (encrypted in safe mode); ``override`` replaces query parameters."""
        plain = xml_of(fields)
        query = self._query(str(fields.get("FromUserName", "")))
        if self.crypto is None:
            return self.post_raw(plain, query, **override)
        encrypted = self.crypto.encrypt(plain)
        query |= {
            "encrypt_type": "aes",
            "msg_signature": signature(self.token, query["timestamp"], query["nonce"], encrypted),
        }
        body = xml_of({"ToUserName": fields.get("ToUserName", ACCOUNT), "Encrypt": encrypted})
        return self.post_raw(body, query, **override)

    def text(self, openid: str, content: str, msg_id: int | None = None) -> dict[str, Any]:
        return {
            "ToUserName": ACCOUNT,
            "FromUserName": openid,
            "CreateTime": int(time.time()),
            "MsgType": "text",
            "Content": content,
            "MsgId": msg_id if msg_id is not None else next(_msg_ids),
        }

    def event(self, openid: str, event: str, key: str = "") -> dict[str, Any]:
        fields: dict[str, Any] = {
            "ToUserName": ACCOUNT,
            "FromUserName": openid,
            "CreateTime": next(_msg_ids),
            "MsgType": "event",
            "Event": event,
        }
        if key:
            fields["EventKey"] = key
        return fields

    def media(self, openid: str, kind: str, **extra: Any) -> dict[str, Any]:
        return {
            "ToUserName": ACCOUNT,
            "FromUserName": openid,
            "CreateTime": int(time.time()),
            "MsgType": kind,
            "MediaId": "media-1",
            **extra,
            "MsgId": next(_msg_ids),
        }

    def reply(self, r: httpx.Response) -> dict[str, str] | None:
        """The passive reply's fields (decrypted and signature-checked in safe mode); None for "success"/empty."""
        assert r.status_code == 200, (r.status_code, r.text)
        if r.text in ("success", ""):
            return None
        outer = fields_of(r.content)
        if self.crypto is None:
            assert "Encrypt" not in outer
            return outer
        assert outer["MsgSignature"] == signature(self.token, outer["TimeStamp"], outer["Nonce"], outer["Encrypt"])
        return fields_of(self.crypto.decrypt(outer["Encrypt"]))

    def close(self) -> None:
        self.client.close()


# -- WeChat's server API --------------------------------------------------------------------------------


class FakeWeChat(FakeAPI):
    def __init__(
        self,
        app_id: str = APP_ID,
        app_secret: str = APP_SECRET,
        token_lifetime: int = 7200,
        templates: tuple[str, ...] = ("tmpl-status-1",),
    ):
        super().__init__()  # calls: every API call: path, params, body, raw, errcode, at
        self.app_id, self.app_secret, self.token_lifetime = app_id, app_secret, token_lifetime
        self.templates = set(templates)
        self.tokens: dict[str, float] = {}  # access token -> expiry (monotonic)
        self.closed_windows: set[str] = set()  # openids outside the 48-hour window
        self._failures: dict[str, list[int]] = {}
        self._msg_ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return self.url

    # -- control ---------------------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Every access token handed out so far expires now (WeChat answers 42001)."""
        with self._cond:
            self.tokens = {t: 0.0 for t in self.tokens}

    def close_window(self, openid: str) -> None:
        with self._cond:
            self.closed_windows.add(openid)

    def fail(self, path: str, errcode: int, times: int = 1) -> None:
        with self._cond:
            self._failures.setdefault(path, []).extend([errcode] * times)

    @staticmethod
    def _match(
        path: str | None, touser: str | None, ok: bool | None, where: Callable[[dict[str, Any]], bool] | None = None
    ):
        return lambda c: (
            (path is None or c["path"] == path)
            and (touser is None or (c.get("body") or {}).get("touser") == touser)
            and (ok is None or (c["errcode"] == 0) == ok)
            and (where is None or where(c))
        )

    def recorded(
        self, path: str | None = None, touser: str | None = None, ok: bool | None = None
    ) -> list[dict[str, Any]]:
        return self.matching(self._match(path, touser, ok))

    def sent_texts(self, openid: str) -> list[str]:
        """Customer-service texts WeChat accepted for ``openid``."""
        return [c["body"]["text"]["content"] for c in self.recorded("/cgi-bin/message/custom/send", openid, ok=True)]

    def wait_for(
        self,
        path: str,
        touser: str | None = None,
        count: int = 1,
        ok: bool | None = True,
        timeout: float = 60.0,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        return self.wait_until(self._match(path, touser, ok, where), count, timeout, what=path)

    # -- API -------------------------------------------------------------------------------------------
    def _token_error(self, params: dict[str, str]) -> dict[str, Any] | None:
        token = params.get("access_token", "")
        if token not in self.tokens:
            return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        if self.tokens[token] <= time.monotonic():
            return {"errcode": 42001, "errmsg": "access_token expired"}
        return None

    def _answer(self, method: str, path: str, params: dict[str, str], body: Any) -> dict[str, Any]:
        with self._cond:
            queue = self._failures.get(path)
            injected = queue.pop(0) if queue else None
            if path == "/cgi-bin/token":
                if method != "GET" or params.get("grant_type") != "client_credential":
                    return {"errcode": 40002, "errmsg": "invalid grant_type"}
                if params.get("appid") != self.app_id:
                    return {"errcode": 40013, "errmsg": "invalid appid"}
                if params.get("secret") != self.app_secret:
                    return {"errcode": 40125, "errmsg": "invalid appsecret"}
                token = secrets.token_urlsafe(48)
                self.tokens[token] = time.monotonic() + self.token_lifetime
                return {"access_token": token, "expires_in": self.token_lifetime}
            if path not in ("/cgi-bin/message/custom/send", "/cgi-bin/message/template/send", "/cgi-bin/menu/create"):
                return {"errcode": 404, "errmsg": "not found"}
            if method != "POST" or not isinstance(body, dict):
                return {"errcode": 47001, "errmsg": "data format error"}
            error = self._token_error(params)
            if error:
                return error
            if injected is not None:
                return {"errcode": injected, "errmsg": "injected failure"}
            if path == "/cgi-bin/menu/create":
                buttons = body.get("button")
                if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
                    return {"errcode": 40016, "errmsg": "invalid button size"}
                return {"errcode": 0, "errmsg": "ok"}
            touser = body.get("touser")
            if not isinstance(touser, str) or not touser:
                return {"errcode": 40003, "errmsg": "invalid openid"}
            if path == "/cgi-bin/message/template/send":
                if body.get("template_id") not in self.templates:
                    return {"errcode": 40037, "errmsg": "invalid template_id"}
                if not isinstance(body.get("data"), dict):
                    return {"errcode": 47001, "errmsg": "data format error"}
                return {"errcode": 0, "errmsg": "ok", "msgid": next(self._msg_ids)}
            if touser in self.closed_windows:
                return {"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled"}
            if body.get("msgtype") != "text" or not isinstance((body.get("text") or {}).get("content"), str):
                return {"errcode": 47001, "errmsg": "data format error"}
            content = body["text"]["content"]
            if not content.strip():
                return {"errcode": 44003, "errmsg": "empty news data"}
            if len(content.encode("utf-8")) > TEXT_LIMIT_BYTES:
                return {"errcode": 45002, "errmsg": "content size out of limit"}
            return {"errcode": 0, "errmsg": "ok"}

    def respond(self, request: Request) -> tuple[int, dict[str, Any]]:
        try:
            body = json.loads(request.body) if request.body else None
        except ValueError:
            body = None
        params = request.params()
        answer = self._answer(request.method, request.path, params, body)
        self.record(
            {
                "path": request.path,
                "params": params,
                "body": body,
                "raw": request.body,
                "errcode": int(answer.get("errcode") or 0),
            }
        )
        return 200, answer  # WeChat reports errors in the body, always with HTTP 200

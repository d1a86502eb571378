"""What the inbox may tell a committee about notifying the resident: the one place that decides.

A push "delivered" only means Rasa accepted it. On Rasa's REST channel the bot's answer goes back in
the HTTP response of the call that triggered it (here: the inbox's own push), so nobody reads it;
Open311 integrators read ``status_notes`` through the API instead. Only channels with a chat that
Rasa can write into (Telegram, the web chat, a callback URL) reach a person.

When the delivery record says itself whether a push reached a chat (``reached``: True/False, set by
the notifier), that wins over the channel rule below.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.consultations.notify import reaches_resident
from bot.consultations.records import OutboxRecord
from bot.inbox.web import CHANNEL_NAMES


@dataclass(frozen=True)
class Reach:
    reaches: bool  # a push lands in a chat the resident reads
    summary: str  # one line for the detail page and the flash after a change
    hint: str  # placeholder / label of the note field


def reach(
    channel: str | None, chat_channels: frozenset[str] | set[str], last_push: OutboxRecord | None = None
) -> Reach:
    """How a status note or handoff reply gets to the resident of ``channel``, and what became of the last push."""
    ch = (channel or "").strip().lower()
    name = CHANNEL_NAMES.get(ch, ch or "未知渠道")
    reached = getattr(last_push, "reached", None)
    receives = ch in chat_channels and reaches_resident(ch) if reached is None else bool(reached)
    if ch == "open311":
        return Reach(
            False, "该诉求来自 Open311 接口：不推送消息，集成方通过接口查询状态说明。", "集成方可在接口中看到状态说明"
        )
    if not receives:
        return Reach(
            False,
            f"居民通过{name}提交，该渠道收不到推送：居民查询进度时可看到状态说明，如需及时告知请另行联系。",
            "该渠道收不到推送，居民查询进度时可看到",
        )
    if last_push is None:
        state = ""
    elif last_push.delivered_at:
        state = "最近一次通知已送达聊天。"
    elif last_push.failed:
        state = "最近一次通知多次推送失败，请另行联系居民。"
    else:
        state = "最近一次通知正在发送（失败会自动重试）。"
    return Reach(True, f"状态说明会推送到居民的{name}聊天。{state}", "将发送给居民")

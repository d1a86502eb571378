"""Replies both sides send: the error reply of every channel and the wording of a status push."""

from __future__ import annotations

#: A channel's reply when Rasa or the action server failed on a message.
ERROR_REPLY = "抱歉，系统暂时出了点问题，请稍后再试。"


def status_push(tracking_no: str, status_label: str, note: str = "") -> str:
    """What a resident reads when the committee changes a consultation's status (and what the outbox stores)."""
    text = f"您的议事协商（受理编号 {tracking_no}）有新进展：{status_label}。"
    return text + f"\n说明：{note.strip()}" if note.strip() else text

"""Replies both sides send: the error reply of every channel and the wording of a status push."""

from __future__ import annotations

#: A channel's reply when Rasa or the action server failed on a message.
ERROR_REPLY = "抱歉，系统暂时出了点问题，请稍后再试。"


def status_push(tracking_no: str, status_label: str, note: str = "") -> str:
    """What a resident reads when the committee changes a consultation's status (and what the outbox stores)."""
    text = f"您的议事协商（受理编号 {tracking_no}）有新进展：{status_label}。"
    return text + f"\n说明：{note.strip()}" if note.strip() else text


#: The 回访 question under the push of a resolution (the chat shows 满意 / 基本满意 / 不满意 buttons below it).
FOLLOWUP_QUESTION = (
    "这件事解决得怎么样？请评价：满意 / 基本满意 / 不满意（不满意时可以说明原因，我们会转回社区重新办理）。"
)

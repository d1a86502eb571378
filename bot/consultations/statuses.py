"""The consultation life cycle: which status may follow which, and the Chinese labels residents see."""

from __future__ import annotations

from enum import StrEnum

from bot.errors import UserFacingError


class Status(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    DELIBERATING = "deliberating"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    MERGED = "merged"  # joined into another item by its committee (bot.consultations.loop)

    @property
    def label(self) -> str:
        return LABELS[self]

    @property
    def is_open(self) -> bool:
        return self not in FINAL


LABELS: dict[Status, str] = {
    Status.SUBMITTED: "已提交",
    Status.ACCEPTED: "已受理",
    Status.DELIBERATING: "议事中",
    Status.RESOLVED: "已办结",
    Status.REJECTED: "不予受理",
    Status.WITHDRAWN: "已撤回",
    Status.MERGED: "已合并",
}

FINAL = frozenset({Status.RESOLVED, Status.REJECTED, Status.WITHDRAWN, Status.MERGED})

#: Transitions a committee member may make (withdrawal is the resident's, see RESIDENT_ONLY).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.SUBMITTED: frozenset({Status.ACCEPTED, Status.REJECTED, Status.WITHDRAWN}),
    Status.ACCEPTED: frozenset({Status.DELIBERATING, Status.RESOLVED, Status.REJECTED, Status.WITHDRAWN}),
    Status.DELIBERATING: frozenset({Status.RESOLVED, Status.REJECTED, Status.WITHDRAWN}),
    Status.RESOLVED: frozenset(),
    Status.REJECTED: frozenset(),
    Status.WITHDRAWN: frozenset(),
    Status.MERGED: frozenset(),
}
#: A resident's 不满意 at the follow-up (回访) sends a resolved item back to its committee: rework, not a new item.
REOPEN_TO = Status.ACCEPTED

RESIDENT_ONLY = frozenset({Status.WITHDRAWN})
NOTE_REQUIRED = frozenset({Status.REJECTED})

#: Actor name recorded in the trail when the resident acts (members are recorded by username).
RESIDENT_ACTOR = "resident"
SYSTEM_ACTOR = "system"  # changes made by the service itself (CLI, closing without a member)


class TransitionError(UserFacingError):
    """An illegal status change; ``message`` says in Chinese why, ``code`` says which rule."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "illegal_transition",
        from_status: Status | None = None,
        to_status: Status | None = None,
    ):
        super().__init__(message, code=code)
        self.from_status = from_status
        self.to_status = to_status


def parse_status(value: str | Status) -> Status:
    """Accept the English code or the Chinese label (the inbox and CLI take either)."""
    if isinstance(value, Status):
        return value
    v = str(value).strip()
    for s in Status:
        if v.lower() == s.value or v == s.label:
            return s
    raise TransitionError(
        f"没有“{v}”这个状态，可选：" + "、".join(f"{s.label}（{s.value}）" for s in Status), code="unknown_status"
    )


def check_transition(
    current: Status | str, target: Status | str, *, by_resident: bool, note: str | None = None
) -> Status:
    """Return the target status if the change is allowed, else raise :class:`TransitionError`."""
    cur, tgt = parse_status(current), parse_status(target)
    if cur == tgt:
        raise TransitionError(
            f"该事项已经是“{cur.label}”状态，无需重复操作。", code="same_status", from_status=cur, to_status=tgt
        )
    if cur in FINAL:
        raise TransitionError(
            f"该事项已是“{cur.label}”状态，不能再改为“{tgt.label}”。",
            code="final_status",
            from_status=cur,
            to_status=tgt,
        )
    if tgt not in TRANSITIONS[cur]:
        raise TransitionError(f"不能从“{cur.label}”直接改为“{tgt.label}”。", from_status=cur, to_status=tgt)
    if tgt in RESIDENT_ONLY and not by_resident:
        raise TransitionError("只有提交人本人可以撤回诉求。", code="resident_only", from_status=cur, to_status=tgt)
    if by_resident and tgt not in RESIDENT_ONLY:
        raise TransitionError(
            "您只能撤回自己的诉求，办理进度由委员会更新。", code="committee_only", from_status=cur, to_status=tgt
        )
    if tgt in NOTE_REQUIRED and not (note and note.strip()):
        raise TransitionError(f"改为“{tgt.label}”时请填写理由。", code="note_required", from_status=cur, to_status=tgt)
    return tgt


def allowed_targets(current: Status | str) -> list[Status]:
    """Statuses a committee member may choose next (for the inbox's buttons)."""
    return [s for s in Status if s in TRANSITIONS[parse_status(current)] and s not in RESIDENT_ONLY]

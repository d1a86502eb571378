"""The closed loop (闭环) of a 12345-style hotline: working-day deadlines, extensions, reminders and escalation, the
催办 rule, a scheduler lease across replicas and the co-sign (附议) detector as pure logic; the resident side
(co-sign offer, 催办, follow-up expiry, scorecard counts) wired over ``service.loop`` in ``residents`` and ``counts``.

See docs/architecture.md, "bot.closedloop".
"""

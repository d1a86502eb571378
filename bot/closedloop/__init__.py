"""The closed loop (闭环) of a 12345-style hotline, as pure logic: working-day deadlines, extensions,
reminders and escalation, the 催办 rule, a scheduler lease across replicas and the co-sign (附议) detector.

Not yet wired into consultations, the inbox or the chat (docs/architecture.md, "bot.closedloop").
"""

"""Learning loop: questions the assistant could not answer and residents' ratings, without personal data."""

from bot.feedback.store import FeedbackStore, Gap, normalize_question

__all__ = ["FeedbackStore", "Gap", "normalize_question"]

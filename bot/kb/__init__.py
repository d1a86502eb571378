"""The knowledge base: the plan (parsed), the service catalogue, agencies and communities."""

from bot.kb.loader import KBError, KnowledgeBase, Problem, load_kb

__all__ = ["KBError", "KnowledgeBase", "Problem", "load_kb"]

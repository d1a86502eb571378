"""Policy documents: read .txt/.docx/.pdf, parse the shared structure of government plans, review problems."""

from bot.kb.documents.model import Action, Chapter, Indicator, Plan, PlanParseError, Quantity, Sentence
from bot.kb.documents.parser import DocProblem, ParsedDocument, parse_document
from bot.kb.documents.readers import DocumentError, read_document

__all__ = [
    "Action",
    "Chapter",
    "DocProblem",
    "DocumentError",
    "Indicator",
    "ParsedDocument",
    "Plan",
    "PlanParseError",
    "Quantity",
    "Sentence",
    "parse_document",
    "read_document",
]

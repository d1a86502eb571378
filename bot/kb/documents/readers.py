"""Read an uploaded policy document into plain text lines: .txt, .docx (python-docx), .pdf with a text layer (pypdf).

Tables become one line per row with the cells separated by spaces (whitespace inside a cell removed), the
form the parser reads in the seed plan's copied tables; a scanned PDF without text is refused, not guessed.
"""

from __future__ import annotations

import re
from pathlib import Path

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
KINDS = (".txt", ".docx", ".pdf")


class DocumentError(ValueError):
    """The file cannot be read as a policy document (the message is for the editor, in Chinese)."""


def read_document(path: Path) -> str:
    path = Path(path)
    if not path.is_file():
        raise DocumentError(f"找不到文件：{path}")
    kind = path.suffix.lower()
    if kind not in KINDS:
        raise DocumentError(f"不支持的文件类型 {kind or '(无扩展名)'}：只能导入 .txt、.docx 或带文字层的 .pdf")
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"文件太大（超过 {MAX_DOCUMENT_BYTES // 1024 // 1024} MB）")
    data = path.read_bytes()
    text = {".txt": _txt, ".docx": _docx, ".pdf": _pdf}[kind](data)
    text = _clean(text)
    if not text.strip():
        raise DocumentError(
            "文件里没有可读的文字" + ("（扫描件 PDF 没有文字层，请提供文字版）" if kind == ".pdf" else "")
        )
    return text


def _clean(text: str) -> str:
    """Normalise line ends and drop control characters (a copied PDF brings form feeds and NULs)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)


def _txt(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DocumentError("文本文件的编码无法识别（请用 UTF-8 保存）")


def _docx(data: bytes) -> str:
    import io
    import zipfile

    from docx import Document
    from docx.table import Table

    try:
        document = Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise DocumentError(f"不是有效的 .docx 文件（{type(e).__name__}）") from None
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    value = re.sub(r"\s+", "", cell.text)
                    if value and (not cells or cells[-1] != value):  # a merged cell repeats in every column it spans
                        cells.append(value)
                lines.append(" ".join(cells))
        else:
            lines.append(block.text)
    return "\n".join(lines)


def _pdf(data: bytes) -> str:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError) as e:
        raise DocumentError(f"不是有效的 PDF 文件（{type(e).__name__}）") from None

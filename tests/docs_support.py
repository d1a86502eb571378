"""Make the test document in the three formats an editor uploads: .txt (committed), .docx and .pdf (written here).

The .docx is written with python-docx, the 专栏 tables as real Word tables; the .pdf with pypdf's objects: one
page, a Type0 font whose codes are the Unicode code points and a ToUnicode map, i.e. a real text layer (the
machine has no CJK font to draw the glyphs, which the text layer does not need).
"""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parent / "data" / "docs"
ELDERLY_TXT = DOCS / "elderly_care_plan.txt"


def elderly_lines() -> list[str]:
    return [x.strip() for x in ELDERLY_TXT.read_text(encoding="utf-8").splitlines() if x.strip()]


def write_docx(lines: list[str], path: Path) -> Path:
    """Paragraphs, with each run of table rows (a 序号 header and its numbered rows) as a Word table."""
    import re

    from docx import Document

    doc = Document()
    i = 0
    while i < len(lines):
        if lines[i].startswith("序号"):
            rows = [lines[i].split()]
            i += 1
            while i < len(lines) and re.match(r"^\d+\s", lines[i]):
                rows.append(lines[i].split())
                i += 1
            width = max(len(r) for r in rows)
            table = doc.add_table(rows=len(rows), cols=width)
            for r, cells in enumerate(rows):
                for c, value in enumerate(cells):
                    table.cell(r, c).text = value
            continue
        doc.add_paragraph(lines[i])
        i += 1
    doc.save(str(path))
    return path


def write_pdf(lines: list[str], path: Path) -> Path:
    from pypdf import PdfWriter
    from pypdf.generic import (
        ArrayObject,
        DecodedStreamObject,
        DictionaryObject,
        NameObject,
        NumberObject,
        TextStringObject,
    )

    chars = sorted({ord(ch) for line in lines for ch in line})
    if any(c > 0xFFFF for c in chars):
        raise ValueError("only the Basic Multilingual Plane is encoded")
    blocks = []
    for a in range(0, len(chars), 100):
        part = chars[a : a + 100]
        blocks.append(f"{len(part)} beginbfchar\n" + "\n".join(f"<{c:04X}> <{c:04X}>" for c in part) + "\nendbfchar")
    cmap = (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(blocks)
        + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    )
    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    to_unicode = DecodedStreamObject()
    to_unicode.set_data(cmap.encode("ascii"))
    system_info = DictionaryObject(
        {
            NameObject("/Registry"): TextStringObject("Adobe"),
            NameObject("/Ordering"): TextStringObject("Identity"),
            NameObject("/Supplement"): NumberObject(0),
        }
    )
    descendant = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/CIDFontType2"),
            NameObject("/BaseFont"): NameObject("/STSong-Light"),
            NameObject("/CIDSystemInfo"): system_info,
            NameObject("/DW"): NumberObject(1000),
        }
    )
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type0"),
            NameObject("/BaseFont"): NameObject("/STSong-Light"),
            NameObject("/Encoding"): NameObject("/Identity-H"),
            NameObject("/DescendantFonts"): ArrayObject([writer._add_object(descendant)]),
            NameObject("/ToUnicode"): writer._add_object(to_unicode),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {
            NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)}),
        }
    )
    ops = []
    for k, line in enumerate(lines):
        ops.append(f"BT /F1 9 Tf 20 {820 - 14 * k} Td <{line.encode('utf-16-be').hex().upper()}> Tj ET")
    content = DecodedStreamObject()
    content.set_data("\n".join(ops).encode("ascii"))
    page[NameObject("/Contents")] = writer._add_object(content)
    with open(path, "wb") as f:
        writer.write(f)
    return path

"""See a citation in the original: a PDF page rendered with the cited text boxed, or the
extracted text of any other format with line numbers and the cited lines marked.

Only files the index holds can be opened: a request names an indexed file by its index name
(as citations show it), never by a path, and the path comes from the index's own record after
checks (it must still be a regular file, the one that was indexed).
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

# Rendering scale for PDF pages (72 dpi × 1.6 ≈ 115 dpi: readable at 1280 px, ~200-400 KB PNG)
PDF_SCALE = 1.6
# Lines of text shown around the cited ones
CONTEXT_LINES = 12
HIGHLIGHT_RGBA = (255, 200, 0, 110)
BOX_RGBA = (230, 120, 0, 255)


class ViewError(ValueError):
    """A request the viewer refuses; the message is Korean and shown as is."""


@dataclass
class SourceView:
    file: str
    format: str
    page: int | None = None
    png: bytes | None = None                 # a PDF page with the cited text boxed
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)  # pixel boxes drawn
    lines: list[tuple[int, str, bool]] = field(default_factory=list)  # (number, text, cited)
    first: int = 0
    last: int = 0

    @property
    def cited(self) -> list[tuple[int, str, bool]]:
        return [ln for ln in self.lines if ln[2]]


def indexed_path(searcher, file: str) -> Path:
    """The on-disk path of an indexed file named as the index names it; refuses anything else."""
    if not isinstance(file, str) or not file or len(file) > 500 or "\x00" in file:
        raise ViewError("열 수 없는 파일 이름입니다.")
    entry = searcher.manifest.files.get(file)
    if entry is None:
        raise ViewError(f"색인에 없는 파일입니다: {file[:80]}")
    path = Path(entry.path)
    if path.is_symlink() or not path.is_file():
        raise ViewError(f"원본 파일을 찾을 수 없습니다 (옮겨졌거나 지워졌습니다): {file}. `kosearch index` 로 다시 색인하세요.")
    return path


def view(searcher, file: str, lines: tuple[int, int] | list[int], page: int | None = None,
         quote: str | None = None) -> SourceView:
    """The cited lines of ``file`` in the original: a rendered PDF page, or numbered text."""
    try:
        a, b = int(lines[0]), int(lines[1])
    except (TypeError, ValueError, IndexError):
        raise ViewError("행 범위가 올바르지 않습니다.") from None
    if a < 1 or b < a:
        raise ViewError("행 범위가 올바르지 않습니다.")
    path = indexed_path(searcher, file)
    from index.readers import read

    source = read(path)
    cited = [ln for ln in source.lines if a <= ln.number <= b]
    if source.format == "pdf":
        page = page or next((ln.page for ln in cited if ln.page), None) or 1
        texts = [ln.text for ln in cited if ln.page == page and ln.text.strip()]
        if quote:
            texts = [quote] + texts
        png, boxes = render_pdf_page(path, page, texts)
        return SourceView(file=file, format="pdf", page=page, png=png, boxes=boxes, first=a, last=b)
    lo, hi = max(1, a - CONTEXT_LINES), b + CONTEXT_LINES
    shown = [(ln.number, ln.text, a <= ln.number <= b) for ln in source.lines if lo <= ln.number <= hi]
    return SourceView(file=file, format=source.format, page=page, lines=shown, first=a, last=b)


def _compact(text: str) -> str:
    return re.sub(r"[\s|]+", "", text)


def render_pdf_page(path: Path, page: int, texts: list[str]) -> tuple[bytes, list[tuple[float, float, float, float]]]:
    """PNG of ``page`` (1-based) with every character of ``texts`` found on it boxed."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    pdf = pdfium.PdfDocument(str(path))
    try:
        if not 1 <= page <= len(pdf):
            raise ViewError(f"{path.name} 에는 {page}쪽이 없습니다.")
        pg = pdf[page - 1]
        width, height = pg.get_size()
        image = pg.render(scale=PDF_SCALE).to_pil().convert("RGBA")
        tp = pg.get_textpage()
        chars, boxes_by_char = [], []
        for i in range(tp.count_chars()):
            ch = tp.get_text_range(i, 1)
            if not ch or ch.isspace() or ch == "|":
                continue
            chars.append(ch)
            boxes_by_char.append(tp.get_charbox(i))
        page_text = "".join(chars)
        hits: list[tuple[float, float, float, float]] = []
        for text in texts:
            target = _compact(text)
            for size in (len(target), 24, 12):
                t = target[:size]
                if len(t) < 2:
                    break
                at = page_text.find(t)
                if at >= 0:
                    hits.extend(boxes_by_char[at:at + len(t)])
                    break
        rects = _merge_lines(hits)
        px = [(l * PDF_SCALE, (height - t) * PDF_SCALE, r * PDF_SCALE, (height - btm) * PDF_SCALE)
              for l, btm, r, t in rects]
        overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        for x0, y0, x1, y1 in px:
            draw.rectangle([x0 - 2, y0 - 2, x1 + 2, y1 + 2], fill=HIGHLIGHT_RGBA, outline=BOX_RGBA, width=2)
        out = Image.alpha_composite(image, overlay).convert("RGB")
        buf = io.BytesIO()
        out.save(buf, format="PNG", optimize=True)
        return buf.getvalue(), px
    finally:
        pdf.close()


def _merge_lines(boxes: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    """Character boxes (left, bottom, right, top) merged into one box per text line."""
    rows: list[list[float]] = []
    if not boxes:
        return []
    heights = sorted(t - b for _, b, _, t in boxes)
    tall = heights[len(heights) // 2] * 0.5   # dots, commas and rules would draw lines through the text
    for l, b, r, t in sorted((x for x in boxes if x[3] - x[1] >= tall), key=lambda x: (-x[3], x[0])):
        for row in rows:
            if abs(row[3] - t) < (t - b) * 0.6 + 1:
                row[0], row[1], row[2], row[3] = min(row[0], l), min(row[1], b), max(row[2], r), max(row[3], t)
                break
        else:
            rows.append([l, b, r, t])
    return [tuple(r) for r in rows]

"""The source viewer: a PDF citation renders its page with the cited text boxed; other formats
show numbered lines with the cited ones marked; only indexed files open."""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from search.viewer import HIGHLIGHT_RGBA, ViewError, view

FIXTURES = Path(__file__).parent / "fixtures"
PDF = "pdf_moef_fdi_2025q2_press_hancom.pdf"
HWPX = "hwpx_moef_fdi_2025q2_press.hwpx"


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    from index.build import build
    from search.searcher import Searcher

    d = tmp_path_factory.mktemp("viewer")
    for name in (PDF, HWPX):
        shutil.copy(FIXTURES / name, d / name)
    build([d], d / "index", model="none")
    return Searcher.open(d / "index")


def _chunk(searcher, file, page=None):
    return next(c for c in searcher.chunks if c.file == file and (page is None or c.page == page))


def test_pdf_citation_renders_its_page_with_the_cited_text_boxed(searcher):
    from PIL import Image

    c = _chunk(searcher, PDF, page=5)
    v = view(searcher, c.file, (c.start_line, c.end_line), c.page)
    assert v.format == "pdf" and v.page == 5 and v.boxes
    img = Image.open(io.BytesIO(v.png)).convert("RGB")
    # inside a drawn box the page is tinted by the highlight, so its pixels lean to yellow:
    x0, y0, x1, y1 = (int(a) for a in v.boxes[0])
    px = [img.getpixel((x, y)) for x in range(x0 + 1, x1 - 1, 3) for y in range(y0 + 1, y1 - 1, 3)]
    tinted = sum(1 for r, g, b in px if r > 200 and g > 150 and b < 200)
    assert tinted / len(px) > 0.5
    # and outside every box, the page stays as rendered (mostly white)
    w, h = img.size
    assert img.getpixel((5, 5)) == (255, 255, 255)
    assert HIGHLIGHT_RGBA[2] < 100


def test_text_formats_show_numbered_lines_with_the_cited_ones_marked(searcher):
    c = _chunk(searcher, HWPX)
    v = view(searcher, c.file, (c.start_line, c.end_line))
    assert v.format == "hwpx" and v.png is None
    assert [n for n, _, cited in v.lines if cited] == list(range(c.start_line, c.end_line + 1))[:len(v.cited)]
    assert v.cited and all(isinstance(n, int) for n, _, _ in v.lines)


@pytest.mark.parametrize("name", ["../" + PDF, "/etc/passwd", "../../etc/passwd", "", "a\x00b", "nope.pdf"])
def test_only_indexed_files_open(searcher, name):
    with pytest.raises(ViewError):
        view(searcher, name, (1, 2))


@pytest.mark.parametrize("lines", [(0, 2), (5, 2), ("a", 3), ()])
def test_bad_line_ranges_are_refused(searcher, lines):
    with pytest.raises(ViewError):
        view(searcher, PDF, lines)

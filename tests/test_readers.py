"""Readers on real Korean public-sector documents (tests/fixtures, see SOURCES.md) and on hostile files."""
from __future__ import annotations

import io
import re
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from index.model import SourceText
from index.outline_generic import generic_outline
from index.readers import ReadError, read
from index.readers.clean import clean_text, squash

FIX = Path(__file__).resolve().parent / "fixtures"

HWP_NOTICE = FIX / "hwp_gangnam_welfare_notice_distribution.hwp"   # 배포용 (encrypted body)
HWP_NIKL = FIX / "hwp_nikl_2022_work_plan.hwp"
HWPX_RFP = FIX / "hwpx_gangbuk_festival_rfp_2023.hwpx"
HWPX_MOEF = FIX / "hwpx_moef_fdi_2025q2_press.hwpx"
PDF_MOEF = FIX / "pdf_moef_fdi_2025q2_press_hancom.pdf"
PDF_NIKL = FIX / "pdf_nikl_2022_work_plan_hancom.pdf"
DOCX = FIX / "report_ko.docx"
ALL = [HWP_NOTICE, HWP_NIKL, HWPX_RFP, HWPX_MOEF, PDF_MOEF, PDF_NIKL, DOCX]

_cache: dict[Path, SourceText] = {}


def src(path: Path) -> SourceText:
    if path not in _cache:
        _cache[path] = read(path)
    return _cache[path]


def text_of(s: SourceText) -> str:
    return "\n".join(ln.text for ln in s.lines)


def find(s: SourceText, phrase: str):
    """The line where ``phrase`` starts, ignoring whitespace (PDF lines wrap mid-sentence)."""
    want = squash(phrase)
    joined, owner = [], []
    for ln in s.lines:
        t = squash(ln.text)
        joined.append(t)
        owner.extend([ln] * len(t))
    at = "".join(joined).find(want)
    return owner[at] if at >= 0 else None


# Mojibake: Latin-1 read of UTF-8 Korean ("ê°\x80"), CP949 misread, or private-use / replacement chars.
_MOJIBAKE = re.compile("[\ufffd\ue000-\uf8ff\U000f0000-\U0010ffff\ud800-\udfff]|[ÃÂêëìí][\x80-\xbf]|[\x80-\x9f]")


# --------------------------------------------------------------------------- #
# Clean Korean text from every format
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_korean_text_is_clean(path):
    s = src(path)
    text = text_of(s)
    hangul = sum(1 for ch in text if "가" <= ch <= "힣")
    assert hangul > 200, f"{path.name}: only {hangul} Hangul syllables"
    bad = _MOJIBAKE.findall(text)
    assert not bad, f"{path.name}: {bad[:10]}"
    assert all(ln.number == i for i, ln in enumerate(s.lines, 1))
    assert all(ln.text.strip() == ln.text and ln.text for ln in s.lines)


def test_formats_and_page_flags():
    assert src(HWP_NIKL).format == "hwp" and not src(HWP_NIKL).page_exact
    assert src(HWPX_MOEF).format == "hwpx" and src(HWPX_MOEF).page_exact
    assert src(PDF_MOEF).format == "pdf" and src(PDF_MOEF).page_exact
    assert src(DOCX).format == "docx" and not src(DOCX).page_exact
    assert all(ln.page is None for ln in src(DOCX).lines)
    assert max(ln.page for ln in src(PDF_MOEF).lines) == 9
    assert max(ln.page for ln in src(HWPX_MOEF).lines) == 9
    assert max(ln.page for ln in src(PDF_NIKL).lines) == 37


def test_distribution_hwp_is_decrypted():
    text = text_of(src(HWP_NOTICE))
    assert "배포용 문서" not in text
    assert "강남세움복지관" in squash(text) or "강남세움" in text


def test_private_use_symbols_are_mapped():
    # HWP 5 stores 『』 and boxed numbers as Hancom plane-15 symbols (and as surrogates).
    nikl = squash(text_of(src(HWP_NIKL)))
    assert "『2020년국민의언어의식조사』" in nikl
    # The HWPX uses a Wingdings bullet U+F06D in a form: mapped, not dropped silently into nothing.
    rfp = text_of(src(HWPX_RFP))
    assert "○ 입찰보증금 : 입찰금액의 5%" in rfp
    assert clean_text("\uf09f 항목 \uf0a7 세부 \ufffd") == "· 항목 ▪ 세부 "


# --------------------------------------------------------------------------- #
# Tables keep a row's cells together, header first
# --------------------------------------------------------------------------- #

def test_hwpx_table_rows_are_pipe_rows():
    lines = [ln.text for ln in src(HWPX_MOEF).lines]
    i = lines.index("| 구분 | 금융보험업 | 제조업 | 정보통신업 | 부동산업 | 도·소매업 |")
    assert lines[i + 1] == "| ‘24.2Q | 55.8 | 38.8 | 13.2 | 11.5 | 6.4 |"
    rfp = [ln.text for ln in src(HWPX_RFP).lines]
    assert sum(1 for t in rfp if t.startswith("| ")) > 100


def test_hwp_table_with_merged_cells():
    lines = [ln.text for ln in src(HWP_NIKL).lines]
    header = "| 연도 | ‘18년 | ‘19년 | ‘20년 | ‘21년 | 누적 |"
    i = lines.index(header)
    assert lines[i + 1] == "| 원시 말뭉치* | 0.31억 어절 | 18억 어절 | 1.03억 어절 | 1.03억 어절 | 20.3억 어절 |"


def test_pdf_table_rows_stay_on_one_line():
    moef = [ln.text for ln in src(PDF_MOEF).lines]
    assert any(squash(t) == squash("‘24.2Q 55.8 38.8 13.2 11.5 6.4") for t in moef)
    nikl = [ln.text for ln in src(PDF_NIKL).lines]
    assert "| 원시 말뭉치* | 0.31억 어절 | 18억 어절 | 1.03억 어절 | 1.03억 어절 | 20.3억 어절 |" in nikl


def test_docx_table_and_headings():
    s = src(DOCX)
    lines = [ln.text for ln in s.lines]
    i = lines.index("| 분야 | 사업명 | 목표 | 실적 | 달성률 |")
    assert lines[i + 1] == "| 안전 | 노후 하수관로 정비 | 15.0km | 12.5km | 83% |"
    heads = [(ln.heading_level, ln.text) for ln in s.lines if ln.heading_level]
    assert heads[0] == (1, "2024년 상반기 주요업무 추진실적 보고")
    assert (2, "3. 문제점 및 개선방안") in heads
    # Body order: the table sits between its heading and the next one.
    assert lines.index("2. 분야별 추진실적") < i < lines.index("3. 문제점 및 개선방안")


# --------------------------------------------------------------------------- #
# The same document as HWPX and PDF (and HWP and PDF)
# --------------------------------------------------------------------------- #

MOEF_PASSAGES = [
    ("2025년 2분기(4~6월) 해외직접투자액은 총투자액 기준 141.5억 달러로 전년 동기(163.4억 달러) 대비 13.4% 감소하였다.", 1),
    ("정부는 통상정책 변화와 금융시장 변동성 및 지정학적 리스크로 인해 글로벌 경제가 위축되고 있는 상황에서", 2),
    ("’25.2분기 해외직접투자 세부통계", 3),
    ("해외직접투자 개념 (외국환거래법 제3조, 시행령 제8조)", 9),
]


@pytest.mark.parametrize("phrase,page", MOEF_PASSAGES)
def test_hwpx_and_pdf_agree_on_passages_and_pages(phrase, page):
    in_hwpx = find(src(HWPX_MOEF), phrase)
    in_pdf = find(src(PDF_MOEF), phrase)
    assert in_hwpx is not None and in_pdf is not None
    assert in_pdf.page == page
    assert in_hwpx.page == page


def test_pdf_shadow_text_is_deduplicated():
    text = text_of(src(PDF_MOEF))
    assert "참고참고" not in text
    assert find(src(PDF_MOEF), "참고 1 ’25.2분기").page == 3


def test_pdf_page_labels():
    s = src(PDF_NIKL)
    ln = find(s, "□ 지속적 국어 말뭉치 구축, 공개로 인공지능 기술 발전 기반 강화")
    assert (ln.page, ln.page_label) == (3, "1")
    ln = find(s, "□ 국어 말뭉치 확대 구축(3,180백만원)")
    assert (ln.page, ln.page_label) == (9, "7")
    assert not any(re.fullmatch(r"- \d+ -", x.text) for x in s.lines)  # folios are not text
    assert all(x.page_label is None for x in src(PDF_MOEF).lines)  # folio equals the page


@pytest.mark.parametrize("phrase", [
    "국어 말뭉치 확대 구축(3,180백만원)",
    "언어 현실을 반영한 <표준국어대사전> 개편 필요",
    "국외 한국어교원 인증(K-teacher) 프로그램 개발",
])
def test_hwp_and_pdf_agree(phrase):
    assert find(src(HWP_NIKL), phrase) is not None
    assert find(src(PDF_NIKL), phrase) is not None


# --------------------------------------------------------------------------- #
# Dispatch on content
# --------------------------------------------------------------------------- #

def test_hwpx_named_hwp_still_reads(tmp_path):
    fake = tmp_path / "really_hwpx.hwp"
    shutil.copy(HWPX_MOEF, fake)
    s = read(fake)
    assert s.format == "hwpx"
    assert find(s, MOEF_PASSAGES[0][0]) is not None


def test_pdf_named_hwp_and_docx_named_hwpx(tmp_path):
    a = tmp_path / "x.hwp"
    shutil.copy(PDF_MOEF, a)
    assert read(a).format == "pdf"
    b = tmp_path / "x.hwpx"
    shutil.copy(DOCX, b)
    assert read(b).format == "docx"


# --------------------------------------------------------------------------- #
# Bad and hostile files
# --------------------------------------------------------------------------- #

def _reason(path) -> str:
    with pytest.raises(ReadError) as info:
        read(path)
    reason = str(info.value)
    assert reason and "\n" not in reason
    return reason


def encrypted_pdf() -> bytes:
    """A PDF under the standard security handler whose user password is not empty."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        b"<< /Filter /Standard /V 1 /R 2 /Length 40 /P -44 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 4 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objs) + 1, b"ab" * 16, b"ab" * 16, xref))
    return bytes(out)


def image_only_pdf() -> bytes:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    page = pdf.new_page(200, 200)
    img = pdfium.PdfImage.new(pdf)
    img.set_bitmap(pdfium.PdfBitmap.new_native(40, 40, pdfium.raw.FPDFBitmap_BGR))
    img.set_matrix(pdfium.PdfMatrix().scale(150, 150))
    page.insert_obj(img)
    page.gen_content()
    buf = io.BytesIO()
    pdf.save(buf)
    return buf.getvalue()


def test_encrypted_pdf(tmp_path):
    p = tmp_path / "locked.pdf"
    p.write_bytes(encrypted_pdf())
    assert "encrypted" in _reason(p)


def test_scanned_pdf_without_text_layer(tmp_path):
    p = tmp_path / "scan.pdf"
    p.write_bytes(image_only_pdf())
    assert "no text layer; OCR not supported yet" in _reason(p)


@pytest.mark.parametrize("path", [PDF_MOEF, HWP_NIKL, HWPX_MOEF, DOCX], ids=lambda p: p.suffix)
def test_truncated_files(tmp_path, path):
    data = path.read_bytes()
    p = tmp_path / ("cut" + path.suffix)
    p.write_bytes(data[: len(data) // 2])
    _reason(p)


@pytest.mark.parametrize("path", [PDF_MOEF, HWP_NIKL, HWPX_MOEF, DOCX], ids=lambda p: p.suffix)
def test_corrupt_files(tmp_path, path):
    data = bytearray(path.read_bytes())
    # Keep the magic bytes (so dispatch picks the format) and scramble the rest.
    for i in range(16, len(data), 7):
        data[i] = (data[i] * 31 + 17) & 0xFF
    p = tmp_path / ("bad" + path.suffix)
    p.write_bytes(bytes(data))
    _reason(p)


def test_empty_and_password_hwp(tmp_path):
    p = tmp_path / "empty.hwp"
    p.write_bytes(b"")
    assert "empty" in _reason(p)
    # An HWP whose FileHeader says "password": flip the flag in a copy of a real file.
    import olefile

    q = tmp_path / "pw.hwp"
    shutil.copy(HWP_NIKL, q)
    ole = olefile.OleFileIO(str(q), write_mode=True)
    header = bytearray(ole.openstream("FileHeader").read())
    header[36] |= 0x02
    ole.write_stream("FileHeader", bytes(header))
    ole.close()
    assert "password" in _reason(q)


def _bomb(path: Path, kind: str, size: int = 64 * 1024 * 1024) -> None:
    """A small zip whose one member inflates to ``size`` bytes of zeros."""
    member = "Contents/section0.xml" if kind == "hwpx" else "word/document.xml"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        if kind == "hwpx":
            zf.writestr("mimetype", "application/hwp+zip")
        else:
            zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open(member, "w", force_zip64=True) as fh:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(size // len(chunk)):
                fh.write(chunk)


@pytest.mark.parametrize("kind", ["hwpx", "docx"])
def test_zip_bombs(tmp_path, kind):
    p = tmp_path / f"bomb.{kind}"
    _bomb(p, kind)
    assert p.stat().st_size < 1024 * 1024
    t = time.perf_counter()
    assert "zip bomb" in _reason(p)
    assert time.perf_counter() - t < 2.0  # refused from the directory, nothing inflated


def test_unknown_zip(tmp_path):
    p = tmp_path / "x.hwpx"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("hello.txt", "hi")
    assert "unsupported" in _reason(p)


# --------------------------------------------------------------------------- #
# Generic outline
# --------------------------------------------------------------------------- #

def _covered(chapters):
    seen: dict[int, int] = {}
    for ch in chapters:
        for prog in ch.programmes:
            assert ch.start <= prog.start <= prog.end <= ch.end
            for sec in prog.sections:
                assert prog.start <= sec.start <= sec.end <= prog.end
                for n in range(sec.start, sec.end + 1):
                    seen[n] = seen.get(n, 0) + 1
    return seen


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_generic_outline_covers_every_line_once(path):
    s = src(path)
    chapters = generic_outline(s)
    seen = _covered(chapters)
    nonblank = [ln.number for ln in s.lines if ln.text.strip()]
    assert all(seen.get(n) == 1 for n in nonblank)
    assert all(v == 1 for v in seen.values())


def test_generic_outline_headings():
    rfp = generic_outline(src(HWPX_RFP))
    assert [c.number for c in rfp if c.number][:3] == ["I", "Ⅱ", "Ⅲ"]
    assert rfp[1].title == "과업안내"
    assert [s.heading for s in rfp[1].programmes[0].sections][:2] == ["I. 과업안내", "1. 행사개요"]
    docx = generic_outline(src(DOCX))
    assert [c.title for c in docx] == ["", "1. 추진 개요", "2. 분야별 추진실적", "3. 문제점 및 개선방안", "4. 향후 계획"]


def test_generic_outline_plain_and_blank_lines():
    from index.model import Line

    plain = SourceText(path="memo.txt", format="txt",
                       lines=[Line(1, "첫 줄"), Line(2, ""), Line(3, "둘째 줄")])
    chapters = generic_outline(plain)
    assert len(chapters) == 1
    sec = chapters[0].programmes[0].sections[0]
    assert (sec.heading, sec.start, sec.end) == ("memo", 1, 3)
    numbered = SourceText(path="n.txt", format="txt", lines=[
        Line(1, "안내문"), Line(2, "1. 개요"), Line(3, "□ 목적"), Line(4, "내용"), Line(5, ""),
        Line(6, "□ 기간"), Line(7, "2. 세부"), Line(8, "ㅇ 항목 …… 3"), Line(9, "| a | b |"),
    ])
    chapters = generic_outline(numbered)
    assert [c.title for c in chapters] == ["", "1. 개요", "2. 세부"]
    assert [(s.heading, s.start, s.end) for s in chapters[1].programmes[0].sections] == [
        ("1. 개요", 2, 2), ("□ 목적", 3, 4), ("□ 기간", 6, 6)]
    assert generic_outline(SourceText(path="e.txt", format="txt", lines=[])) == []

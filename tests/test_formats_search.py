"""HWP, HWPX, PDF and DOCX reports are indexed, searched and cited like the text reports."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from index.build import build
from search.searcher import Searcher

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def fixture_index(tmp_path_factory):
    d = tmp_path_factory.mktemp("formats")
    docs = d / "docs"
    docs.mkdir()
    for f in FIXTURES.iterdir():
        if f.suffix in {".hwp", ".hwpx", ".pdf", ".docx"}:
            shutil.copy(f, docs / f.name)
    # A hostile and a broken file in the same folder must not stop the run.
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<>>\n")
    (docs / "fake.hwpx").write_bytes(b"PK\x03\x04 not really a zip")
    rep = build([docs], d / "idx", model="none")
    return rep, Searcher.open(d / "idx")


def test_all_formats_indexed_and_bad_files_skipped(fixture_index):
    rep, s = fixture_index
    assert len(rep.added) == 7
    assert {Path(x.file).name for x in rep.skipped} == {"broken.pdf", "fake.hwpx"}
    assert {c.format for c in s.chunks} == {"hwp", "hwpx", "pdf", "docx"}


@pytest.mark.parametrize("question,file,page,label", [
    ("해외직접투자액 총투자액 기준 141.5억 달러", "pdf_moef_fdi_2025q2_press_hancom.pdf", 1, None),
    ("해외직접투자 개념 외국환거래법", "pdf_moef_fdi_2025q2_press_hancom.pdf", 9, None),
    ("국어 말뭉치 확대 구축 3,180백만원", "pdf_nikl_2022_work_plan_hancom.pdf", 9, "7"),
    ("해외직접투자액 총투자액 기준 141.5억 달러", "hwpx_moef_fdi_2025q2_press.hwpx", 1, None),
    ("가을밤의 음악축제 소요예산 270,000,000원", "hwpx_gangbuk_festival_rfp_2023.hwpx", 4, None),
])
def test_fact_found_with_page_citation(fixture_index, question, file, page, label):
    _, s = fixture_index
    hit = s.search(question, top_k=1, file=file)[0]
    c = hit.chunk
    assert c.page <= page <= (c.page_end or c.page) and c.page_exact
    assert f"p.{c.page}" in hit.citation and "약" not in hit.citation
    if label:
        assert f"인쇄 쪽 {label}" in hit.citation or c.page_label == label
    # Without the file filter the same fact still ranks first in its own format.
    top = s.search(question, top_k=3)
    assert any(h.chunk.format == c.format for h in top)


def test_hwp_pages_are_marked_approximate(fixture_index):
    _, s = fixture_index
    hit = s.search("국어 말뭉치 확대 구축", top_k=1, file="hwp_nikl_2022_work_plan.hwp")[0]
    assert not hit.chunk.page_exact and "약 p." in hit.citation


def test_docx_cited_by_heading(fixture_index):
    _, s = fixture_index
    hit = s.search("노후 하수관로 정비 실적", top_k=1, file="report_ko.docx")[0]
    assert "2. 분야별 추진실적" in hit.citation and "| 노후 하수관로 정비 |" in hit.text
    hit = s.search("공정 지연 목표 대비 83%", top_k=1, file="report_ko.docx")[0]
    assert "3. 문제점 및 개선방안" in hit.citation


def test_outline_cli_reads_every_format():
    r = subprocess.run([sys.executable, "-m", "cli", "outline", str(FIXTURES), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import json

    data = json.loads(r.stdout)
    assert {d["format"] for d in data["documents"]} == {"hwp", "hwpx", "pdf", "docx"}
    assert all(d["chunks"] > 0 for d in data["documents"])

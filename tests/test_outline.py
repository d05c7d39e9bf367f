"""Outline, chunks and bad input on the real corpus (expected values read from the files by hand)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from index.documents import load_documents
from index.textnorm import collapse_ws

EXPECTED = {
    "000_bb8b9f25a68228af.txt": {
        "department": "비전협력과", "year": 2022, "session": "제235회 구의회 임시회", "title": "2022년 주요업무 보고",
        "chapters": [
            ("Ⅰ", "general", ["조직", "인력", "주요시설 및 장비", "예산현황"]),
            ("Ⅱ", "plan", ["국내·외 도시교류 네트워크 확대", "평화통일·남북교류협력 기반조성", "여의도 국제금융중심지 활성화",
                           "여의도 국제금융중심지 위상 강화", "스마트메디컬특구 활성화", "의료관광 기반조성"]),
            ("Ⅲ", "new", ["「영등포 지식포럼」 브랜드화를 통한 미래 성장 확보", None]),
        ],
    },
    "001_d2cafe401e804f46.txt": {
        "department": "비전협력과", "year": 2023, "session": None, "title": None,
        "chapters": [
            ("Ⅰ", "general", ["조직", "인력", "주요시설 및 장비", "예산현황"]),
            ("Ⅱ", "results", ["국내·외 친선도시 상호교류 내실화", "사회적책임경영(CSR) 활성화 지원", "여의도 국제금융 중심지 위상 강화",
                              "구민을위한든든한경제도우미, 맞춤형금융교육", "스마트메디컬특구 홍보 활성화", "의료관광 기반 조성"]),
            ("Ⅲ", "new", ["주한 미군 대상 홍보 광고 운영"]),
        ],
    },
    "002_cbb343025f08b939.txt": {
        "department": "기획담당관", "year": 2018, "session": "제211회 구의회 제2차 정례회", "title": "2018년 주요업무 보고",
        "chapters": [
            ("Ⅰ", "general", ["조직", "인력", "주요시설 및 장비", "예산현황"]),
            ("Ⅱ", "results", ["소통·공감을 통한 정책목표 달성", "구정 미래비전 수립 및 성과관리",
                              "민관협치 기반구축을 통한 지역사회혁신계획 수립", "영등포 스마트메디컬특구 활성화"]),
            ("Ⅲ", "plan", ["구정운영 조정 및 주요 정책사업 관리", "구정 미래비전 수립 및 성과 관리", "지역사회 협치문화 확산",
                           "영등포 스마트메디컬특구 활성화"]),
            ("Ⅳ", "new", ["2040영등포 종합발전계획 수립 용역"]),
        ],
    },
    "003_1119614ba66d37cc.txt": {
        "department": "기획예산과", "year": 2020, "session": "제227회 구의회 제2차 정례회", "title": "2020년 주요업무 보고",
        "chapters": [
            ("Ⅰ", "general", ["조직", "인력", "주요시설 및 장비", "예산현황"]),
            ("Ⅱ", "results", ["구정 운영 정책 조정 및 지원", "구민중심의 효율적인 재정 운용",
                              "구정목표 달성을 위한 체계적인 평가업무 추진", "구민 참여 확대를 위한 소통공감행정 구현"]),
            ("Ⅲ", "plan", ["핵심 정책사업 중점관리 및 브랜드화", "균형있는 예산편성 및 열린 재정운용", "소통하는 적극 행정을 통한 외부재원 확보",
                           "성과창출을 위한 체계적인 평가 관리 추진", "구민 맞춤형 소통 방식의 다양화",
                           "영등포 특화사업 발굴, 「창의 아이디어단」 운영"]),
            ("Ⅳ", "new", ["「영등포형 뉴딜사업」 선정 및 관리"]),
        ],
    },
    "004_0c03f9222fb96e53.txt": {
        "department": "사회적경제과", "year": 2019, "session": "제212회 구의회 임시회", "title": "2019년 주요업무 보고",
        "chapters": [
            ("Ⅰ", "general", ["조직", "인력", "주요시설 및 장비", "예산현황"]),
            ("Ⅱ", "plan", ["연대와 협력을 통한 사회적경제 활성화 추진", "사회적경제기업 육성 및 역량 강화", "협치친화적 구정문화 확산",
                           "청년의 사회적 자립기반 지원강화"]),
            ("Ⅲ", "new", ["2019 지역사회혁신계획 협치사업 운영", "청년의 행복한 사회진입을 위한 청년지원플랫폼 조성"]),
        ],
    },
}

TEAMS = {  # (file, chapter, programme number) -> team given in the body
    ("001_d2cafe401e804f46.txt", "Ⅱ", 1): "대외협력팀",
    ("001_d2cafe401e804f46.txt", "Ⅱ", 5): "의료특구팀",
    ("003_1119614ba66d37cc.txt", "Ⅱ", 3): "평가팀",
    ("003_1119614ba66d37cc.txt", "Ⅲ", 6): "소통공감팀",
    ("003_1119614ba66d37cc.txt", "Ⅳ", 1): "기획조정팀",
    ("004_0c03f9222fb96e53.txt", "Ⅲ", 1): "지역협치팀",
    ("004_0c03f9222fb96e53.txt", "Ⅲ", 2): "청년지원팀",
    ("000_bb8b9f25a68228af.txt", "Ⅲ", 1): "대외협력팀",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_outline_matches_the_report(corpus_docs, name):
    doc, exp = corpus_docs[name], EXPECTED[name]
    assert doc.meta.department == exp["department"]
    assert doc.meta.year == exp["year"]
    assert doc.meta.session == exp["session"]
    assert doc.meta.title == exp["title"]
    got = [(c.number, c.kind, [p.title for p in c.programmes]) for c in doc.chapters]
    assert got == exp["chapters"]


def test_title_sources_and_teams(corpus_docs):
    for (name, chap, num), team in TEAMS.items():
        prog = next(p for c in corpus_docs[name].chapters if c.number == chap for p in c.programmes if p.number == num)
        assert prog.team == team and prog.title_source == "body"
    # Titles that exist only in a chapter's contents table are recovered from it.
    d = corpus_docs["000_bb8b9f25a68228af.txt"]
    assert {p.title_source for p in d.chapters[1].programmes} == {"contents"}
    assert d.chapters[2].programmes[1].title_source == "none"


def test_programme_subsections(corpus_docs):
    d = corpus_docs["000_bb8b9f25a68228af.txt"]
    smart = d.chapters[1].programmes[4]
    assert [s.heading for s in smart.sections] == ["(사업 목적)", "□ 사업개요", "□ 세부 추진계획", "□ 추진일정", "□ 소요예산"]
    assert (smart.start, smart.end) == (195, 220)
    assert (smart.sections[1].start, smart.sections[1].end) == (197, 204)


def _source_lines(doc):
    return doc.path and open(doc.path, encoding="utf-8").read().split("\n")


def test_chunk_line_ranges_point_at_their_text(corpus_docs):
    for doc in corpus_docs.values():
        src = _source_lines(doc)
        for c in doc.chunks:
            first, last = src[c.start_line - 1], src[c.end_line - 1]
            assert first.strip() and last.strip()
            text = collapse_ws(c.text)
            assert collapse_ws(re.sub(r"<[^>]*>", " ", first)) in text, c.id
            assert collapse_ws(re.sub(r"<[^>]*>", " ", last)) in text, c.id


def test_every_line_is_in_exactly_one_chunk_or_left_out_region(corpus_docs):
    for doc in corpus_docs.values():
        src = _source_lines(doc)
        owners: dict[int, list[str]] = {}
        for c in doc.chunks:
            for n in range(c.start_line, c.end_line + 1):
                if src[n - 1].strip():
                    owners.setdefault(n, []).append(c.id)
        for region, numbers in doc.skipped_lines.items():
            assert region in {"cover", "contents", "headings"}
            for n in numbers:
                owners.setdefault(n, []).append(region)
        for n, line in enumerate(src, start=1):
            if line.strip():
                assert len(owners.get(n, [])) == 1, (doc.file, n, line, owners.get(n))


def test_chunk_sizes_and_index_text(corpus_docs):
    chunks = [c for d in corpus_docs.values() for c in d.chunks]
    assert max(len(c.text) for c in chunks) <= 1200
    assert sum(len(c.text) for c in chunks) / len(chunks) <= 800
    assert 200 <= sum(len(c.text) for c in chunks) / len(chunks)
    smart = next(c for c in corpus_docs["000_bb8b9f25a68228af.txt"].chunks if c.start_line <= 197 <= c.end_line)
    # The programme title exists only in the contents table; the index text carries it.
    assert "스마트메디컬특구 활성화" in smart.index_text.split("\n")[0]
    assert "스마트메디컬특구 활성화" not in smart.text
    assert smart.year == 2022 and smart.department == "비전협력과" and "□ 사업개요" in smart.heading
    assert smart.programme == "스마트메디컬특구 활성화" and smart.chapter_kind == "plan"


def test_small_subsections_join_their_programme_neighbours_only(corpus_docs):
    for doc in corpus_docs.values():
        for c in doc.chunks:
            if c.chapter == "표지":
                continue   # the cover's own passage (test_cover_is_a_passage_with_its_session_and_dates)
            # Never across programmes: every line of a chunk lies inside its programme.
            prog = next(p for ch in doc.chapters for p in ch.programmes
                        if p.title == c.programme and p.start <= c.start_line <= p.end)
            assert c.end_line <= prog.end
    # Short subsections are joined in order, and a chunk never grows past the size bound.
    d = corpus_docs["001_d2cafe401e804f46.txt"]
    smart = [c for c in d.chunks if c.programme == "스마트메디컬특구 홍보 활성화"]
    assert [h for c in smart for h in c.heading.split(" · ")] == [
        "(사업 목적)", "□ 사업개요", "□ 주요 추진실적", "□ 향후계획", "□ 예산현황"]
    assert all(len(c.text) <= 800 for c in d.chunks if c.chapter_kind != "general")
    # Display text stays as the source has it; the index text is cleaned.
    staff = next(c for c in corpus_docs["000_bb8b9f25a68228af.txt"].chunks if c.programme == "인력")
    assert "| 정 원 |" in staff.text and "정원" in staff.index_text


def test_cover_is_a_passage_with_its_session_and_dates(corpus_docs):
    d = corpus_docs["000_bb8b9f25a68228af.txt"]
    cover = d.chunks[0]
    assert cover.chapter == "표지" and cover.chapter_kind == "general" and not cover.programme
    assert (cover.start_line, cover.end_line) == (3, 13)
    assert cover.text.split("\n")[:2] == ["제235회 구의회 임시회", "2022. 2. 4. ~ 2. 14."]
    units = [u for u in d.units if u.chunk_id == cover.id]
    assert [u.line for u in units] == [3, 5, 9, 13]
    assert all("제235회 구의회 임시회" in u.context and "2022년 주요업무 보고" in u.context for u in units)
    assert d.skipped_lines["cover"] == []
    # a report that opens with its first chapter has no cover passage
    assert corpus_docs["001_d2cafe401e804f46.txt"].chunks[0].chapter != "표지"


def test_html_in_table_cell_is_stripped(corpus_docs):
    d = corpus_docs["004_0c03f9222fb96e53.txt"]
    c = next(c for c in d.chunks if c.start_line <= 41 <= c.end_line)
    assert "<ul" not in c.text and "연면적: 684㎡" in c.text


def test_tables_stay_whole(corpus_docs):
    d = corpus_docs["000_bb8b9f25a68228af.txt"]
    budget = [c for c in d.chunks if c.programme == "예산현황"]
    assert len(budget) == 1 and "| 단위사업명 |" in budget[0].text and "| 기본경비 |" in budget[0].text


def test_parse_speed(corpus_dir):
    # Not a timing gate (that lives in make bench); guards against an accidental blow-up.
    t = time.perf_counter()
    load_documents([corpus_dir])
    assert time.perf_counter() - t < 5


def test_encodings_give_the_same_outline(tmp_path, corpus_dir):
    from index.outline import outline_dict

    src = corpus_dir / "000_bb8b9f25a68228af.txt"
    text = src.read_text(encoding="utf-8")
    (tmp_path / "cp949.txt").write_bytes(text.encode("cp949"))
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    (tmp_path / "crlf.txt").write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    docs, skipped = load_documents([src, tmp_path / "cp949.txt", tmp_path / "bom.txt", tmp_path / "crlf.txt"])
    assert not skipped
    shapes = []
    for d in docs:
        o = outline_dict(d)
        for k in ("file", "path"):
            o.pop(k)
        shapes.append(o)
    assert all(s == shapes[0] for s in shapes[1:])


def test_bad_files_are_skipped_with_reason(tmp_path, corpus_dir):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 20)
    (tmp_path / "blank.txt").write_text("\n\n   \n", encoding="utf-8")
    docs, skipped = load_documents([tmp_path, corpus_dir / "000_bb8b9f25a68228af.txt"])
    assert [d.file for d in docs] == ["000_bb8b9f25a68228af.txt"]
    reasons = {s.file.rsplit("/", 1)[-1]: s.reason for s in skipped}
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["binary.txt"] or "decode" in reasons["binary.txt"]
    assert "empty" in reasons["blank.txt"] or "no text" in reasons["blank.txt"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True)


def test_outline_cli_json_shape(corpus_dir):
    r = _cli("outline", str(corpus_dir), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data["documents"]) == 5 and data["skipped"] == []
    d = data["documents"][0]
    assert set(d) >= {"file", "title", "department", "year", "session", "chapters", "chunks"}
    p = d["chapters"][1]["programmes"][0]
    assert set(p) >= {"number", "title", "team", "title_source", "lines", "sections"}
    assert set(p["sections"][0]) >= {"heading", "lines"}
    assert d["chunks"] > 10


@pytest.mark.parametrize("setup", ["missing", "empty_dir", "binary"])
def test_outline_cli_bad_input(tmp_path, setup):
    if setup == "missing":
        target = tmp_path / "nope"
    elif setup == "empty_dir":
        target = tmp_path
    else:
        target = tmp_path / "x.txt"
        target.write_bytes(b"\x00\x01\x02" * 100)
    r = _cli("outline", str(target))
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert r.stderr.strip()

"""Answers end to end on corpus/: each answer kind, honest not-found, JSON shape, monotone labels."""
from __future__ import annotations

import json

import pytest

from search.answer import plain_amount
from search.service import SearchService

FILE_2022 = "000_bb8b9f25a68228af.txt"   # 비전협력과, 2022
FILE_2023 = "001_d2cafe401e804f46.txt"   # 비전협력과, 2023 (layout-text tables)
FILE_2019 = "004_0c03f9222fb96e53.txt"   # 사회적경제과, 2019


@pytest.fixture(scope="module")
def service(bm25_searcher):
    return SearchService(bm25_searcher)


def ask(service, q, **kw):
    return service.ask(q, top_k=kw.pop("top_k", 5), **kw)


def test_budget_table_row_with_its_header(service):
    res = ask(service, "22년 의료관광 활성화 예산 얼마야?")
    a = res.answer
    assert a is not None and a["kind"] == "amount" and a["confidence"] == "high"
    assert a["value"] == "487,492천원"
    assert a["source"] == {"file": FILE_2022, "lines": [59, 59], "page": None}
    assert "예산액 487,492" in a["text"] and "(단위: 천원)" in a["text"]
    assert a["reading"] == "≈ 4억 8,749만 원"


def test_soyo_yesan_line(service):
    a = ask(service, "국내외 도시교류 네트워크 확대 사업 22년 소요예산 얼마 들어?").answer
    assert a["value"] == "109,588천원" and a["source"]["lines"] == [102, 102]
    assert a["text"].startswith("□ 소요예산")


def test_headcount_cell_of_a_letter_spaced_table(service):
    """"정 원" is a letter-spaced row label; the total (계) column answers "몇 명"."""
    a = ask(service, "2022년 비전협력과 정원 몇 명?").answer
    assert a["kind"] == "count" and a["value"] == "15" and a["source"]["lines"] == [38, 38]


def test_headcount_without_a_year_gives_the_latest_first_and_other_years_as_items(service):
    a = ask(service, "비전협력과 정원 몇 명이야?").answer
    years = [i["year"] for i in a["items"]]
    assert years == sorted(years, reverse=True) and years[0] == 2023 and 2022 in years
    assert a["year"] == 2023 and a["value"] == "12"
    assert a["confidence"] == "medium"  # 2023's table lost its empty cells: only the total is read


def test_date(service):
    a = ask(service, "무중력지대 개관 언제야?").answer
    assert a is not None and a["kind"] == "date" and a["value"] == "7월중"
    assert a["source"] == {"file": FILE_2019, "lines": [265, 265], "page": None}


def test_list_of_one_departments_programmes(service):
    a = ask(service, "비전협력과 22년 주요업무 추진계획 사업 뭐뭐 있어?").answer
    assert a["kind"] == "list"
    titles = [i["value"] for i in a["items"]]
    assert titles == ["국내·외 도시교류 네트워크 확대", "평화통일·남북교류협력 기반조성", "여의도 국제금융중심지 활성화",
                      "여의도 국제금융중심지 위상 강화", "스마트메디컬특구 활성화", "의료관광 기반조성"]
    assert not {"조직", "인력", "예산현황", "주요시설 및 장비"} & set(titles)
    assert all(i["citation"].endswith(f"{FILE_2022}:{i['source']['lines'][0]}") for i in a["items"])


def test_a_long_list_shows_the_first_items_and_says_there_are_more(service):
    """At a district's scale a department's programmes over all years run to thousands: the list
    stops at MAX_LIST_ITEMS and says so (the programmes here, repeated, stand in for them)."""
    from dataclasses import replace

    from index.config import MAX_LIST_ITEMS
    from search.answer import choose

    answerer = service.searcher.answerer
    q = answerer.read("비전협력과 22년 주요업무 추진계획 사업 뭐뭐 있어?")
    real = answerer.programmes(q)
    many = [replace(p, value=f"{p.value} {i}") for i in range(MAX_LIST_ITEMS // len(real) + 2) for p in real]
    a = choose(q, [], {}, {}, many).answer
    assert len(a.items) == MAX_LIST_ITEMS < len(many)
    assert a.note and "더 있습니다" in a.note and a.text.endswith(" 외")


def test_two_year_comparison_with_difference(service):
    a = ask(service, "22년 의료관광 예산 작년보다 얼마 늘었어?").answer
    assert a["kind"] == "comparison"
    assert [(i["year"], i["value"]) for i in a["items"]] == [(2022, "487,492천원"), (2021, "289,673천원")]
    assert "+197,819천원" in a["note"] and "+68.3%" in a["note"]


def test_comparison_across_two_reports(service):
    a = ask(service, "비전협력과 기본경비 22년, 23년 얼마씩이야?").answer
    got = {(i["year"], i["value"], i["source"]["file"]) for i in a["items"]}
    assert got == {(2023, "88,250천원", FILE_2023), (2022, "83,624천원", FILE_2022)}


def test_comparison_of_two_things_side_by_side(service):
    a = ask(service, "22년 의료관광 예산이랑 국제금융특구 예산 비교").answer
    assert a["kind"] == "comparison" and a["value"] == "487,492천원 / 190,400천원"
    assert [i["source"]["lines"] for i in a["items"]] == [[59, 59], [58, 58]]
    assert "+297,092천원" in a["note"]
    b = ask(service, "사경과 19년 6급 정원이랑 현원 비교하면?").answer
    assert b["value"] == "5 / 4" and [i["source"]["lines"] for i in b["items"]] == [[32, 32], [33, 33]]


def test_two_topics_side_by_side_are_answered_each_with_its_own_line(service):
    """Two programmes' figures asked together: each side is its own question, with its own citation."""
    a = ask(service, "20년 투자사업 실적 분석평가랑 성과관리 상반기 중간평가 각각 몇 월에 했어?").answer
    assert a is not None and a["kind"] == "comparison"
    assert [(i["value"], i["source"]["lines"]) for i in a["items"]] == [("6월", [154, 154]), ("7월", [155, 155])]
    b = ask(service, "22년 지식포럼 워크랑 CSR 생태계 사업 예산 각각 얼마야?").answer
    assert b is not None and [i["source"]["file"] for i in b["items"]] == [FILE_2022, FILE_2022]
    assert b["value"] == "168,000천원 / 50,800천원" and "+117,200천원" in b["note"]
    assert [i["label"] for i in b["items"]] == ["지식포럼 워크", "CSR 생태계 사업"]


def test_how_often_is_answered_by_a_frequency(service):
    a = ask(service, "남북교류협력위원회 1년에 몇 번 열어?").answer
    assert a is not None and a["value"] == "상·하반기 각 1회" and a["source"]["lines"] == [131, 131]
    b = ask(service, "여의도 봄업 프로젝트 1년에 몇 번 해?").answer
    assert b is not None and b["value"] == "년 2회"


def test_a_list_in_brackets_after_the_asked_noun(service):
    a = ask(service, "사회적기업 판매부스 어느 행사들에 나가?").answer
    assert a is not None and a["kind"] == "list" and a["value"] == "봄꽃축제, 직거래 장터"
    assert a["source"] == {"file": FILE_2019, "lines": [129, 129], "page": None}


def test_an_activity_is_no_place(service):
    # "ICT 취업박람회 개최: 6월중" says when, not where; "특화된 의료서비스 … 홍보" is no country
    assert ask(service, "ICT 취업박람회 어디서 열려?").answer is None
    assert ask(service, "22년 의료관광 설명회 어느 나라에서 열어?").answer is None


def test_the_cover_answers_the_session_and_its_dates(service):
    a = ask(service, "사경과 19년 업무보고 한 임시회 며칠부터 며칠까지였어?").answer
    assert a is not None and a["value"] == "2019. 2. 22. ~ 3. 5."
    assert a["source"] == {"file": FILE_2019, "lines": [5, 5], "page": None}


def test_no_budget_answers_how_much(service):
    a = ask(service, "영등포형 뉴딜사업 하는 데 돈 얼마 들어?").answer
    assert a is not None and a["value"] == "비예산" and a["text"].startswith("□ 소요예산")


def test_short_forms_from_aliases_are_read_as_the_reports_word(service):
    # corpus/aliases.txt: 추경 = 추가경정예산
    a = ask(service, "20년 1회 추경이랑 2회 추경 규모 비교해줘").answer
    assert a is not None and a["value"] == "10,507백만원 / 52,119백만원"
    assert [i["source"]["lines"] for i in a["items"]] == [[116, 116], [118, 118]]


def test_funding_share_is_read_from_the_budget_split(service):
    # "□ 소요예산: 총477,250천원(국 82,550, 시 130,300, 구비 264,400)"
    a = ask(service, "19년 청년 자립기반 지원강화 사업 소요예산 중 국비 얼마야?").answer
    assert a is not None and a["value"] == "82,550천원" and a["source"]["file"] == FILE_2019
    b = ask(service, "19년 청년 자립기반 지원강화 사업 소요예산 중 시비 얼마야?").answer
    assert b["value"] == "130,300천원" and b["source"] == a["source"]


def test_a_total_question_reads_the_total_row(service):
    a = ask(service, "비협과 22년 예산 전부 합치면 얼마야?").answer
    assert a is not None and a["value"] == "1,040,404천원" and a["source"]["lines"] == [56, 56]


def test_a_list_shorter_than_the_count_asked_is_not_the_answer(service):
    res = ask(service, "구정 운영 4개년 계획 5대 목표 뭐뭐야?")
    assert res.answer is None


def test_weekday_dates_and_an_exact_day(service):
    a = ask(service, "어울림장터에 친선도시 언제 참여해? 무슨 요일이야?").answer
    assert a is not None and a["value"] == "매월 마지막 주 화요일" and a["source"]["file"] == FILE_2023
    # "하반기" is the only timing given: an exact day is not in the reports
    assert ask(service, "영등포에버 하반기 간담회 정확히 며칠이야?").answer is None


def test_name_question_reads_the_bracketed_full_name(service):
    a = ask(service, "영등포에버 정식 이름이 뭐였지?").answer
    assert a is not None and a["value"] == "영등포 지속 가능 민·관 협력 네트워크"


def test_a_wrapped_line_is_one_unit_cited_as_a_range(service):
    """The layout wrapped "… 배너 광고:" and its period "`23. 4. ~ 9.[6개월]" onto two lines."""
    a = ask(service, "주한미군 대상 배너 광고 기간 언제야?").answer
    assert a is not None and a["value"] == "`23. 4. ~ 9." and a["source"]["file"] == FILE_2023
    assert a["source"]["lines"] == [332, 334] and "배너 광고: `23. 4. ~ 9." in a["text"]


def test_a_listed_clause_answers_with_its_own_value(service):
    """"…실시: EM 흙공 만들기(3월), …, 우리동네키움센터 스마트폰 과의존 예방교육(5월~)" (wrapped over
    four lines): the date and the place are those of the clause holding the question's terms."""
    a = ask(service, "우리동네키움센터 스마트폰 과의존 예방교육 몇 월부터야?").answer
    assert a is not None and a["value"] == "5월" and a["source"]["lines"] == [172, 178]
    a = ask(service, "스마트폰 과의존 예방교육은 어디랑 같이 했어?").answer
    assert a is not None and a["value"] == "우리동네키움센터 스마트폰 과의존 예방교육(5월~)"


def test_a_word_no_report_uses_is_phrasing_not_evidence(service):
    """"애들" is in no report: it cannot be required of an answer, but the answer is only 보통."""
    a = ask(service, "키움센터 애들 스마트폰 과의존 예방교육 몇 월부터야?").answer
    assert a is not None and a["value"] == "5월" and a["confidence"] == "medium"


def test_a_name_is_the_noun_phrase_headed_by_the_asked_noun(service):
    """"평가 이름" and "- 전국기초단체장 공약이행 및 정보공개 평가 참가": the evaluation, not the taking part."""
    a = ask(service, "기획담당관 19년에 공약이행 관련해서 나가는 평가 이름이 뭐야?").answer
    assert a is not None and a["value"] == "전국기초단체장 공약이행 및 정보공개 평가"


def test_several_named_in_one_line_are_a_list_even_for_a_singular_question(service):
    a = ask(service, "타운홀미팅 대상이 누구야?").answer
    assert a is not None and a["source"]["lines"] == [348, 348]
    assert [i["value"] for i in a["items"]] == ["지역주민", "사업추진 관계자", "정책 제안자"]   # no closing "등"


def test_a_span_of_years_and_an_asked_year_are_dates(service):
    a = ask(service, "민관협치 활성화 3개년 기본계획 언제부터 언제까지야?").answer
    assert a is not None and a["value"] == "2020년~2022년" and a["source"]["lines"] == [153, 153]
    a = ask(service, "연차별 실행계획 몇 년도 거 세워?").answer   # a bare year answers only "몇 년도"
    assert a is not None and a["value"] == "2020년" and a["source"]["lines"] == [156, 156]


def test_a_list_under_the_line_that_names_it(service):
    """"- 사업기간: 2021년 1월 ~ 12월" / "- 주요 사업내용" and its four sub-lines: the list is the
    sub-lines of the line that says what is asked, not the two lines under "□ 사업개요"."""
    a = ask(service, "외부재원 확보 사업 주요 내용 뭐뭐야?").answer
    assert a is not None and a["source"]["lines"] == [282, 282]
    assert [i["source"]["lines"][0] for i in a["items"]] == [283, 284, 285, 286]


def test_money_coming_in_is_not_the_programmes_budget(service):
    """The 외부재원 programme plans to apply for 특별조정교부금 but gives no amount; its own 소요예산
    (15,000천원) is what it spends, not what it asks for."""
    assert ask(service, "21년 특별조정교부금 얼마 신청해?").answer is None
    a = ask(service, "외부재원 확보 사업 21년 소요예산 얼마야?").answer
    assert a is not None and a["value"] == "15,000천원" and a["source"]["lines"] == [299, 299]


def test_a_results_question_reads_the_results_section(service):
    """"- 타운홀미팅: …" is in both the 사업개요 (line 182) and the 주요 추진실적 (line 191)."""
    a = ask(service, "기획예산과 20년 타운홀미팅 추진실적 뭐야?").answer
    assert a is not None and a["source"]["lines"] == [191, 191]


def test_brackets_in_a_line_do_not_split_its_words(service):
    """"2019. 주요업무계획(안) 수립: 9월~12월" holds "업무계획안": brackets are layout."""
    a = ask(service, "19년 업무계획안은 언제 세워?").answer
    assert a is not None and a["value"] == "9월~12월"
    assert a["source"]["file"] == "002_cbb343025f08b939.txt" and a["source"]["lines"] == [92, 92]


def test_a_count_per_language_reads_each(service):
    """"언어별로 몇 부씩": the counter is 부 ("씩" is per each) and "언어별" names how the answer is
    split, which "○ 다국어 리플릿 제작: 각 300부(일 영 중 몽)" need not say."""
    a = ask(service, "23년 다국어 리플릿 언어별로 몇 부씩 만들었어?").answer
    assert a is not None and a["value"] == "300부"
    assert a["source"]["file"] == FILE_2023 and a["source"]["lines"] == [350, 350]


def test_a_plan_of_four_years_is_no_count_of_things(service):
    # "구정운영 4개년 계획": 4개년 is a span of years; how many 주요정책사업 are picked is not written
    assert ask(service, "19년 주요정책사업 몇 개 선정해?").answer is None


def test_a_year_and_month_is_no_day(service):
    # "광주 남구민의 날 축하 영상 송부: `23. 4.": a month of 2023, not the 4th of a month
    assert ask(service, "23년 광주 남구민의 날 며칠이었어?").answer is None


def test_a_programmes_budget_line_is_its_total(service):
    """"전부 합치면" asks a total: the programme's 소요예산 is one, and the programme whose title
    holds the words comes before one whose lines only mention them."""
    a = ask(service, "19년 사회적경제기업 육성 역량강화 사업 예산 전부 합치면?").answer
    assert a is not None and a["value"] == "1,167,388천원"
    assert a["source"]["file"] == FILE_2019 and a["source"]["lines"] == [132, 132]


def test_a_value_after_a_listed_label_belongs_to_each_item(service):
    # "- 지하철 역사 조명 광고(2개소), 버스정류장(4개소): `23. 4. ~ 5."
    a = ask(service, "스마트메디컬특구 지하철 조명광고 기간은?").answer
    assert a is not None and a["value"] == "`23. 4. ~ 5." and a["source"]["lines"] == [340, 340]


def test_a_topic_asked_is_the_quoted_name(service):
    """"여성 대상 금융교육 주제": 대상 relates 여성 to 금융교육, 주제 is what the answer is, and the
    name is the quoted one after the letter-spaced label "○ 여 성:"."""
    a = ask(service, "23년 여성 대상 금융교육 주제는 뭐야?").answer
    assert a is not None and a["value"] == "나의 생애주기에 맞는 재무관리"
    assert a["source"]["lines"] == [277, 277]


def test_a_years_list_under_its_heading_when_other_years_have_one_line_lists(service):
    """Other years' reports hold comma lists about 의료관광; 2022's "□ 세부 추진계획" lists its five
    lines one per line. The year asked is answered from those, not with "2022년 … 자료가 없습니다"."""
    a = ask(service, "2022년 의료관광 기반조성 세부 추진계획 어떤 거 있어?").answer
    assert a is not None and a["kind"] == "list" and a["source"]["file"] == FILE_2022
    assert [i["source"]["lines"][0] for i in a["items"]] == [236, 237, 238, 239, 240]


@pytest.mark.parametrize("q", ["남북교류협력위원회 위원장은 누가 해?",   # "누가" asks a person: "… 운영" is none
                               "여성 금융교육 강사 누구야?",            # "○ 여 성: …" is labelled 여성, not 강사
                               "20년 국장단회의만 몇 번 열었어?"])      # 77회 counts the group the line lists
def test_who_and_one_member_of_a_group_are_not_answered_by_the_topic_line(service, q):
    assert ask(service, q).answer is None


def test_a_group_total_answers_the_group(service):
    a = ask(service, "20년 간부회의 총 몇 번 했어?").answer
    assert a is not None and a["value"] == "77회" and a["source"]["lines"] == [77, 77]


def test_who_takes_part_from_the_bracket_after_the_thing(service):
    a = ask(service, "정례간부회의 누가 참석해?").answer
    assert a is not None and a["value"] == "구·동 5급 이상 간부" and a["source"]["lines"] == [240, 240]


def test_a_name_quoted_before_the_noun_it_names(service):
    # "(「영등포 소식」등 4개 구정 소식지 12회)": the 소식지's name
    a = ask(service, "금융칼럼 실린 소식지 이름 뭐야?").answer
    assert a is not None and a["value"] == "영등포 소식" and a["source"]["lines"] == [285, 285]


def test_an_area_is_a_measure(service):
    a = ask(service, "무중력지대 연면적 몇 제곱미터야?").answer
    assert a is not None and a["value"] == "467 m^2" and a["source"]["lines"] == [250, 250]


@pytest.mark.parametrize("q", ["19년 협치 사업 시비, 기획과 계획이랑 사경과 계획에서 각각 얼마로 잡혀 있어?",
                               "19년 협치 사업 시비 기획과랑 사경과 각각 얼마야?"])
def test_the_same_asked_of_two_departments(service, q):
    """Each side keeps its own department: 기획담당관's 2019 plan (2018 report, line 315) and
    사회적경제과's (2019 report, line 165), never the same line twice."""
    a = ask(service, q).answer
    assert a is not None and a["kind"] == "comparison"
    got = [(i["source"]["file"], i["source"]["lines"][0], i["value"]) for i in a["items"]]
    assert got == [("002_cbb343025f08b939.txt", 315, "221,000천원"), (FILE_2019, 165, "221,000천원")]


def test_what_a_thing_is_called_is_the_label_its_description_follows(service):
    a = ask(service, "주관부서끼리 애로사항 들어주는 걸 뭐라고 해?").answer
    assert a is not None and a["value"] == "소통간담회" and a["source"]["lines"] == [229, 229]
    # "- 사업형태: 모바일 앱을 통한 청년 소통 공간 조성" names a field, not the app
    assert ask(service, "청년온라인플랫폼 앱 이름이 뭐야?").answer is None


def test_sibling_lines_are_about_the_named_event(service):
    """"- 행사명: 영등포 지식포럼 워크 2022" / "- 개최시기: 10월 중 3일": the date line is about the
    named event. Where it is held is written nowhere: neither the purpose sentence nor the
    "- 대상:" line (who comes) answers "어디서"."""
    a = ask(service, "22년 지식포럼 워크 개최 시기는?").answer
    assert a is not None and a["value"] == "10월 중" and a["source"]["lines"] == [261, 261]
    assert ask(service, "지식포럼 워크 어디서 해?").answer is None


def _items(a):
    return [(i["source"]["lines"][0], i["value"]) for i in a["items"]]


def test_a_numbered_list_in_one_line(service):
    """"① 비대면·비접촉(언택트) 문화의 급부상, 원격수업·재택근무 증가로 ② … ③ 친환경, ④ … 능력
    등이 뉴 트렌드로 예측": each numbered item up to its first comma."""
    a = ask(service, "포스트 코로나 시대 뉴 트렌드 뭐뭐야?").answer
    assert a is not None and a["source"]["lines"] == [395, 395]
    assert [v for _, v in _items(a)] == ["비대면·비접촉(언택트) 문화의 급부상", "4차 산업혁명 시대로의 가속화",
                                          "친환경", "감염병 위기에 빠르게 대응하는 능력"]


def test_the_list_under_the_label_the_question_names(service):
    # "- 추진내용" and its three sub-lines, not the comma list of "- 사회적경제기업 현황: 258개(…)" above
    a = ask(service, "사회적경제과 연대 협력 활성화 추진내용 뭐뭐 있어?").answer
    assert a is not None and a["source"]["lines"] == [73, 73]
    assert [n for n, _ in _items(a)] == [74, 75, 76]
    # "□ 세부 추진계획": its four items, not the sub-lines of the first; "- 금융인과의 현장소통: …"
    # is the 현장소통, its description left to the citation
    a = ask(service, "22년 여의도 금융중심지 세부 추진계획 뭐뭐야?").answer
    assert _items(a) == [(149, "여의도 디지털국제금융중심지 발전전략 수립을 위한 연구용역"),
                         (152, "여의도 국제금융중심지 자문단 운영 활성화"), (154, "여의도 타운매니지먼트 사업 추진"),
                         (156, "금융인과의 현장소통")]


def test_a_quoted_phrase_must_be_in_the_line(service):
    a = ask(service, "20년 '구정의 성과관리' 예산 얼마야?").answer
    assert a is not None and a["value"] == "132,043천원" and a["source"]["lines"] == [51, 51]


def test_a_numbered_name_is_a_specific_term(service):
    # "4개년 계획": the 4개년 plan's "5대 목표", not another programme's "153개 주요사업" 목표 line
    a = ask(service, "구정 4개년 계획 목표 몇 개 세웠어?").answer
    assert a is not None and a["value"] == "5대"
    assert a["source"]["file"] == "002_cbb343025f08b939.txt" and a["source"]["lines"] == [114, 114]


def test_a_which_question_on_a_listing_line_gives_the_things_listed(service):
    a = ask(service, "청년 취창업 아카데미에서 무슨 전문가 키워?").answer
    assert a is not None and [i["value"] for i in a["items"]] == ["핀테크 전문가", "웹/앱 코딩전문가"]
    assert a["source"]["lines"] == [189, 189]


def test_a_per_item_value_does_not_answer_a_total(service):
    assert ask(service, "19년 협치사업 워킹그룹 다 합치면 몇 명이야?").answer is None


def test_a_count_must_carry_the_asked_counter(service):
    # the line gives the calendar's languages and months, not how many copies: not found
    res = ask(service, "특구 홍보 달력 몇 부 찍어?")
    assert res.answer is None


def test_which_team_answers_from_the_programmes_team_line(service):
    a = ask(service, "지역사회혁신계획 협치사업 운영은 사경과 어느 팀 소관이야?").answer
    assert a["value"] == "지역협치팀" and a["source"]["file"] == FILE_2019 and a["source"]["lines"] == [201, 201]


@pytest.mark.parametrize("q", [
    "기시와다시랑 자매결연 몇 년도에 맺었어?",        # the partner city is there, the year is not
    "의료특구 전담기관 어디에 세워?",                 # when, but not where
    "봄업프로젝트 참여 인원 몇 명이야?",              # 2회 is a count of events, not of people
])
def test_near_miss_is_not_found_and_nothing_is_high(service, q):
    res = ask(service, q)
    assert res.answer is None and res.answer_message
    assert all(h.confidence != "high" for h in res.hits)


def test_a_year_that_is_not_indexed_says_which_years_have_it(service):
    res = ask(service, "2024년 청년 관련 예산 얼마야?")
    assert res.answer is None
    assert res.answer_message.startswith("2024년 청년") and "2019" in res.answer_message
    assert all(h.confidence != "high" for h in res.hits)


def test_confidence_never_rises_as_rank_falls(service):
    order = {"high": 0, "medium": 1, "low": 2}
    for q in ("반려견 놀이터 조성 사업", "외국인 환자를 대상으로 하는 사업은?", "주민참여예산 운영 실적",
              "22년 의료관광 예산 얼마야?"):
        levels = [order[h.confidence] for h in ask(service, q, top_k=8).hits]
        assert levels == sorted(levels), q


def test_the_passage_holding_a_high_answer_is_not_marked_low(service):
    """"작년보다 얼마 늘었어" words the passage lacks (전년도, 증감): the answer is 높음 from its
    budget row, so the passage citing it may not say 낮음 ("관련 내용을 찾지 못했습니다") beneath it."""
    res = ask(service, "22년 의료관광 예산 작년보다 얼마 늘었어?")
    assert res.answer is not None and res.answer["confidence"] == "high"
    top = res.hits[0]
    assert top.chunk.file == FILE_2022 and top.chunk.start_line <= 59 <= top.chunk.end_line
    assert top.confidence == "high"


def test_passages_holding_the_specific_terms_lead(service):
    res = ask(service, "반려견 놀이터 조성 사업")
    assert res.answer is None and all(h.confidence == "low" for h in res.hits)


def test_answer_in_json_envelope(service):
    env = ask(service, "22년 의료관광 활성화 예산 얼마야?").to_dict()
    assert list(env)[:5] == ["id", "question", "notices", "answer", "answer_message"]
    a = env["answer"]
    assert set(a) >= {"text", "value", "kind", "citation", "source", "confidence"}
    assert "items" not in a  # only list and comparison answers have items
    miss = ask(service, "반려견 놀이터 조성 사업").to_dict()
    assert miss["answer"] is None and miss["answer_message"]


def test_batch_and_service_give_the_same_answer(service, bm25_dir, tmp_path):
    from cli import main

    qs = tmp_path / "q.txt"
    qs.write_text("22년 의료관광 활성화 예산 얼마야?\n기시와다시랑 자매결연 몇 년도에 맺었어?\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(qs), "--index-dir", str(bm25_dir), "-o", str(out)]) == 0
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["answer"] == ask(service, "22년 의료관광 활성화 예산 얼마야?").to_dict()["answer"]
    assert lines[1]["answer"] is None and lines[1]["answer_message"]


def test_ask_prints_the_answer_line_first(bm25_dir, capsys):
    from cli import main

    assert main(["ask", "22년 의료관광 활성화 예산 얼마야?", "--index-dir", str(bm25_dir)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("답 (금액, 신뢰도 높음): 487,492천원")


@pytest.mark.parametrize("value, reading", [("487,492천원", "≈ 4억 8,749만 원"), ("△45,025천원", "≈ 감소 4,502만 원"),
                                            ("9,000원", None)])
def test_plain_reading_of_amounts(value, reading):
    assert plain_amount(value) == reading


def test_answer_from_a_hwpx_table_cites_its_page(tmp_path):
    """Readers' tables become row facts too; a header naming a year ("2024년 3분기") sets the
    value's year, and a table with no unit line answers 보통, never 높음."""
    import shutil
    from pathlib import Path

    from index.build import build
    from search.searcher import Searcher

    src = Path(__file__).parent / "fixtures" / "hwpx_moef_fdi_2025q2_press.hwpx"
    shutil.copy(src, tmp_path / src.name)
    build([tmp_path], tmp_path / "index", model="none")
    svc = SearchService(Searcher.open(tmp_path / "index"))
    a = svc.ask("2024년 3분기 총투자 얼마야?", top_k=3).answer
    assert a["value"] == "145.7" and a["year"] == 2024 and a["confidence"] == "medium"
    assert a["source"]["file"] == src.name and a["source"]["page"] == 1
    assert a["text"][a["highlight"][0]:a["highlight"][1]] == "145.7"

"""Choose the answer: the unit holding the question's specific terms and a value of the asked
kind that fits its constraints, or an honest "not found".

Evidence rules (no score thresholds fitted to a question set):
- a unit's evidence is its own text plus its context (year · department · programme · section);
- 높음 needs every specific term in the evidence, the value in the unit itself, the asked year
  on the value, and a table whose columns line up;
- 보통 allows one missing specific term when at least two are found, or an unaligned table line;
- anything less is not an answer.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from index.config import MAX_LIST_ITEMS
from index.model import Unit
from search.question import COUNTERS, FACET_EVIDENCE, Question

_AMOUNT = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\s*(천\s*원|백만\s*원|만\s*원|억\s*원|억|원)")
_COUNT = re.compile(r"(?<![\d.,])\(?(\d{1,3}(?:,\d{3})+|\d+)\)?\s*(㎡|m\s*\^?\s*2(?![\d])|제곱미터|명|주년|위권|위|개소|개팀|개사|개교|개국|개년|개월|개(?!년)|회|곳|건|팀|가구|세대|호|차례|기관|종|대|권|편|점|차|시간|일간|주|박|부|장|매|쪽|층|척|그루|마리|채|기(?![가-힣]))(?![가-힣]{0,0}[원])")
_NO_BUDGET = re.compile(r"비예산|무예산|예산\s*(?:없음|미소요)|소요예산\s*없")
# How often: "분기별 1회 이상", "년 2회", "월별", "연 1회", "매월", "수시", "상설"
_FREQ = re.compile(r"(?:매\s*)?(?:연|년|월|분기|반기|주|격월|격주|상\s*[·ㆍ]?\s*하반기)\s*(?:별|마다|간|각)?\s*\d+\s*회(?:\s*이상|\s*이내)?"
                   r"|(?:분기|반기|월|주|연|년)\s*(?:별|마다)|매\s*(?:년|월|주|일|분기)|격월|격주|상설|상시|수시|연중")
_RATE = re.compile(r"(?<![\d.])\d+(?:\.\d+)?\s*%")
_DATE = re.compile(
    r"(?<!\d)20\d{2}\s*년?\s*[~∼-]\s*20\d{2}\s*년(?:도)?(?:까지)?"   # "2020년~2022년"
    r"|(?:(?:20\d{2}\s*[.년]\s*\d{1,2}\s*[.월]?(?:\s*\d{1,2}\s*[.일]?)?|['`‘’]\d{2}\s*\.\s*\d{1,2}\s*\.?(?:\s*\d{1,2}\s*\.?)?)"
    r"(?:\s*[~∼-]\s*(?:20\d{2}\s*[.년]\s*)?\d{1,2}\s*[.월](?:\s*\d{1,2}\s*[.일]?)?)?"   # "2019. 2. 22. ~ 3. 5."
    r"|\d{1,2}\s*\.?\s*[~∼-]\s*\d{1,2}\s*월(?:중|경|초|말|까지)?"   # "7. ~ 12월", "2. ~ 6월중"
    r"|\d{1,2}\s*월\s*(?:\d{1,2}\s*일)?(?:\s*[~∼-]\s*\d{1,2}\s*월?\s*(?:\d{1,2}\s*일)?)?(?:중|경|초|말|까지|부터)?"
    r"|[상하]반기|연중|(?:상설|상시|수시)(?=\s*(?:운영|개최|접수|모집|점검|실시|진행|\(|$))|\d\s*분기|\d{1,2}\.\s*\d{1,2}\.\s*[~∼-]\s*\d{1,2}\.\s*\d{1,2}\.?"
    r"|(?<![\d.,])(?:1[0-2]|0?[1-9])\.\s?(?:3[01]|[12]\d|0?[1-9])\.(?![\d,])"   # "(7.5.)", "3.9."
    r"|(?:매월|매주|매년)\s*(?:첫째|둘째|셋째|넷째|마지막)?\s*(?:주\s*)?[월화수목금토일]요일|[월화수목금토일]요일)")
_LIST_SPLIT = re.compile(r"\s*[,、ㆍ]\s*")
_MONEY_HEADER = re.compile(r"예산|금액|액|사업비|비용|감|계")
_CURRENCY = re.compile(r"원|달러|엔|유로|위안")
_RATE_HEADER = re.compile(r"[률율]|%")
_COUNT_HEADER = re.compile(r"정원|현원|과부족|계|명|수|횟수|인원|참여|개|건|회")
# A place, organisation or name: a word ending like one ("국립통일교육원", "기시와다시", "신광경로당").
# Suffixes that make a word an organisation or a place; one-syllable ones (시, 군, 구, 동, 원,
# 당, 팀, 과) only on words of three syllables or more ("영등포구", "교육원"; not "연구", "정원").
_PLACE_WORD = re.compile(
    r"[가-힣A-Za-z]{1,}(?:센터|학교|병원|의원|공원|광장|협회|재단|은행|공사|공단|대학교|대학|회관|기관|본부|위원회|사무소"
    r"|연구소|연구원|교육원|개발원|진흥원|캠퍼스|빌딩|타워|호텔|시장|도서관|경로당|회사|기업|박람회|구청|시청|청사|카페"
    r"|스페이스|플랫폼|홀)(?:[은는이가을를의와과에]|에서|으로|로)?(?![가-힣])"
    r"|[가-힣]{2,}(?:시|군|구|동|읍|면|원|당|관|팀|과|단)(?:[은는이가을를의와과에]|에서|으로|로)?(?![가-힣])"
    r"|[A-Z][A-Za-z]+")
# "누구": a person or a role
_PERSON_WORD = re.compile(r"[가-힣]*(?:장|위원|대표|의원|교수|전문가|직원|주민|구민|시민|학생|어르신|청년|담당자|공무원|단체|기업|님"
                          r"|간부|관계자|구성원|강사|멘토|참석자|참여자|대상자|공직자|주무관|근로자|종사자)"
                          r"(?:[은는이가을를의와과에]|에게)?(?![가-힣])")


# people for certain (not "공론장", which ends like "구청장")
_PEOPLE = re.compile(r"(?:간부|관계자|구성원|강사|멘토|참석자|참여자|대상자|공직자|주무관|근로자|종사자|위원|대표|직원|주민|구민"
                     r"|시민|학생|어르신|청년|공무원|전문가|[구국과팀동]장|부서장|기관장)(?![가-힣])")
_PARTICLE = "은|는|이|가|을|를|의|와|과|에|에서|으로|로|도|만"
_PARTICLE_END = re.compile(f"(?:{_PARTICLE})$")
_WORD = re.compile(r"[가-힣A-Za-z]+")


@dataclass
class Value:
    text: str                     # as shown: "487,492천원", "15명", "7월중"
    start: int = -1               # span in the unit's text, -1 for a table cell
    end: int = -1
    year: int | None = None
    number: float | None = None
    header: str | None = None     # a table cell's column header
    weak: bool = False            # the kind is a reading, not stated (a number in a table without a unit)
    labelled: bool = False        # the line's label is the asked word ("대 상: …" for "누구 대상")


@dataclass
class Candidate:
    unit: Unit
    value: Value | None
    covered: float                # share of the specific terms' IDF in the evidence
    missing: list[str]
    score: float
    confidence: str               # "high" | "medium"


@dataclass
class AnswerItem:
    text: str
    value: str | None
    kind: str
    unit: Unit
    confidence: str
    reading: str | None = None    # plain reading of an amount: "≈ 4억 8,749만 원"
    year: int | None = None
    span: tuple[int, int] | None = None
    label: str | None = None      # a side of a two-topic comparison ("지식포럼 워크")


@dataclass
class Answer:
    text: str
    value: str | None
    kind: str
    unit: Unit
    confidence: str
    reading: str | None = None
    year: int | None = None
    span: tuple[int, int] | None = None
    items: list[AnswerItem] = field(default_factory=list)
    note: str | None = None        # a comparison's difference, or why confidence is 보통


@dataclass
class AnswerResult:
    question: Question
    answer: Answer | None
    message: str | None = None     # the not-found line, e.g. "2023년 청년 예산 자료가 없습니다 (…)"


def number_of(text: str) -> float | None:
    m = re.search(r"(△|-|▲)?\s*(\d[\d,]*(?:\.\d+)?)", text)
    if not m:
        return None
    n = float(m.group(2).replace(",", ""))
    return -n if m.group(1) in ("△", "-") else n


def plain_amount(value: str, unit: str | None = None) -> str | None:
    """"487,492천원" -> "약 4억 8,749만 원"; None where no reading adds anything."""
    n = number_of(value)
    if n is None:
        return None
    u = (unit or "") + value
    scale = 1000 if "천" in u else 1_000_000 if "백만" in u else 10_000 if "만" in u else 100_000_000 if "억" in u else 1
    won = abs(n) * scale
    if won < 10_000:
        return None
    eok, man = int(won // 100_000_000), int(won % 100_000_000 // 10_000)
    parts = ([f"{eok:,}억"] if eok else []) + ([f"{man:,}만"] if man else [])
    sign = "감소 " if n < 0 else ""
    return f"≈ {sign}{' '.join(parts)} 원"


def is_place(text: str, asked: list[str] = (), proper=None, person: bool = False) -> bool:
    """Does a value name a place, an organisation or a name (not only a date, count or activity),
    beyond the words the question itself used? ``proper`` (text -> rare proper nouns) adds
    kiwi's NNP; ``person`` ("누구") asks for a person or a role instead."""
    bare = _DATE.sub(" ", _COUNT.sub(" ", _AMOUNT.sub(" ", text)))
    # only the asked word itself (with a particle): "국립통일교육원" names more than the asked "교육".
    # One compiled pattern; a pattern per word cost ~2 ms to compile per question (issue 18).
    gone = {w.lower() for w in asked if len(w) >= 2}
    if gone:
        bare = _WORD.sub(lambda m: " " if m.group(0).lower() in gone
                         or _PARTICLE_END.sub("", m.group(0)).lower() in gone else m.group(0), bare)
    if person == "region":   # "어느 나라", "무슨 도시": a named country, city or region
        return bool(_REGION_WORD.search(bare) or (proper and proper(bare)))
    if person == "org":   # "어디에 맡겨", "어느 기관이 운영": an organisation, not an address
        return bool(_ORG_WORD.search(bare)) and not _ACTIVITY_END.search(text)
    if _ACTIVITY_END.search(text):
        return False   # "ICT 취업박람회 개최", "관광자원 우수성 홍보": what is done, not where or who
    if person:
        return bool(_PERSON_WORD.search(bare))
    if _PLACE_WORD.search(bare):
        return True
    return bool(proper and proper(bare))


# A value ending in an activity noun names an activity ("… 홍보", "… 개최 등").
_ACTIVITY_WORDS = ("개최|운영|추진|지원|실시|홍보|조성|참여|구축|강화|확대|발굴|육성|제작|설치|개설|관리|점검|"
                   "견학|체험|모집|선정|협의|개선|수립|발간|배부|게시|방문|시행|진행|개발|교육|양성")
_ACTIVITY_END = re.compile(rf"(?:{_ACTIVITY_WORDS})(?:\s*등)?[.)\s]*$")
_REGION_WORD = re.compile(r"[가-힣]{2,}(?:시|국|도|주|현)(?![가-힣])|[가-힣]{2,}(?:공화국|연방)")
ORG_ASKED = re.compile(r"맡겨|맡기|맡아|위탁|어느\s*기관|무슨\s*기관|운영\s*(?:주체|기관)|누가\s*운영")
_ORG_WORD = re.compile(r"[가-힣A-Za-z]+(?:센터|기관|법인|협회|재단|단체|기업|대학교|대학|회사|조합|공사|공단|연구원|진흥원|위원회|사무소|은행)"
                       r"(?:[은는이가을를의와과에]|에서|으로|로)?(?![가-힣])")
REGION_ASKED = re.compile(r"어느\s*(?:나라|국가|도시|지역)|어디\s*나라|무슨\s*(?:나라|도시)|(?:나라|도시|국가)\s*(?:는|은|가|이)?\s*어디")


# Labels whose values are not places or names ("대 상: 구민", "기간: 연중")
_NOT_PLACE_LABEL = re.compile(r"대상|사업대상|내용|주요내용|기간|사업기간|추진기간|일정|시기|예산|소요예산|목적|규모|인원|횟수|방향")
_PROSE_END = re.compile(r"(?:함|임|음|다|됨|요)\.?\s*$")


def is_list_value(text: str) -> bool:
    """Two or more short items, not a sentence that happens to hold commas."""
    if _PROSE_END.search(text):
        return False
    items = [x for x in _LIST_SPLIT.split(text) if x.strip()]
    # "2021년 1월 ~ 12월, 주요 사업내용": a date is no item of a list of things
    return len(items) >= 2 and all(len(x) <= 30 and not _MEASURE.search(x)
                                   and re.search(r"[가-힣A-Za-z]", _DATE.sub("", x)) for x in items)


def counter_ok(value: str, counter: str | None) -> bool:
    if not counter:
        return True
    allowed = COUNTERS.get(counter, re.escape(counter))
    return re.search(rf"\d\)?\s*(?:{allowed})$", value) is not None   # "(4)개팀"


_FUND_LABEL = {"국": "국비|국고|국", "시": "시비|시", "구": "구비|구"}


def fund_values(unit: Unit, text: str, fund: str, offset: int = 0, header: str | None = None,
                year: int | None = None) -> list[Value]:
    """The share of one funding source in "총477,250천원(국 82,550, 시 130,300, 구비 264,400)"."""
    pat = re.compile(rf"(?:(?<=[(\s,·])|^)(?:{_FUND_LABEL[fund]})\s*:?\s*(\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\s*(천\s*원|백만\s*원|억\s*원|원))?")
    money = re.search(r"천\s*원|백만\s*원|억\s*원", text)
    scale = (money.group(0).replace(" ", "") if money else None) or unit.unit or ""
    out = []
    for m in pat.finditer(text):
        out.append(Value(m.group(1) + (m.group(2) or scale).replace(" ", ""), offset + m.start(1), offset + m.end(1),
                         year=year, number=number_of(m.group(1)), header=header))
    return out


def labelled_values(unit: Unit, words: list[str]) -> list[Value]:
    """Numbers written right after one of ``words`` in a line, with the line's money scale."""
    money = re.search(r"천\s*원|백만\s*원|억\s*원", unit.text)
    scale = (money.group(0).replace(" ", "") if money else None) or unit.unit or ""
    out = []
    for w in words:
        spaced = r"\s*".join(re.escape(ch) for ch in w)   # "흡연부스" is "흡연 부스" in the line
        for m in re.finditer(rf"{spaced}\s*[:(]?\s*(\d{{1,3}}(?:,\d{{3}})+|\d+)(\s*(?:천\s*원|백만\s*원|억\s*원|원|명|개소|개|건|회|곳))?", unit.text):
            out.append(Value(m.group(1) + (m.group(2) or scale).replace(" ", ""), m.start(1), m.end(1),
                             number=number_of(m.group(1)), year=unit.fact_years[-1] if unit.fact_years else unit.year))
    return out


_QUOTED_NAME = re.compile(r"[「『‘“]([^」』’”]{2,40})[」』’”]")


_TRAILING_ACT = re.compile(rf"(?:\s+(?:{_ACTIVITY_WORDS}|참가|마련))+\s*$")


def _head_phrase(text: str, words: list[str]) -> list[Value]:
    """"공약 평가 이름" and "- 전국기초단체장 공약이행 및 정보공개 평가 참가": the line's noun
    phrase, without what is done with it (참가, 수립 추진), when it ends in the asked noun."""
    body = _LEAD.sub("", text)
    start = len(text) - len(body)
    m = _TRAILING_ACT.search(body)
    phrase = body[:m.start()] if m else body
    if (" " not in phrase.strip() or ":" in phrase or _PROSE_END.search(phrase)
            or not any(len(w) >= 2 and phrase.endswith(w) for w in words)):
        return []
    return [Value(phrase.strip(), start, start + len(phrase.strip()))]


# labels that name a field of a record ("사업형태: …", "추진방법: …"), not a thing
_FIELD_LABEL = re.compile(r"(?:형태|유형|방법|방식|내용|대상|기간|일정|목적|규모|구성|장소|위치|인원|예산|방향|개요|현황|주제|명|명칭"
                          r"|시기|횟수|일시|기준|절차|근거|효과|배경|필요성|문제점|성과|실적|계획)$")


def _label_name(text: str, words: list[str]) -> list[Value]:
    """"애로사항 듣는 자리 뭐라고 해" and "- 소통간담회 추진: 주관부서간 소통을 통한 애로사항 청취":
    the label names what its description (which holds the question's words) describes."""
    if ":" not in text:
        return []
    head, rest = text.split(":", 1)
    body = _LEAD.sub("", head)
    m = _TRAILING_ACT.search(body)
    name = (body[:m.start()] if m else body).strip()
    ev = evidence_text(rest)
    if len(name) < 2 or _FIELD_LABEL.search(name.replace(" ", "")) or not any(
            len(w) >= 2 and evidence_text(w) in ev for w in words):
        return []
    start = text.index(name)
    return [Value(name, start, start + len(name))]


def _name_values(text: str, words: list[str]) -> list[Value]:
    """"영등포에버 정식 이름": the bracket after the asked word ("영등포에버(영등포 지속 가능 …)");
    "백서 무슨 이름": the word that extends the asked word ("영등포백서")."""
    out = []
    for w in sorted({w for w in words if len(w) >= 2}, key=len, reverse=True):
        m = re.search(rf"{re.escape(w)}\s*\(([^()]{{2,40}})\)", text)
        if m:
            out.append(Value(m.group(1).strip(), m.start(1), m.end(1)))
            continue
        for t in re.finditer(rf"[가-힣A-Za-z0-9]*{re.escape(w)}[가-힣A-Za-z0-9]*", text):
            tok = re.sub(f"(?:{_PARTICLE})$", "", t.group(0))
            if len(tok) > len(w) + 1 and tok.endswith(w) and not any(tok == x for x in words):
                out.append(Value(tok, t.start(), t.start() + len(tok)))
    return out


def _clause_places(text: str, words: list[str], proper=None, person=False) -> list[Value]:
    """"…: EM 흙공 만들기(3월), 우리동네키움센터 스마트폰 과의존 예방교육(5월~)": in a line of
    several clauses, the clauses that name a place (the question's terms then pick one)."""
    colon = text.find(":")
    spans = [(max(a, colon + 1), b) for a, b in _clauses(text) if b > colon + 1]
    if len(spans) < 2 or _PROSE_END.search(text):
        return []   # a sentence ("…도출하고, …도약하고자 함") names no place clause by clause
    out = []
    for a, b in spans:
        clause = text[a:b].strip()
        if clause and not _PROSE_END.search(clause) and is_place(clause, words, proper, person):
            s = text.index(clause, a)
            out.append(Value(clause, s, s + len(clause)))
    return out


_CIRCLED = re.compile(r"[①-⑳]")


def _circled_items(text: str) -> list[str]:
    """"① 비대면·비접촉(언택트) 문화의 급부상, 원격수업… 증가로 ② 4차 산업혁명 시대로의 가속화,
    ③ 친환경, ④ 감염병 … 능력 등이 뉴 트렌드로 예측": each numbered item up to its first comma."""
    parts = _CIRCLED.split(text)[1:]
    out = []
    for p in parts:
        head = p.strip()
        head = head[:_clauses(head)[0][1]].strip()
        head = re.sub(r"\s*등(?:이|을|의|으로|에)?(?:\s.*)?$", "", head).strip(" ,")
        if head:
            out.append(head)
    return out


def _list_text(text: str) -> str:
    """A list as its items: no bullet, nothing from "등" on ("사업개발비, 사회보험료 등 재정지원"),
    and a modifier before the first item left to the whole list ("주제 연계 워크숍, 강연, 전시")."""
    body = re.sub(r"\s*등(?:을|의|으로|이|에)?(?:\s.*)?$", "", _LEAD.sub("", text)).strip() or text.strip()
    items = [x.strip() for x in re.split(r"\s*,\s*", body) if x.strip()]
    if len(items) >= 3 and len(items[0].split()) >= 3 and all(len(x.split()) == 1 for x in items[1:]):
        items[0] = items[0].split()[-1]
    return ", ".join(items)


_MEASURE = re.compile(r"^[\d,.\s]+$|\d,\d{3}|\d\s*(?:천원|백만|억|만원|원|%|명|건|회)|\d{1,2}\.\s*\d")
_BRACKET = re.compile(r"\(([^()]{3,80})\)")
_ITEM_SPLIT = re.compile(r"\s*[,、ㆍ·/]\s*")


def _bracket_lists(text: str) -> list[Value]:
    """"다국어(국어,영어,중국어)", "각종 행사(봄꽃축제, 직거래 장터 등)", "(기본·심화 과정)": the
    members a noun lists in its brackets. Not money or dates ("(시비 81,000, 구비 87,000)")."""
    out = []
    for m in _BRACKET.finditer(text):
        body = re.sub(r"\s*등$", "", m.group(1).strip())
        items = [x for x in _ITEM_SPLIT.split(body) if x]
        if len(items) < 2 or any(_MEASURE.search(x) or len(x) > 20 for x in items):
            continue
        last = items[-1].split()
        if "," not in body and len(last) == 2 and all(" " not in x for x in items[:-1]):
            items[-1] = last[0]   # "기본·심화 과정": the items are 기본 and 심화
        out.append(Value(", ".join(items), m.start(1), m.start(1) + len(body)))
    return out


def values_of(unit: Unit, kind: str, facets: list[str] = (), counter: str | None = None,
              words: list[str] = (), proper=None, person: bool = False, fund: str | None = None,
              name_asked: bool | str = False, slot: list[str] | None = None) -> list[Value]:
    """Values of the asked kind in a unit: regex over a line, the fitting cells of a row.
    ``words``: the question's own words (pick cells; a name must add to them); ``fund``: only
    the share of that funding source (국, 시, 구)."""
    if fund and kind in ("amount", "comparison"):
        if unit.kind != "row":
            found = fund_values(unit, unit.text, fund)
        else:
            found = []
            for (header, cell), year in zip(unit.cells, unit.cell_years or [None] * len(unit.cells)):
                if _MONEY_HEADER.search(header.replace(" ", "")):
                    at = unit.text.find(f"{header} {cell}")
                    found += fund_values(unit, cell, fund, at + len(header) + 1 if at >= 0 else 0, header, year)
        years = unit.fact_years
        for v in found:
            if v.year is None:
                v.year = years[-1] if len(years) == 1 else (unit.year if unit.year in years else (years[-1] if years else None))
        return found
    if unit.kind == "row":
        return _cell_values(unit, kind, facets, counter, words, proper, person)
    text = unit.text
    found: list[Value] = []
    if kind in ("amount", "comparison"):
        for m in _AMOUNT.finditer(text):
            found.append(Value(m.group(0).replace(" ", ""), m.start(), m.end(), number=number_of(m.group(0))))
        m = None if found or kind != "amount" else _NO_BUDGET.search(text)
        if m:   # "□ 소요예산: 비예산": the programme costs nothing, which answers "얼마 들어"
            found.append(Value(m.group(0), m.start(), m.end(), number=0.0))
        if not found and kind == "amount" and unit.unit and not unit.aligned:
            pass  # an unaligned table line: which number is the amount is a guess
    elif kind == "frequency":
        for m in _FREQ.finditer(text):
            found.append(Value(m.group(0).strip(), m.start(), m.end()))
        if not found:   # "개최: 3회": a count of times, the year's frequency when nothing else says
            found = [Value(m.group(0), m.start(), m.end(), number=number_of(m.group(0)))
                     for m in _COUNT.finditer(text) if re.search(r"(?:회|번|차례)$", m.group(0))]
    elif kind == "count":
        for m in _COUNT.finditer(text):
            if counter_ok(m.group(0), counter):
                found.append(Value(m.group(0), m.start(), m.end(), number=number_of(m.group(0))))
    elif kind == "rate":
        for m in _RATE.finditer(text):
            found.append(Value(m.group(0).replace(" ", ""), m.start(), m.end(), number=number_of(m.group(0))))
    elif kind == "date":
        for m in _DATE.finditer(text):
            if m.group(0).strip():
                found.append(Value(m.group(0).strip(), m.start(), m.end()))
    elif kind == "list" and len(_CIRCLED.findall(text)) >= 2:
        items = _circled_items(text)
        found.append(Value(", ".join(items), text.index(_CIRCLED.search(text).group(0)), len(text)))
    elif kind in ("place", "list", "topic"):
        if ":" in text:
            i = text.index(":")
            rest = text[i + 1:].strip()
            head = text[:i].lstrip("-○ㅇ·□※ ").strip()
            label = re.sub(r"\s", "", head)
            # "누구 대상이야" and "- 대 상: 구민 및 관내 직장인": the line's label is the asked word
            # and "사업 대상 누구누구" and "- 사업대상: 관내 기업, 공공기관, …": the label ends in the asked word
            asked_label = len(label) >= 2 and (
                (kind == "place" and any(label == w for w in (slot if slot is not None else words)))
                or (kind == "list" and any(len(w) >= 2 and label.endswith(w) for w in words)))
            ok = (asked_label and kind == "place") or ((kind != "place" or (is_place(rest, words, proper, person)
                                                      and not _NOT_PLACE_LABEL.fullmatch(label)
                                                      and not _clause_places(text, words, proper, person)))
                                 and (kind != "list" or is_list_value(rest)))
            if rest and ok:
                s = text.index(rest, i)
                if kind == "list":   # "창의성, 경제성, 실용성, 적용범위 등을 종합하여 결정": the items
                    rest = _list_text(rest)
                found.append(Value(rest, s, s + len(rest), labelled=asked_label))
            elif kind == "place" and head and not _PROSE_END.search(head) and is_place(head, words, proper, person):
                s = text.index(head)
                found.append(Value(head, s, s + len(head)))
        elif kind == "place" and not _PROSE_END.search(text) and is_place(text, words, proper, person):
            found.append(Value(text, 0, len(text)))
        elif kind == "list" and len(_LIST_SPLIT.split(text)) >= 3 and is_list_value(text):
            found.append(Value(_list_text(text), 0, len(text)))
        if kind == "list" and not found:
            found = _bracket_lists(text)
        field = re.sub(r"\s", "", _LEAD.sub("", text.split(":", 1)[0])) if ":" in text else ""
        if kind == "place" and not found and not (_NOT_PLACE_LABEL.fullmatch(field) and person is False):
            # ("- 대상: 국내·외 석학, 관계기관·단체, 구민 등" names who comes, not where)
            found = _clause_places(text, words, proper, person)
        if kind == "place" and not found and person is True:
            # "정례간부회의(구·동 5급 이상 간부)": who takes part, in the bracket after the asked thing
            found = [Value(m.group(1).strip(), m.start(1), m.end(1)) for m in _BRACKET.finditer(text)
                     if _PEOPLE.search(m.group(1)) and any(
                         len(w) >= 2 and w in evidence_text(text[max(0, m.start() - 12):m.start()]) for w in words)]
    if not unit.aligned and kind in ("count", "amount", "rate"):
        # "정 원 12 1 4 3 3 1": the first number after the label is the total, the rest are guesses
        m = re.search(r"(?<![\d,.])\d[\d,]*(?:\.\d+)?", text)
        if m and not found:
            found.append(Value(m.group(0), m.start(), m.end(), number=number_of(m.group(0))))
    if kind == "place" and name_asked:
        # "공간 이름 뭐였지" and "청년 활동 거점 공간 「무중력지대-영등포」 조성": a name in its own quotes
        asked = {w.lower() for w in words if len(w) >= 2}
        quoted = [Value(m.group(1).strip(), m.start(1), m.end(1)) for m in _QUOTED_NAME.finditer(text)
                  if m.group(1).strip().lower() not in asked   # named right after the asked noun, or with it
                  and any(w in evidence_text(text[max(0, m.start() - 8):m.start()]) or w in m.group(1).lower()
                          for w in asked)
                  # "소식지 이름" and "「영등포 소식」등 4개 구정 소식지": the named noun right after it
                  or (isinstance(name_asked, str) and len(name_asked) >= 2
                      and name_asked in evidence_text(text[m.end():m.end() + 12]))]   # "○ 여 성: ‘…’": a letter-spaced label too
        found = quoted or found or _name_values(text, words) or (
            _head_phrase(text, [name_asked]) if isinstance(name_asked, str) else []) or _label_name(text, words)
    years = unit.fact_years
    for v in found:
        v.year = years[-1] if len(years) == 1 else (unit.year if unit.year in years else (years[-1] if years else None))
    return found


def _cell_values(unit: Unit, kind: str, facets: list[str], counter: str | None = None,
                 words: list[str] = (), proper=None, person: bool = False) -> list[Value]:
    out = []
    for (header, cell), year in zip(unit.cells, unit.cell_years or [None] * len(unit.cells)):
        h = header.replace(" ", "")
        raw = cell.strip()
        if not raw or raw in ("-", "–"):
            continue
        numeric = re.match(r"^[△▲\-+]?\s*\d", raw) is not None
        weak = False
        if kind in ("amount", "comparison"):
            money = bool(_MONEY_HEADER.search(h) or _CURRENCY.search(unit.unit or ""))
            # a number in a table with no unit may be an amount: answered, but never 높음
            weak = not money and unit.unit is None and kind == "amount"
            ok = numeric and (money or weak) and not _RATE_HEADER.search(h) and not re.match(r"^\(.*\)$", raw)
            text = raw if re.search(r"원", raw) else f"{raw.split('(')[0].strip()}{unit.unit or ''}"
        elif kind == "count":
            counted = bool(_COUNT_HEADER.search(h + (unit.label or "") + (unit.section or "") + (unit.unit or ""))
                           or _COUNT.match(raw))   # "153개 주요사업": the cell carries its own counter
            ok = numeric and counted and not _RATE_HEADER.search(h) and not (unit.unit or "").endswith("원")
            text = raw
            if ok and counter and re.search(r"[가-힣]$", raw):
                # "17개 시도, 226개 시군구": the counted value whose words the question uses
                fits = [m for m in _COUNT.finditer(raw) if counter_ok(m.group(0), counter)]
                near = [m for m in fits if any(len(w) >= 2 and w in raw[m.end():m.end() + 12] for w in words)]
                ok = bool(fits)
                if fits:
                    text = (near or fits)[0].group(0)
        elif kind == "rate":
            ok = numeric and bool(_RATE_HEADER.search(h))
            text = raw if raw.endswith("%") else raw + "%"
        elif kind == "date":
            ok = bool(_DATE.search(raw))
            text = raw
        else:
            ok = not numeric and (kind != "place" or is_place(raw, words, proper, person))
            text = raw
        if ok:
            at = unit.text.find(f"{header} {cell}")   # the cell in the row's text, for highlighting
            start = at + len(header) + 1 if at >= 0 else -1
            out.append(Value(text, start, start + len(cell) if at >= 0 else -1, year=year,
                             number=number_of(raw) if numeric else None, header=header, weak=weak))
    if out:
        # "7급 정원 몇 자리" reads the 7급 cell, "집행액" the 집행액 column, else the first (계)
        keys = [w for w in list(facets) + list(words) if w]
        pref = [v for v in out if any(k in (v.header or "").replace(" ", "") for k in keys)]
        if pref:
            best = max(len([k for k in keys if k in (v.header or "").replace(" ", "")]) for v in pref)
            pref = [v for v in pref if len([k for k in keys if k in (v.header or "").replace(" ", "")]) == best]
            out = pref + [v for v in out if v not in pref]
    return out


def evidence_text(text: str) -> str:
    """Lower-case text without whitespace: a term is in the evidence when it is a substring,
    so "평화 통일" holds "평화통일" and a compound's parts are found in it."""
    # "주요업무계획(안)" holds "업무계획안": brackets and quotes are layout, not words
    return re.sub(r"[\s·ㆍ()（）「」『』‘’“”\"']+", "", text).lower()


def _coverage(q: Question, evidence: str, idf: dict[str, float]) -> tuple[float, list[str]]:
    if not q.specific:
        return 1.0, []
    total = sum(idf.get(t, 1.0) for t in q.specific)
    # a compound ("투자심사") is there when its parts are ("투자 사업 심사")
    missing = [t for t in q.specific if t not in evidence
               and not any(t[:i] in q.specific and t[i:] in q.specific and t[:i] in evidence and t[i:] in evidence
                           for i in range(1, len(t)))]
    got = total - sum(idf.get(t, 1.0) for t in missing)
    return (got / total if total else 0.0), missing


_ASKS_MONTH = re.compile(r"몇\s*월")
_ASKS_YEAR = re.compile(r"몇\s*년(?!\s*(?:간|동안|째|차))|어느\s*해|무슨\s*년도")
_YEAR_VALUE = re.compile(r"(?<![\d.])20\d{2}\s*년(?:도)?(?!\s*\d)")
_MONTHISH = re.compile(r"\d\s*월|\d\s*\.\s*\d|[상하]반기|\d\s*분기")
_ASKS_DAY = re.compile(r"며칠|몇\s*일(?!간|동안)|날짜|정확히\s*언제|무슨\s*요일")
_DAY = re.compile(r"\d{1,2}\s*일|(?<![`'‘’\d])\d{1,2}\.\s*\d{1,2}\.|요일|\d{4}\.\s*\d{1,2}\.\s*\d{1,2}")


_WH = re.compile(r"누구|누가|어디|어느|무슨|어떤|뭐|무엇")


def slot_words(text: str) -> list[str]:
    """The words beside the question word: "강사 누구였어" -> 강사, "누구 대상이야" -> 대상. A line
    labelled with one of them ("- 대 상: …") answers by its label; a label that is only another
    of the question's words ("○ 여 성: …" for "여성 금융교육 강사 누구") does not."""
    toks = text.split()
    out = []
    for i, t in enumerate(toks):
        if _WH.match(t):
            for j in (i - 1, i + 1):
                if 0 <= j < len(toks):
                    w = _PARTICLE_END.sub("", re.sub(r"[^가-힣A-Za-z]", "", toks[j]))
                    w = re.sub(r"(?:이야|이었어|였어|야|이지|지|요)$", "", w)
                    if len(w) >= 2:
                        out.append(w)
    return out


def _in_group(text: str, v: Value, terms: list[str]) -> bool:
    """"총 77회(정례간부 회의, 국장단회의, 현안회의 등)": the value counts the listed group; a term
    found only inside that list is one member, and the value is not its own count."""
    if v.start < 0 or not terms:
        return False
    m = re.match(r"\s*\(([^()]*)\)", text[v.end:])
    if not m or not re.search(r"(?<!\d),|,(?!\d)|[、ㆍ·]", m.group(1)):
        return False   # no list in the bracket ("(국 622,500 시 247,313)" is a split of the sum)
    inside = evidence_text(m.group(1))
    outside = evidence_text(text[:v.start] + " " + text[v.end + m.end():])
    return any(t in inside and t not in outside for t in terms)


def _per_item(text: str, v: Value) -> bool:
    """The value is per item ("사업별 10명 이내", "팀당 5백만원"): it cannot answer a total."""
    if v.start < 0:
        return False
    for a, b in _clauses(text):
        if a <= v.start < b:
            return bool(re.search(r"[가-힣](?:별|당|마다)\s", text[a:v.end if v.end > 0 else b]))
    return False


_NAME_ASKED = re.compile(r"이름|명칭|뭐라고\s*(?:불|해)|정식|주제|제목|테마|슬로건")
_NAME_HEAD = re.compile(r"([가-힣A-Za-z]{2,}?)(?:의)?\s*(?:이름|명칭)")


def _name_head(text: str) -> str | None:
    """The noun whose name is asked: "계획 이름이 뭐야" -> 계획."""
    m = _NAME_HEAD.search(text)
    return m.group(1) if m else None
_TOTAL_LABELS = {"계", "합계", "총계", "총액"}
# A part of a programme's money: per item, on its own, or one cost item ("용역비", "인건비")
_PART = re.compile(r"(?:팀|인|명|회|개|곳|건|가구|세대|기관|개소|업체|단체)\s*당|따로|단독|별도|만\s*(?:의\s*)?(?:예산|비용|금액|돈)"
                   r"|용역비|인건비|운영비|홍보비|행사비|위탁비|임차료|수당|여비|재료비|시설비|보상금|강사료"
                   # money coming in (교부세, 보조금) is not what the programme spends
                   r"|교부세|교부금|보조금|재원|세입|수입")


_SECTION_WORD = {"results": "실적", "plan": "계획"}
_NAME_LINE = re.compile(r"^[\s\-–○ㅇ·□※▪◦•]*(?:행사|사업|과정|대회|축제|포럼|교육|회의)\s*명\s*:")


def _enough(q: Question, missing: list[str], found: int, rarest: set[str]) -> bool:
    """Does a unit hold enough of the question's specific terms? All of them, or all but one
    that is not the rarest (or only names the asked category), or all but words that no report
    uses at all ("애들", "공무원" where the reports say "공직자"): such a word is phrasing, and no
    unit could hold it. Either way an answer missing a term is never 높음."""
    if not missing:
        return True
    if len(missing) == 1 and found >= 2 and (missing[0] not in rarest or missing[0] in q.category):
        return True
    return found >= 2 and all(t in q.absent for t in missing)


def _candidates(q: Question, units: list[Unit], idf: dict[str, float],
                passage_rank: dict[str, int], kind: str, proper=None) -> list[Candidate]:
    out = []
    # A programme's budget line (소요예산) is the budget of everything the programme's lines say:
    # "무중력지대 만드는 데 얼마" is answered by the 소요예산 of the programme that builds it.
    # Not for a part of a programme ("컨퍼런스만 따로", "팀당 지원금"): its total does not answer that.
    whole: dict[tuple, str] = {}
    if kind in ("amount", "comparison") and not _PART.search(q.text):
        for u in units:
            whole.setdefault((u.file, u.programme), [])
            whole[(u.file, u.programme)].append(u.context + " " + (u.programme or "") if u.text.lstrip().startswith("-") else u.text)
        whole = {k: evidence_text(" ".join(v)) for k, v in whole.items()}
    # the question's most specific term(s) may never be the one left out ("선포식 언제" is not
    # answered by another date of the same programme)
    present = [t for t in q.specific if t not in q.absent]
    top = max((idf.get(t, 1.0) for t in present), default=0.0)
    rarest = {t for t in present if idf.get(t, 1.0) >= top}
    slot = slot_words(q.text)
    # "- 행사명: 영등포 지식포럼 워크 2022" names what its sibling lines ("- 개최시기: 10월 중") describe
    named: dict[tuple, str] = {}
    for u in units:
        if u.kind == "line" and _NAME_LINE.match(u.text):
            named.setdefault((u.file, u.chunk_id, u.context), evidence_text(u.text))
    for u in units:
        if q.departments and (u.department or "").replace(" ", "") not in {d.replace(" ", "") for d in q.departments}:
            continue
        own = evidence_text(u.text)
        ev = own + "|" + evidence_text(u.context) + "|" + named.get((u.file, u.chunk_id, u.context), "")
        budget_line = whole and u.programme and "소요" in (u.section or "") and u.kind == "line"
        near = covered = None
        if budget_line:
            near, _ = _coverage(q, ev, idf)   # the unit and its own context, before the programme's lines
            ev += "|" + whole.get((u.file, u.programme), "")
        covered, missing = _coverage(q, ev, idf)
        if near is None:
            near = covered
        if q.phrases and not all(evidence_text(p) in own + "|" + evidence_text(u.context) for p in q.phrases):
            continue
        found = len(q.specific) - len(missing)
        if not _enough(q, missing, found, rarest):
            continue
        # a measure word (총액, 정원, 집행) must be in the unit itself: its text, headers, label or section
        facet_ev = evidence_text(" ".join([h for h, _ in u.cells] + [u.label or "", u.section or ""])
                                 if u.kind == "row" else u.text + " " + (u.section or ""))
        if any(not re.search(FACET_EVIDENCE.get(f, re.escape(f)), facet_ev) for f in q.facets):
            continue
        if q.total and not q.specific and (u.kind != "row" or (u.label or "").replace(" ", "") not in _TOTAL_LABELS):
            continue   # "비협과 22년 예산 전부 합치면": the department's 계 row, not a programme's 총액
        who = ("region" if REGION_ASKED.search(q.text) else "org" if ORG_ASKED.search(q.text)
               else bool(re.search(r"누구|누가", q.text)))
        vals = values_of(u, "frequency" if q.frequency else kind, q.facets, q.counter, _words(q.text) + q.terms, proper, who, q.fund,
                         _name_head(q.text) or bool(_NAME_ASKED.search(q.text)), slot)
        if kind == "date" and _ASKS_YEAR.search(q.text):
            # "몇 년도 거": a year is a date here ("연차별 실행계획(2020년) 수립")
            vals = vals + [Value(m.group(0), m.start(), m.end()) for m in _YEAR_VALUE.finditer(u.text)
                           if u.kind == "line" and not any(v.start <= m.start() < v.end for v in vals)]
        if kind == "date" and _ASKS_DAY.search(q.text):   # "정확히 며칠": a day, not "하반기"
            vals = [v for v in vals if _DAY.search(v.text)]
        elif kind == "date" and _ASKS_MONTH.search(q.text):   # "몇 월에": a month, not "수시"
            vals = sorted((v for v in vals if _MONTHISH.search(v.text)),
                          key=lambda v: not re.search(r"\d\s*월", v.text))   # "(7월)" before "상반기"
        if q.total and kind in ("count", "amount") and u.kind == "line":
            vals = [v for v in vals if not _per_item(u.text, v)]   # "사업별 10명 이내" is no total
        if kind in ("count", "amount") and u.kind == "line":
            vals = [v for v in vals if not _in_group(u.text, v, sorted(rarest))]
        if u.kind == "line" and vals:
            vals = [v for v in vals if _clause_holds(u.text, v, q.specific)]
            if kind == "count" and q.counted and not q.specific:
                # "비협과 팀 몇 개": with no topic words, the count must be of the thing named (팀)
                vals = [v for v in vals if _counts(u.text, v, q.counted)]
        if kind != "topic" and not vals:
            continue
        own_hits = sum(1 for t in q.specific if t in own)
        facet_hits = sum(1 for f in q.facets if f in own or f in (u.label or "").replace(" ", ""))
        rank = passage_rank.get(u.chunk_id, 99)
        # evidence nearer the value counts more: a 소요예산 line under a title holding the terms
        # before one whose programme only mentions them in its body
        score = covered + near + 2 * own_hits / max(1, len(q.specific)) + 0.5 * facet_hits + 1.0 / (1 + rank)
        if q.chapter_kind and u.chapter_kind == q.chapter_kind:
            score += 0.3
        # "타운홀미팅 실적으로 뭐 했어": the programme's 주요 추진실적 section, not its 사업개요
        if _SECTION_WORD.get(q.chapter_kind, "-") in (u.section or ""):
            score += 0.3
        conf = "high" if not missing and u.aligned else "medium"
        for v in vals or [None]:
            out.append(Candidate(u, v, covered, missing, score + (1.0 if v is not None and v.labelled else 0.0),
                                 "medium" if v is not None and v.weak else conf))
    out.sort(key=lambda c: (bool(c.missing), -c.score))   # full evidence before partial, then score
    return out


def _clauses(text: str) -> list[tuple[int, int]]:
    """Spans of a line's clauses: split at commas and semicolons outside brackets."""
    spans, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{（「『‘“":
            depth += 1
        elif ch in ")]}）」』’”" and depth:
            depth -= 1
        elif ch in ",;" and not depth and not (ch == "," and 0 < i < len(text) - 1
                                                 and text[i - 1].isdigit() and text[i + 1].isdigit()):
            spans.append((start, i))   # not the comma of "228,000"
            start = i + 1
    spans.append((start, len(text)))
    return spans


def _clause_holds(text: str, v: Value, specific: list[str]) -> bool:
    """In a line of several clauses ("구민청원 접수·처리 317건, 공감청원 구청장 답변"), a value
    answers only when no other clause holds more of the question's terms than its own: the
    number belongs to the words beside it."""
    if v.start < 0:
        return True
    spans = _clauses(text)
    if len(spans) < 2:
        return True
    def hits(a: int, b: int) -> int:
        e = evidence_text(text[a:b])
        return sum(1 for t in specific if t in e)
    mine = next(((a, b) for a, b in spans if a <= v.start < b), None)
    if mine is None or v.end > mine[1]:
        return True   # a value over several clauses (a list) is the whole line's
    colon = text.find(":")
    if colon > spans[-1][0] and v.start > colon:
        return True   # "지하철 역사 조명 광고(2개소), 버스정류장(4개소): `23. 4. ~ 5.": a listed label's value
    if 0 <= colon < spans[0][1] and v.start > colon and not hits(*mine):
        # "봄업프로젝트 개최: 5월, 10월(년 2회)": the values after a label are all the label's,
        # unless a listed item holds the terms ("…: EM 흙공(3월), 키움센터 예방교육(5월~)")
        after = [(colon + 1, spans[0][1])] + spans[1:]
        if not any(hits(a, b) for a, b in after):
            return True
    return hits(*mine) >= max(hits(a, b) for a, b in spans if (a, b) != mine)


def _counts(text: str, v: Value, noun: str) -> bool:
    """The counted noun is written in the value's own clause ("(3)개팀")."""
    for a, b in _clauses(text):
        if a <= v.start < b:
            return evidence_text(noun) in evidence_text(text[a:b])
    return v.start < 0


def _words(text: str) -> list[str]:
    """Bare words of a question for picking table cells: "7급", "정원" (particles dropped)."""
    out = []
    for w in re.findall(r"[\w%]+", text):
        w = re.sub(r"(?:은|는|이|가|을|를|의|에|로|으로|이야|야|에서)$", "", w)
        if len(w) >= 2:
            out.append(w)
    return out


def _in_years(c: Candidate, years: list[int]) -> bool:
    if c.value is not None and c.value.year is not None and c.value.year in years:
        return True
    if c.unit.kind == "line" and any(re.search(rf"(?<!\d){y}(?!\d)", c.unit.text) for y in years):
        return True   # "2019 지역사회혁신계획서 초안 수립(7.10.)" in the 2018 report: the line is about 2019
    if c.value is not None and c.value.year is not None:
        return False
    return any(y in years for y in c.unit.fact_years)


def _item(c: Candidate, kind: str) -> AnswerItem:
    v = c.value
    return AnswerItem(text=c.unit.text, value=v.text if v else None, kind=kind, unit=c.unit,
                      confidence=c.confidence, year=v.year if v else None,
                      reading=plain_amount(v.text, c.unit.unit) if v and kind in ("amount", "comparison") else None,
                      span=(v.start, v.end) if v and v.start >= 0 else None)


_SEVERAL = re.compile(r"(언제|어디|누구|뭐|몇)\s*\1")


def _answer(c: Candidate, kind: str, **kw) -> Answer:
    it = _item(c, kind)
    return Answer(text=it.text, value=it.value, kind=kind, unit=it.unit, confidence=it.confidence,
                  reading=it.reading, year=it.year, span=it.span, **kw)


def topic_label(q: Question) -> str:
    # "의료 관광 의료관광" -> "의료관광": a compound stands for its parts
    whole = [t for t in q.specific if not any(t != o and t in o for o in q.specific)]
    words = " ".join(whole[:3]) or (q.departments[0] if q.departments else "")
    kind_word = {"amount": "금액", "count": "인원·수", "date": "일정", "rate": "비율", "place": "정보",
                 "list": "목록", "comparison": "자료", "topic": "자료"}[q.kind]
    if q.facets and q.kind in ("amount", "count"):
        kind_word = q.facets[0]
    return f"{words} {kind_word}".strip()


def _names_label(q: Question, text: str) -> bool:
    """A short label line ("- 추진내용", "□ 세부 추진계획", "- 주요 사업내용") that the question
    itself names: most of its letters are the question's words ("추진내용 뭐뭐", "세부계획 뭐뭐")."""
    label = evidence_text(_LEAD.sub("", text))
    if not label or len(label) > 10 or ":" in label:
        return False
    hits = [t for t in set(q.terms) if len(t) >= 2 and t in label]
    covered = set()
    for t in hits:
        i = label.find(t)
        covered.update(range(i, i + len(t)))
    return len(covered) / len(label) >= 0.6


def _child_list(q: Question, units: list[Unit], idf: dict[str, float],
                passage_rank: dict[str, int], labelled_only: bool = False) -> AnswerResult | None:
    """"외부재원 확보 사업 주요 내용 뭐뭐야?": the lines under a line ("- 주요 사업내용" and its
    " - …" children), each item with its own citation, when that line and its context hold the
    question's terms (the rules of ``_candidates``)."""
    children: dict[str, list[Unit]] = {}
    for u in units:
        parent = u.context.rsplit(" · ", 1)[-1].strip() if u.kind == "line" else ""
        if parent:
            children.setdefault((u.file, parent), []).append(u)
    best = None
    present = [t for t in q.specific if t not in q.absent]
    top = max((idf.get(t, 1.0) for t in present), default=0.0)
    rarest = {t for t in present if idf.get(t, 1.0) >= top}
    for u in units:
        kids = children.get((u.file, u.text.strip()), [])
        kids = [k for k in kids if k.line > u.line and k.chunk_id == u.chunk_id]
        if len(kids) < max(2, _listed_count(q)) or u.kind != "line":
            continue   # "10개 분야 뭐뭐야": fewer lines are not that list
        labelled = _names_label(q, u.text)
        if labelled_only and not labelled:
            continue
        covered, missing = _coverage(q, evidence_text(u.text + "|" + u.context), idf)
        found = len(q.specific) - len(missing)
        if not _enough(q, missing, found, rarest):
            continue
        if q.years and not any(y in q.years for y in (u.fact_years or [u.year])):
            continue
        # the parent line that itself says what is asked ("- 주요 사업내용" for "주요 내용 뭐뭐야")
        # before the heading above it ("□ 사업개요")
        own = evidence_text(u.text)
        said = sum(1 for t in set(q.terms) if len(t) >= 2 and t in own)
        score = covered + 1.0 / (1 + passage_rank.get(u.chunk_id, 99)) + 0.1 * said + (1.0 if labelled else 0.0)
        if best is None or score > best[0]:
            best = (score, u, kids, missing)
    if best is None:
        return None
    _, u, kids, missing = best
    conf = "medium" if missing else "high"
    items = [AnswerItem(text=k.text, value=_item_name(k.text), kind="list", unit=k, confidence=conf,
                        year=(k.fact_years or [k.year])[-1]) for k in kids]
    text = ", ".join(i.value for i in items)
    return AnswerResult(q, Answer(text=text, value=text, kind="list", unit=u, confidence=conf, items=items))


_LEAD = re.compile(r"^[\s\-–○ㅇ·□※▪◦•]+")


def _item_name(text: str) -> str:
    """A listed line's item: "- 금융인과의 현장소통: 현직 금융종사자의 의견 청취 …" is the
    현장소통, what follows the colon describes it (a field line "- 사업기간: …" stays whole)."""
    body = _LEAD.sub("", text).strip()
    head, sep, rest = body.partition(":")
    if sep and rest.strip() and 2 <= len(head.strip()) and not _FIELD_LABEL.search(head.replace(" ", "")):
        return head.strip()
    return body


def choose(q: Question, units: list[Unit], idf: dict[str, float],
           passage_rank: dict[str, int], programmes: list[AnswerItem] | None = None, proper=None) -> AnswerResult:
    """The answer to ``q`` from ``units`` (those of the top passages and their neighbours)."""
    if q.kind == "list" and programmes and len(programmes) >= _listed_count(q):
        return _list_answer(q, programmes)
    kind = "amount" if q.kind == "comparison" else q.kind
    if q.kind == "comparison":
        return _comparison(q, units, idf, passage_rank, proper)
    if q.asks_team:
        return _team_answer(q, units, idf, passage_rank)
    if kind == "topic" and not q.specific:
        return AnswerResult(q, None, "질문에서 찾을 내용을 알아내지 못했습니다. 사업명이나 항목을 넣어 다시 물어보세요.")
    cands = _candidates(q, units, idf, passage_rank, kind, proper)
    n = _listed_count(q)
    if n:   # "12개 주제 전부 뭐뭐야": a list of fewer items is not that list
        cands = [c for c in cands if c.value is not None and len(_list_items(c.value.text)) >= n]
    if kind == "list" and cands:
        # "추진내용 뭐뭐야" and "- 추진내용" with its sub-lines: the lines under the label the
        # question names, before a one-line list elsewhere that does not say it
        got = _child_list(q, units, idf, passage_rank, labelled_only=True)
        if got is not None and not _names_label(q, cands[0].unit.text.split(":")[0]):
            return got
    if not cands and kind == "list":
        got = _child_list(q, units, idf, passage_rank)
        if got is not None:
            return got
    if not cands:
        return AnswerResult(q, None, "보고서에서 찾지 못했습니다.")
    if q.years:
        fit = [c for c in cands if _in_years(c, q.years)]
        if not fit and kind == "list":
            # "22년 … 세부 추진계획 뭐뭐야": that year's lines under the heading, when they hold every term
            got = _child_list(q, units, idf, passage_rank)
            if got is not None and got.answer.confidence == "high":
                return got
        if not fit:
            have = sorted({c.value.year if c.value and c.value.year else c.unit.year for c in cands} - {None})
            ys = ", ".join(map(str, q.years))
            return AnswerResult(q, None, f"{ys}년 {topic_label(q)} 자료가 없습니다"
                                + (f" ({topic_label(q)}이(가) 있는 연도: {', '.join(map(str, have))})" if have else ""))
        best = fit[0]
        return AnswerResult(q, _all_values(q, _answer(best, kind), best, kind))
    best = cands[0]
    # Several years answer it: the latest first, the others as items (same label or line shape).
    same = [c for c in cands if c.score >= best.score - 0.75 and c.value is not None and c.value.year
            and _same_fact(c, best)]
    by_year: dict[int, Candidate] = {}
    for c in same:
        by_year.setdefault(c.value.year, c)
    if len(by_year) >= 2:
        years = sorted(by_year, reverse=True)
        head = by_year[years[0]]
        return AnswerResult(q, _answer(head, kind, items=[_item(by_year[y], kind) for y in years]))
    return AnswerResult(q, _all_values(q, _answer(best, kind), best, kind))


_LISTED = re.compile(r"(?<![\d,.])(\d{1,2})\s*(?:개|대|가지|곳|종)(?!\s*(?:월|년|년도))")


def _listed_count(q: Question) -> int:
    """The number of items a list question says there are ("5대 목표 뭐뭐야" -> 5), else 0."""
    if q.kind != "list":
        return 0
    m = _LISTED.search(q.text)
    return int(m.group(1)) if m and 2 <= int(m.group(1)) <= 30 else 0


def _list_items(text: str) -> list[str]:
    return [x for x in re.split(r"\s*[,、ㆍ/]\s*", text) if x.strip()]


_PLURAL = re.compile(r"들(?:에서|에|은|는|이|을|로)?\s|(언제|어디|누구|뭐)\s*\1")


_WHICH = re.compile(r"(?:무슨|어떤)\s*([가-힣A-Za-z]{2,8})(?=\s|$|\?)|뭘로|뭐로|뭐\s*가지고")


def _topic_items(q: Question, a: Answer, c: Candidate) -> Answer:
    """"무슨 전문가 키워" and "- 핀테크 전문가, 웹/앱 코딩전문가 양성 교육 …": a "which" question
    answered by a line that lists things gives the things listed (those named as the asked
    noun, when it names one), each with the line's citation."""
    m = _WHICH.search(q.text)
    if not m or c.unit.kind != "line" or a.items:
        return a
    body = _LEAD.sub("", c.unit.text)
    part = body.split(":", 1)[1] if ":" in body else body
    listed = _list_text(part)
    parts = split_items(listed)
    word = m.group(1) if m.lastindex else None
    named = []
    # "무슨 전문가" and "무슨 사업을": the word, or the word without its particle
    for noun in ([word, re.sub(r"(?:들)?(?:으로|에서|[은는이가을를로에])$", "", word)] if word else []):
        named = [re.search(rf"^.*{re.escape(noun)}$", re.sub(r"\s+(?:양성|교육|지원|운영|개최|추진)(?:\s.*)?$", "", p))
                 for p in parts] if len(noun) >= 2 else []
        if sum(1 for n in named if n) >= 2:
            break
    if sum(1 for n in named if n) >= 2:
        parts = [n.group(0) for n in named if n]   # "핀테크 전문가", "웹/앱 코딩전문가"
    elif not is_list_value(listed) or len(parts) < 2:
        return a
    a.value = ", ".join(parts)
    a.items = [AnswerItem(text=c.unit.text, value=p, kind="list", unit=c.unit, confidence=a.confidence, year=a.year)
               for p in parts]
    return a


def _all_values(q: Question, a: Answer, c: Candidate, kind: str) -> Answer:
    """"언제언제 했어?": every value of the kind in the chosen line, not the first; "어느
    경로당들": the items of "7월(문래동 현대3차 경로당/ 대림1동 경로당)", not the whole value."""
    if kind in ("place", "list") and a.value and _PLURAL.search(q.text + " "):
        m = re.fullmatch(r"[^()]*\(([^()]+)\)\s*", a.value)
        if m and re.search(r"[,/]", m.group(1)):
            a.value = ", ".join(x.strip() for x in re.split(r"\s*[,/]\s*", m.group(1)) if x.strip())
    if _SEVERAL.search(q.text) and c.unit.kind == "line":
        vals = values_of(c.unit, kind, q.facets, q.counter, _words(q.text) + q.terms)
        if len(vals) > 1:
            a.value = ", ".join(v.text for v in vals)
    if kind == "topic":
        return _topic_items(q, a, c)
    if kind in ("list", "place") and a.value and not a.items:
        parts = split_items(a.value)
        # "누구 대상이야" and "대 상: 지역주민, 사업추진 관계자, 정책 제안자 등": several named, so a list
        if kind == "list" or (len(parts) >= 2 and (_PLURAL.search(q.text + " ") or re.search(r"[,、]", a.value))):
            a.value = ", ".join(parts)
            a.items = [AnswerItem(text=c.unit.text, value=p, kind="list", unit=c.unit, confidence=a.confidence,
                                  year=a.year) for p in parts] if len(parts) >= 2 else []
    return a


def split_items(value: str) -> list[str]:
    """A list value's items: split at commas when it has any ("관내 기업, 구청·산하기관"), else at
    "·" and "/" ("국·영·중국어", "명소·음식·쇼핑"); a closing "등" dropped."""
    value = re.sub(r"\s*등$", "", value.strip())
    commas = bool(re.search(r"[,、]", value))
    sep = r"\s*[,、]\s*" if commas else r"\s*[·ㆍ/]\s*"
    items = [x for x in (re.sub(r"\s*등$", "", p.strip()) for p in re.split(sep, value)) if x]
    if commas and len(items) >= 2:
        # "특구, 숙박 기관, 관광지 소개": a closing verb noun ("소개", "안내") is said of the
        # whole list, not of its last item
        last = items[-1].rsplit(" ", 1)
        if len(items) >= 3 and len(last) == 2 and _LIST_VERB.fullmatch(last[1]):
            items[-1] = last[0]
    return items


_LIST_VERB = re.compile(r"소개|안내|제공|게재|배포|배부|지원")


_TEAM_LINE = re.compile(r"(?:^|\s)([가-힣A-Za-z]{1,12}팀)\s*$")


def _team_answer(q: Question, units: list[Unit], idf: dict[str, float], passage_rank: dict[str, int]) -> AnswerResult:
    """"성과관리 업무는 어느 팀이 맡아?": the team line of the programme whose text holds the
    question's terms (a programme's lines together are its evidence)."""
    depts = {d.replace(" ", "") for d in q.departments}
    programme_text: dict[tuple, list[str]] = {}
    for u in units:
        programme_text.setdefault((u.file, u.programme), []).append(u.text + " " + u.context)
    best = None
    for u in units:
        m = _TEAM_LINE.search(u.text.strip())
        if not m or (depts and (u.department or "").replace(" ", "") not in depts):
            continue
        ev = evidence_text(" ".join(programme_text.get((u.file, u.programme), [])))
        covered, missing = _coverage(q, ev, idf)
        if missing and not (len(missing) == 1 and len(q.specific) - 1 >= 2 and missing[0] in q.absent):
            continue
        # the parent line that itself says what is asked ("- 주요 사업내용" for "주요 내용 뭐뭐야")
        # before the heading above it ("□ 사업개요")
        own = evidence_text(u.text)
        said = sum(1 for t in set(q.terms) if len(t) >= 2 and t in own)
        score = covered + 1.0 / (1 + passage_rank.get(u.chunk_id, 99)) + 0.1 * said
        if best is None or score > best[0]:
            start = u.text.rfind(m.group(1))
            best = (score, u, Value(m.group(1), start, start + len(m.group(1))), missing)
    if best is None:
        return AnswerResult(q, None, "보고서에서 찾지 못했습니다.")
    _, u, v, missing = best
    c = Candidate(u, v, 1.0, missing, best[0], "high" if not missing else "medium")
    return AnswerResult(q, _answer(c, "place"))


def _same_fact(a: Candidate, b: Candidate) -> bool:
    if a.unit.id == b.unit.id:
        return True
    la, lb = (a.unit.label or a.unit.section or ""), (b.unit.label or b.unit.section or "")
    return bool(la) and la.replace(" ", "") == lb.replace(" ", "")


_SIDES = re.compile(r"^(.+?)(?:이랑|랑|하고|\s+vs\.?|\s+VS|\s+대비)\s+(.+)$")
_SIDE_PHRASING = re.compile(r"^(?:비교|차이|각각|얼마씩|얼마|규모|예산|금액|달라|몇|명|현황|수|기준)")


def _sides(q: Question) -> tuple[list[str], list[str]] | None:
    """"6급 정원이랑 현원 비교", "1회 추경이랑 2회 추경": two things side by side in one year.
    Returns each side's own words (those the other side lacks), or None."""
    if len(q.years) >= 2 or q.previous_year:
        return None
    bare = re.sub(r"\([^()]*\)", " ", q.text)
    m = _SIDES.search(bare)
    if not m:
        return None
    left, right = _words(m.group(1)), _words(m.group(2))
    def own(ws, other):
        keep = [w for w in ws if w not in other and not _SIDE_PHRASING.match(w) and not re.fullmatch(r"\d{2,4}년?", w)
                and (re.search(r"\d", w) or w in q.facets or any(t in w.lower() for t in q.specific))]
        return keep
    head = []
    for w in right:   # the right side runs up to the first phrasing word ("각각", "몇", "비교")
        if _SIDE_PHRASING.match(w) or len(head) == 3:
            break
        head.append(w)
    a, b = own(left[-2:], right), own(head or right[:1], left)
    return (a, b) if a and b else None


def _side_comparison(q: Question, sides, units, idf, passage_rank, kind: str, proper=None) -> AnswerResult | None:
    picked = []
    for k, words in enumerate(sides):
        other = sides[1 - k]
        facets = [f for f in q.facets if any(f in w for w in words) or not any(f in w for ws in sides for w in ws)]
        specific = [t for t in q.specific if not any(t in w.lower() for w in other)
                    or any(t in w.lower() for w in words)]
        sq = Question(**{**q.__dict__, "facets": facets, "specific": specific})
        cands = _candidates(sq, units, idf, passage_rank, kind, proper)
        if q.years:
            cands = [c for c in cands if _in_years(c, q.years)]
        def holds(c: Candidate) -> bool:
            ev = evidence_text(" ".join([c.unit.text, c.unit.context, c.unit.label or ""]
                                        + [h for h, _ in c.unit.cells]))
            return all(evidence_text(w) in ev for w in words)
        pool = [c for c in cands if holds(c) and c.value is not None]
        # "(일반회계 47,094, 특별회계 5,025)": the number right after the side's own word
        for c in pool:
            if c.unit.kind == "line":
                near = labelled_values(c.unit, words)
                if near:
                    c.value = near[0]
        if picked:
            pool = [c for c in pool if c.unit.id != picked[0].unit.id or c.value.text != picked[0].value.text]
        if not pool:
            return None
        picked.append(pool[0])
    a, b = picked
    note = None
    if a.value.number is not None and b.value.number is not None:
        diff = a.value.number - b.value.number
        unit = re.sub(r"[\d,.\s△▲+-]", "", a.value.text) or ""
        pct = f" ({diff / b.value.number * 100:+.1f}%)" if b.value.number else ""
        note = (f"{' '.join(sides[0])} {a.value.text} − {' '.join(sides[1])} {b.value.text} = "
                f"{'△' if diff < 0 else '+'}{abs(diff):,.0f}{unit}{pct}")
    head = _answer(a, "comparison", items=[_item(a, kind), _item(b, kind)], note=note)
    head.confidence = "high" if a.confidence == b.confidence == "high" else "medium"
    head.value = f"{a.value.text} / {b.value.text}"
    return AnswerResult(q, head)


def _comparison(q: Question, units, idf, passage_rank, proper=None) -> AnswerResult:
    kind = comparison_kind(q)
    sides = _sides(q)
    if sides:
        res = _side_comparison(q, sides, units, idf, passage_rank, kind, proper)
        if res is not None:
            return res
    cands = _candidates(q, units, idf, passage_rank, kind, proper)
    if not cands:
        return AnswerResult(q, None, "보고서에서 찾지 못했습니다.")
    years = sorted(set(q.years), reverse=True)
    if len(years) == 1 and (q.previous_year or True):
        years = [years[0], years[0] - 1]
    if not years:
        latest = max((c.value.year for c in cands if c.value and c.value.year), default=None)
        if latest is None:
            return AnswerResult(q, None, "보고서에서 찾지 못했습니다.")
        years = [latest, latest - 1]
    picked: dict[int, Candidate] = {}
    anchor = None
    for y in years:
        pool = [c for c in cands if c.value and c.value.year == y]
        if anchor is not None:  # prefer the same row or the same label as the first value
            same = [c for c in pool if c.unit.id == anchor.unit.id] or [c for c in pool if _same_fact(c, anchor)]
            pool = same or pool
        if pool:
            picked[y] = pool[0]
            anchor = anchor or pool[0]
    missing = [y for y in years if y not in picked]
    if missing:
        have = sorted({c.value.year for c in cands if c.value and c.value.year})
        return AnswerResult(q, None, f"{', '.join(map(str, missing))}년 {topic_label(q)} 자료가 없습니다"
                            + (f" (있는 연도: {', '.join(map(str, have))})" if have else ""))
    a, b = picked[years[0]], picked[years[1]]
    note = None
    if a.value.number is not None and b.value.number is not None:
        diff = a.value.number - b.value.number
        unit = re.sub(r"[\d,.\s△▲+-]", "", a.value.text) or ""
        pct = f" ({diff / b.value.number * 100:+.1f}%)" if b.value.number else ""
        note = f"{years[0]}년 {a.value.text} − {years[1]}년 {b.value.text} = {'△' if diff < 0 else '+'}{abs(diff):,.0f}{unit}{pct}"
    items = [_item(a, kind), _item(b, kind)]
    conf = "high" if a.confidence == b.confidence == "high" else "medium"
    head = _answer(a, "comparison", items=items, note=note)
    head.confidence = conf
    head.value = f"{a.value.text} / {b.value.text}"
    return AnswerResult(q, head)


def side_columns(q: Question, units, idf, passage_rank, proper=None) -> AnswerResult | None:
    """"6급 정원이랑 현원": two columns or labels of the same row or line (None: not that shape)."""
    kind = comparison_kind(q)
    sides = _sides(q)
    return _side_comparison(q, sides, units, idf, passage_rank, kind, proper) if sides else None


def pair_answer(q: Question, labels: tuple[str, str], a: AnswerResult, b: AnswerResult) -> AnswerResult:
    """Two topics asked side by side, each answered as its own question: both values with their
    own citations, and their difference when both are numbers of one unit."""
    missing = [lab for lab, r in zip(labels, (a, b)) if r.answer is None]
    if missing:
        why = next((r.message for r in (a, b) if r.answer is None and r.message and "없습니다" in r.message), None)
        return AnswerResult(q, None, why or f"{' · '.join(missing)} 자료를 보고서에서 찾지 못했습니다.")
    x, y = a.answer, b.answer
    items = [AnswerItem(text=r.text, value=r.value, kind=r.kind, unit=r.unit, confidence=r.confidence,
                        year=r.year, reading=r.reading, span=r.span, label=lab) for r, lab in zip((x, y), labels)]
    note = None
    nx, ny = number_of(x.value or ""), number_of(y.value or "")
    unit_of = lambda v: re.sub(r"[\d,.\s△▲+-]", "", v or "")  # noqa: E731
    if nx is not None and ny is not None and x.kind == y.kind and x.kind in ("amount", "count", "rate") \
            and unit_of(x.value) == unit_of(y.value):
        diff = nx - ny
        pct = f" ({diff / ny * 100:+.1f}%)" if ny and x.kind != "rate" else ""
        note = f"{labels[0]} {x.value} − {labels[1]} {y.value} = {'△' if diff < 0 else '+'}{abs(diff):,.{1 if x.kind == 'rate' else 0}f}{unit_of(x.value)}{pct}"
    conf = "high" if x.confidence == y.confidence == "high" else "medium"
    head = Answer(text=x.text, value=f"{x.value} / {y.value}", kind="comparison", unit=x.unit, confidence=conf,
                  reading=x.reading, year=x.year, span=x.span, items=items, note=note)
    return AnswerResult(q, head)


def comparison_kind(q: Question) -> str:
    kind = "amount" if any(w in q.text for w in ("예산", "얼마", "금액", "원")) or not q.facets else "count"
    if any(w in q.text for w in ("명", "인원", "정원", "현원")) or ("몇" in q.text and "얼마" not in q.text):
        kind = "count"
    return kind


def _list_answer(q: Question, programmes: list[AnswerItem]) -> AnswerResult:
    if not programmes:
        return AnswerResult(q, None, "보고서에서 찾지 못했습니다.")
    first = programmes[0]
    shown = programmes[:MAX_LIST_ITEMS]
    text = ", ".join(p.value or p.text for p in shown)
    note = None
    if len(programmes) > len(shown):
        note = f"{len(shown)}개까지 보입니다. 더 있습니다: 연도나 부서를 넣어 좁혀 물어보세요"
        text += " 외"
    return AnswerResult(q, Answer(text=text, value=text, kind="list", unit=first.unit, confidence="high",
                                  items=shown, note=note))


def idf_of(df: int, n: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))

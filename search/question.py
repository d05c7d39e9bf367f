"""What a question asks: the kind of answer, its constraints (year, department, chapter kind)
and its specific terms.

The kind comes from the question's own words (얼마 → amount, 몇 명 → count, 언제 → date, …);
the specific terms are its content morphemes minus those words, the constraints and a few
words every report uses. An answer must hold the specific terms and a value of the kind.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from index.units import years_in

KINDS = ("amount", "count", "date", "place", "rate", "list", "comparison", "topic")
KIND_LABELS = {"amount": "금액", "count": "수", "date": "일정·기간", "place": "장소·기관·이름", "rate": "비율",
               "list": "목록", "comparison": "비교", "topic": "내용"}

# Order matters: the first pattern that matches decides (a comparison of amounts is a comparison).
_KIND_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("comparison", re.compile(r"보다|대비|비교|차이|증감|늘었|줄었|늘어|줄어|증가|감소|변화|달라|vs|VS|각각|얼마씩|[명개건회]씩|둘\s*다|어느\s*쪽")),
    ("rate", re.compile(r"%|퍼센트|몇\s*프로|몇\s*퍼(?!센)|[률율](?:은|는|이|가|이야|\?|$|\s)|비율|비중")),
    ("list", re.compile(r"어떤\s*사업들?|무슨\s*사업들?|사업\s*(?:목록|들|뭐뭐|전부|다|모두)|사업.{0,6}(?:뭐야|뭐|뭔지|알려)|뭐뭐|어디어디|목록|종류|뭐\s*있|뭐가\s*있|어떤\s*것들|어떤.{0,12}있(?:어|나|니|는지|지)|항목|(?:어느|무슨|어떤)\s*[가-힣]{1,6}들|(어디|누구|뭐)\s*\1|어떤\s*(?:거|것)(?:들)?\s*(?:알려|있|해|하|줘)|\d+\s*(?:개|가지|대)\s*[가-힣]*\s*(?:전부|모두|다\s)")),
    ("date", re.compile(r"언제|몇\s*월|며칠|몇\s*년도|몇\s*일에|날짜|시기|일정|기간|개최일|기한|마감|부터|까지")),
    ("count", re.compile(r"몇\s*(?:년짜리|달|개월|년간|주간|일간|제곱미터|평|㎡)|몇\s*(?:명|개|회|곳|건|번|팀|가구|세대|개소|차례|군데|기관|개사|종|대|시간|호|자리|층|권|편|점|부|장|매|쪽|척|그루|마리|채|석|병|벌|켤레|통|판|주|일간|개월|개국|개교)|인원|정원|현원|몇\s*[가-힣]{0,3}(?:이나|야|\?)|몇$|수(?:는|가|가\s*몇|\s*몇|$|\?)")),
    ("amount", re.compile(r"얼마|금액|예산|비용|사업비|소요|천원|억|만\s*원|원이|재원|집행액|보조금|지원금|총액")),
    ("place", re.compile(r"어디|어느|누구|누가|기관|도시|장소|위치|주소|이름|명칭|(?:주제|제목|테마|슬로건)(?:가|는|은|이)?\s*(?:뭐|무엇)|업체|대상은|대상이|파트너|협력\s*기관|주관|주최")),
]

# The counter a count question names ("몇 명") and the counters a value may carry for it.
COUNTERS = {"제곱미터": "㎡|m\\s*\\^?\\s*2|제곱미터", "㎡": "㎡|m\\s*\\^?\\s*2|제곱미터", "군데": "군데|곳|개소|개", "위": "위|위권", "위권": "위권|위", "기관": "기관|개소|개|곳", "개국": "개국|개|국", "명": "명|인", "개": "개|개소|개사|개교|개국|개팀|종|건|대", "회": "회|번|차례|차", "번": "회|번|차례|차",
            "곳": "곳|개소|개", "건": "건", "달": "개월|달", "개월": "개월|달", "기째": "기", "기": "기", "회째": "회", "번째": "번|회|차", "차": "차", "팀": "팀|개팀", "개소": "개소|곳|개", "가구": "가구|세대", "세대": "세대|가구"}
_ASKED_COUNTER = re.compile(r"몇\s*(명|개소|개|회|번|곳|건|팀|가구|세대|제곱미터|㎡)")
# Any other counter a count question names ("몇 부", "몇 장", "몇 대"): the value must carry it.
_ANY_COUNTER = re.compile(r"몇\s*([가-힣]{1,2}?)(?=[이가은는을를야요지나씩\s?]|$)")
_NOT_COUNTER = {"월", "일", "년", "시", "분", "년도", "살", "프로", "퍼센트"}

# Words that say what kind of answer is wanted, or that every report uses: never "specific".
_GENERIC = set("""
얼마 얼마나 몇 명 개 회 곳 건 번 팀 언제 어디 어느 누구 무엇 뭐 뭐야 무슨 어떤 어떻게 왜 이 그 저
예산 금액 비용 사업비 소요 소요예산 천원 원 억 만 규모 인원 수 정원 현원 인력 사람 사람들
일정 기간 시기 날짜 월 일 년 년도 연도 올해 작년 내년 금년 전년 전년도 재작년 달 동안
사업 사업들 관련 내용 현황 계획 실적 추진 추진계획 추진실적 주요 주요업무 보고 업무 신규 중점
수 명 개 회 곳 건 번 액 나라 등 및 중 것 거 좀 더 총 약 각 안 내 외 후 전 간 때 자리 총액 기준 얼마씩 각각
구 구청 구의회 영등포 영등포구 우리 우리구 과 부서 담당 팀 알려 알리 주 하 되 있 없 보 받 들 대하 대한
비교 차이 대비 증감 증가 감소 늘 줄 변화 달라지 전체 총 모두 전부 다 각 각각 대략 약
비율 률 율 퍼센트 프로 목록 종류 장소 위치 주소 이름 명칭 기관 도시
정도 돈 소관 맡 들어가 들 쓰 써 나오 나와 하나 대략 대충 혹시 그거 거기 여기 얘기 쪽
배정 예산표 단위사업 단위 합치 합 실제 실제로 지금 지금까지 잡히 국비 시비 구비 국고 서울시비
며칠 그때 당시 언제쯤 소 정식 요일
언 vs VS
""".split())

# Nouns that relate two others ("여성 대상 금융교육") and are asked only when no noun follows
# ("사업 대상 누구야")
_RELATIONAL = {"대상"}
# Only nouns, foreign words and roots are required of an answer; verbs ("들어오", "열")
# vary with phrasing.
_NOUN_TAGS = {"NNG", "NNP", "SL", "SH", "XR", "compound"}
# Words naming the asked measure: they pick the row or cell (정원 vs 현원) but are not topic.
FACETS = {"예산", "정원", "현원", "집행액", "집행", "예산액", "전년도", "증감", "소요예산", "인력", "집행률", "집행율",
          "총액", "과부족"}
# What in a unit satisfies a facet word of the question.
FACET_EVIDENCE = {"예산": "예산|소요|사업비|금액|액", "예산액": "예산|소요|액", "소요예산": "예산|소요", "총액": "계|총|소요",
                  "정원": "정원", "현원": "현원", "인력": "정원|현원|인력|명", "집행": "집행", "집행액": "집행",
                  "집행률": "집행", "집행율": "집행", "전년도": "전년", "증감": "증|감", "과부족": "과부족"}
# "정원보다 몇 명 더 있어", "6급 몇 명 모자라": the 인력 table's 과부족 row
_SURPLUS = re.compile(r"(?:정원|현원|인원|사람|직원|인력).{0,12}(?:모자라|모자란|부족|더\s*(?:있|많)|초과|적어|남아|넘어|과부족)"
                      r"|몇\s*명\s*(?:모자|부족|더\s*있|남)")

_ASKS_TEAM = re.compile(r"(?:어느|무슨|어떤|어디|담당|소관)\s*팀|팀\s*(?:이|은|는)?\s*(?:어디|어느|누구|맡|담당)|담당\s*부서|소관\s*부서")
_FUNDS = [("국", re.compile(r"국비|국고|국가\s*(?:돈|예산|지원)|정부\s*(?:돈|예산|지원)")),
          ("시", re.compile(r"시비|서울시\s*(?:돈|예산|지원|부담|에서)|시\s*예산|시\s*돈")),
          ("구", re.compile(r"구비|구\s*예산\s*(?:으로|에서)|구\s*(?:돈|몫|부담)"))]
_TOTAL = re.compile(r"전부\s*합|다\s*합치|합치면|전체\s*(?:예산|금액)|총\s*(?:예산|액)|예산\s*(?:전부|전체|총)")


# "국·시비 보조금", "시비 매칭사업": a kind of money named as the topic, not one share asked for
_FUND_TOPIC = re.compile(r"[국시구]\s*[·ㆍ,/]?\s*[국시구]비|[국시구]비\s*(?:보조금|매칭|보조사업)")


def _fund(text: str) -> str | None:
    text = _FUND_TOPIC.sub(" ", text)
    found = [k for k, pat in _FUNDS if pat.search(text)]
    return found[0] if len(found) == 1 else None


_NUMBERED = re.compile(r"(?<![\d.,])(?:제\s*)?\d{1,2}\s*(?:개년|대|주년|기)(?![가-힣\d])")
# "'구정의 성과관리' 단위사업": a quoted phrase must be in the answer's line as written
_QUOTED = re.compile(r"['‘\"“「『]([^'’\"”」』]{2,30})['’\"”」』]")
_SHORT_YEAR_Q = re.compile(r"(?<![\d])(\d{2})\s*년(?!\s*\d+\s*개월)|['`‘’](\d{2})(?!\d)")


@dataclass
class Question:
    text: str
    kind: str                                   # one of KINDS
    years: list[int] = field(default_factory=list)
    departments: list[str] = field(default_factory=list)
    chapter_kind: str | None = None             # "plan" | "results" | "new"
    terms: list[str] = field(default_factory=list)      # all content terms (kiwi)
    specific: list[str] = field(default_factory=list)   # terms an answer must hold
    facets: list[str] = field(default_factory=list)     # measure words (정원, 집행액) that pick a row or cell
    counter: str | None = None                  # "명" in "몇 명": a count value must carry a matching counter
    previous_year: bool = False                 # "작년보다", "전년 대비": compare with the year before
    absent: list[str] = field(default_factory=list)     # specific terms no report holds (phrasing: "사람", "vs")
    asks_team: bool = False                     # "어느 팀이 맡아?": the programme's team line answers
    category: list[str] = field(default_factory=list)   # "어떤 언어들", "항목 뭐뭐": what the answer is, not about
    frequency: bool = False                     # "얼마나 자주", "1년에 몇 번": how often
    counted: str | None = None                  # "팀 몇 개": the noun right before 몇
    fund: str | None = None                     # "국", "시", "구": the funding share asked (국비, 서울시 돈, 구비)
    total: bool = False                         # "전부 합치면", "전체 예산": the 계 row
    phrases: list[str] = field(default_factory=list)    # quoted in the question: the line must hold them

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]


def question_years(text: str) -> list[int]:
    """Years a question names: "2022년", "2022", "22년", "'22"."""
    ys = set(years_in(text))
    for m in _SHORT_YEAR_Q.finditer(text):
        yy = int(m.group(1) or m.group(2))
        if 10 <= yy <= 40:
            ys.add(2000 + yy)
    # "2040 종합발전계획" names a plan, not a year the reports could cover
    return sorted(y for y in ys if 2000 <= y <= date.today().year + 5)


# The question word itself outranks the nouns around it: "5월 말까지 쓴 돈 얼마야" asks an
# amount, "사업들 총 금액 얼마야" an amount, not a date or a list.
_ASKS_AMOUNT = re.compile(r"얼마|금액|비용")
_ASKS_WHEN = re.compile(r"언제|며칠|몇\s*월|날짜|몇\s*일에")


_WHEN_WORD = re.compile(r"언제|몇\s*월|며칠|몇\s*년도|몇\s*일에|날짜|시기|일정|기간|개최일|기한|마감")
_COUNT_ASKED = re.compile(r"몇\s*(?:명|개|회|곳|건|번|팀|가구|세대|개소|차례|군데|기관)")


def asked_kind(text: str) -> str:
    if len(question_years(text)) >= 2:
        return "comparison"
    first = next((k for k, pat in _KIND_PATTERNS if pat.search(text)
                  and (k != "comparison" or _compares(text))), "topic")
    if first == "date" and not _WHEN_WORD.search(text) and _COUNT_ASKED.search(text):
        first = "count"   # "사업별로 몇 명까지 꾸려": 까지 bounds a count, not a date
    if first in ("list", "date", "place") and _ASKS_AMOUNT.search(text) and not _ASKS_WHEN.search(text) \
            and not re.search(r"얼마나\s*(?:걸|오래|자주|많이\s*(?:왔|참여|모였))", text):
        return "amount"
    return first


def _compares(text: str) -> bool:
    """"작년보다 얼마 늘었어", "22년이랑 23년 비교": two years or a change asked for."""
    if len(question_years(text)) >= 2:
        return True
    if re.search(r"(?:이랑|랑|하고)\s", text) and re.search(r"각각|씩|둘\s*다|어느\s*쪽", text):
        return True   # "정원이랑 현원 몇 명씩", "A랑 B 둘 다"
    return bool(re.search(r"보다|대비|비교|차이|늘었|줄었|늘어|줄어|증가|감소|증감|변화|달라", text))


_ASKS_FREQUENCY = re.compile(r"자주|간격|주기|빈도|(?:1년|일\s*년|한\s*해|연간|한\s*달|1달|달|분기|월|주)\s*에?\s*몇\s*(?:번|회)")
_CATEGORY_AFTER = re.compile(r"(?:어떤|무슨|어느)\s*([가-힣A-Za-z]{1,8}?)(?:들)?(?:[은는이가을를로에]|으로|에서)?(?=\s|$|\?)")
_CATEGORY_BEFORE = re.compile(r"([가-힣A-Za-z]{1,8}?)(?:은|는|이|가)?\s+(?:이름|명칭|뭐뭐|누구\s*누구|어디\s*어디|누구야|누구)"
                              # "금융교육 주제 뭐였어": the answer is a 주제, its line need not say so
                              r"|((?:주제|제목|테마|슬로건))(?:가|는|은|이)?\s*(?:뭐|무엇)"
                              # "언어별로 몇 부씩": how the answer is split, which "각 300부" need not say
                              r"|([가-힣A-Za-z]{1,8}?)(?:별로|마다)(?=\s)")


def _digit_fragment(text: str, start: int, end: int) -> bool:
    """The one-syllable token at ``text[start:end]`` is part of a longer word holding a digit."""
    a, b = start, end
    while a > 0 and not text[a - 1].isspace():
        a -= 1
    while b < len(text) and not text[b].isspace():
        b += 1
    word = re.sub(r"[^가-힣A-Za-z0-9]", "", text[a:b])
    return any(c.isdigit() for c in word) and len(re.sub(r"\d", "", word)) > end - start + 1


def category_words(text: str, specific: list[str]) -> list[str]:
    """The noun that names what kind of thing the answer is ("어떤 언어들로" -> 언어, "재정지원 항목
    뭐뭐" -> 항목, "협의체 이름" -> 협의체): the answer instantiates it, so its line need not say it."""
    words = [g for pat in (_CATEGORY_AFTER, _CATEGORY_BEFORE) for m in pat.finditer(text) for g in m.groups() if g]
    return [t for t in specific if any(w == t or (w.endswith(t) and len(t) >= 2) for w in words)]


def analyse(text: str, tokenizer, departments: list[str], aliases: dict[str, str] | None = None) -> Question:
    """Read the kind, constraints and specific terms of a question (``tokenizer``: KoreanTokenizer)."""
    aliases = aliases or {}
    compact = text.replace(" ", "")
    depts: list[str] = []
    for d in departments:
        if d and d.replace(" ", "") in compact:
            depts.append(d)
    for short, full in aliases.items():
        if short.replace(" ", "") in compact and full not in depts:
            depts.append(full)
    chapter_kind = "results" if "실적" in text else "plan" if "계획" in text else "new" if "신규" in text else None
    years = question_years(text)
    bare = text
    for d in depts + list(aliases):
        bare = bare.replace(d, " ")
    kind = asked_kind(bare)
    frequency = bool(_ASKS_FREQUENCY.search(bare))
    if frequency and kind in ("amount", "topic", "date", "count"):
        kind = "count"   # "얼마나 자주", "1년에 몇 번": answered by "분기별 1회", "년 2회", "수시"
    previous = bool(re.search(r"작년보다|전년\s*대비|전년보다|전년도보다|지난해보다|작년\s*대비|작년이랑|작년하고|작년과", text))
    # "(컨퍼런스, 구민 금융교육 등)": a hint about the topic, not terms an answer must hold
    hint_spans = [m.span() for m in re.finditer(r"\([^()]*\)", text)]
    analysed = tokenizer.terms(text)
    terms = [t.text for t in analysed]
    named = [d.replace(" ", "") for d in depts] + [a for a in aliases if a in compact]
    specific = []
    for i, a in enumerate(analysed):
        if a.tag not in _NOUN_TAGS or any(lo <= a.start < hi for lo, hi in hint_spans):
            continue
        t = a.text
        nxt = analysed[i + 1] if i + 1 < len(analysed) else None
        if t in _RELATIONAL and nxt is not None and nxt.tag in _NOUN_TAGS and nxt.start - a.end <= 1:
            continue   # "여성 대상 금융교육": the noun after it is the topic, not "대상"
        if t in _GENERIC or t in FACETS or any(t in d for d in named) or t.isdigit():
            continue
        if len(t) == 1 and _digit_fragment(text, a.start, a.end):
            continue   # "영등포1번가" -> 가: a piece of a numbered name, not a word
        if re.fullmatch(r"\d{2,4}년?|\d+", t):
            continue
        if t not in specific:
            specific.append(t)
    # "4개년 계획", "5대 목표", "제3기": a numbered name is as specific as a word
    for m in _NUMBERED.finditer(text):
        t = m.group(0).replace(" ", "")
        if t not in specific:
            specific.append(t)
    # a measure word inside a name ("시민참여예산") is the name's, not the asked measure
    facets = [t for t in terms if t in FACETS and not any(t in d for d in named)
              and not any(t != x and t in x for x in specific)]
    if _TOTAL.search(text) and "총액" not in facets:
        facets.append("총액")
    if _SURPLUS.search(text):   # one row answers it: a count, not a comparison of two
        facets = [f for f in facets if f not in ("정원", "현원", "인력")] + ["과부족"]
        kind = "count"
    m = _ASKED_COUNTER.search(bare)
    counter = m.group(1) if m else None
    mo = re.search(r"몇", text)
    before = [a for a in analysed if mo and a.end <= mo.start() and a.tag in _NOUN_TAGS and not a.compound]
    counted = before[-1].text if before and mo.start() - before[-1].end <= 2 else None
    if counter is None and kind == "count":
        m2 = _ANY_COUNTER.search(bare)
        counter = m2.group(1) if m2 and m2.group(1) not in _NOT_COUNTER else None
    return Question(text=text, kind=kind, years=years, departments=depts, chapter_kind=chapter_kind,
                    terms=terms, specific=specific, facets=facets, previous_year=previous,
                    counter=counter, counted=counted, fund=_fund(text), total=bool(_TOTAL.search(text)), asks_team=bool(_ASKS_TEAM.search(bare)),
                    category=category_words(text, specific), frequency=frequency,
                    phrases=[m.group(1).strip() for m in _QUOTED.finditer(text)])


_CONNECTIVE = re.compile(r"(?:이랑|랑|하고|와|과)(?=\s)|\s(?:vs\.?|VS|대비)(?=\s)")
# where the shared asking part of a comparison begins ("… 예산 각각 얼마야", "… 참여 인원 비교해줘")
_SHARED_TAIL = re.compile(r"^(?:예산|사업비|비용|금액|돈|얼마|몇|언제|기간|일정|시기|날짜|인원|참여|정원|현원|수|"
                          r"비율|집행|률|율|각각|둘|비교|차이|어느|규모|횟수|개수|분야)")
_SIDE_NOISE = re.compile(r"\s*(?:각각|둘\s*다|모두|비교(?:해\s*줘|하면|해|해봐)?|어느\s*쪽이?\s*\S*|씩|(?:어떻게\s*)?(?:달라|다른지|다르지|차이\s*(?:나|있어)?))(?=\s|[?]|$)")
_YEAR_WORD = re.compile(r"(?:20)?\d{2}년(?:도|에|엔|의|은|는)?|(?:20)?\d{2}")


def comparison_sides(q: Question) -> tuple[str, str] | None:
    """"22년 지식포럼 워크랑 CSR 생태계 사업 예산 각각 얼마야?" -> ("22년 지식포럼 워크 예산 얼마야?",
    "22년 CSR 생태계 사업 예산 얼마야?"): two topics asked side by side, each as its own question.
    The sides are read as parallel: the left side's own words are as many as the right side's, and
    the words before them (and any year or department) are shared. None when the sides differ only
    in year ("22년 vs 23년": a year comparison)."""
    bare = re.sub(r"\([^()]*\)", " ", q.text).strip()
    depts = {d.replace(" ", "") for d in q.departments}
    for m in _CONNECTIVE.finditer(bare):
        word = bare[:m.end()].split()[-1] if bare[:m.end()].split() else ""
        if m.group(0) == "과" and (word in depts or (len(word) <= 4 and word.endswith("과"))):
            continue   # "사경과 …": a department, not "A과 B"
        left, right = bare[:m.start()].split(), bare[m.end():].split()
        break
    else:
        return None
    cut = next((i for i, w in enumerate(right) if _SHARED_TAIL.match(w)), len(right))
    right_topic, tail = right[:cut], right[cut:]
    def context(w: str) -> bool:   # a year or a department, named for both sides
        return bool(_YEAR_WORD.fullmatch(w)) or w in depts or (len(w) <= 4 and w.endswith("과") and w != left[-1:])
    def dept(w: str) -> bool:
        return w in depts or (len(w) <= 4 and w.endswith("과"))
    left_words = [w for w in left if not context(w)]
    right_own = [w for w in right_topic if not context(w)]
    ask = _SIDE_NOISE.sub("", " ".join(tail)).strip() or " ".join(tail)
    if tail and left and right_topic and not right_own and dept(left[-1]) and all(dept(w) for w in right_topic):
        # "19년 협치사업 시비 기획과랑 사경과 각각 얼마": the same asked of two departments
        return " ".join(left + [ask]), " ".join(left[:-1] + right_topic + [ask])
    if not left_words or not right_own or not tail:
        return None
    left_own = left_words[-len(right_own):]
    shared = [w for w in left if w not in left_own]
    def side(words: list[str]) -> str:
        own_year = any(_YEAR_WORD.fullmatch(w) for w in words)
        own_dept = any(dept(w) for w in words)   # "기획과 계획이랑 사경과 계획": each side its own
        head = [w for w in shared if not (own_year and _YEAR_WORD.fullmatch(w)) and not (own_dept and dept(w))]
        return " ".join(head + words + [ask])
    return side(left_own), side(right_topic)

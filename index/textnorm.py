"""Normalisation for index text: undo extraction noise without touching the displayed text."""
from __future__ import annotations

import html
import re

_TAG = re.compile(
    r"</?(?:ul|ol|li|br|p|span|div|table|thead|tbody|tr|td|th|b|i|u|strong|em|font|sup|sub|hr)\b[^<>\n]{0,400}>",
    re.IGNORECASE)
_BOLD = re.compile(r"\*\*(.+?)\*\*")
# Two or more single Hangul syllables separated by single spaces: "구 분", "정 원", "일 반 현 황".
_SPACED = re.compile(r"(?<![가-힣])[가-힣](?: [가-힣](?![가-힣]))+")
_DIGIT_HANGUL = re.compile(r"(\d) (년|월|일|개|명|회|건|억|만|천|원|차|층|호|기|주)(?![가-힣])")
_NOISE_LINE = re.compile(r"^\s*[ㅇo]{1,3}\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?[\s|:\-]*-{3,}[\s|:\-]*\|?\s*$|^\s*(?:-{3,}\t?)+\s*$")
_WS = re.compile(r"\s+")


def strip_html(text: str) -> str:
    """Drop HTML tags that extraction left inside table cells; keep their text."""
    if "<" not in text:
        return text
    return html.unescape(_TAG.sub(" ", text))


def is_noise_line(line: str) -> bool:
    """Stray "ㅇㅇ" lines and table rule lines carry no words."""
    return bool(_NOISE_LINE.match(line) or _TABLE_RULE.match(line))


def join_spaced_letters(text: str) -> str:
    """"구 분" -> "구분": letter-spaced headings and table labels from PDF/HWP layout."""
    return _SPACED.sub(lambda m: m.group(0).replace(" ", ""), text)


def normalise_for_index(text: str) -> str:
    """Index-side cleaning of a passage: tags, bold markers, noise lines, spacing, whitespace."""
    out: list[str] = []
    for line in text.split("\n"):
        if is_noise_line(line):
            continue
        line = strip_html(line)
        line = _BOLD.sub(r"\1", line).replace("**", "")
        line = line.replace("|", " ").replace("\t", " ")
        line = _WS.sub(" ", line).strip()
        if not line:
            continue
        line = join_spaced_letters(line)
        line = _DIGIT_HANGUL.sub(r"\1\2", line)
        out.append(line)
    return "\n".join(out)


def compact(text: str) -> str:
    """Whitespace-insensitive form used for matching titles and quotes."""
    return _WS.sub("", text)


def collapse_ws(text: str) -> str:
    return _WS.sub(" ", text).strip()

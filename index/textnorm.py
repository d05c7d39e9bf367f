"""Normalisation for index text: undo extraction noise without touching the displayed text."""
from __future__ import annotations

import html
import re
import unicodedata

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


# One character reference, as html.unescape reads them (a named one may lack its ";").
_ENTITY = re.compile(r"(&(?:#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]*;?))")
# "<" followed by what makes it markup: a tag, an end tag, a comment/doctype, a processing instruction.
_MARKUP = re.compile(r"<[A-Za-z/!?]")


def strip_html(text: str) -> str:
    """Drop HTML tags that extraction left inside table cells; keep their text.

    Tags are stripped first and entities are then decoded once; a reference is kept as
    written when decoding it would form markup (``&lt;script&gt;``, ``<&#115;cript>``), so
    text that was inert in the source stays inert.
    """
    if "<" not in text:
        return text
    return unescape_inert(_TAG.sub(" ", text))


def unescape_inert(text: str) -> str:
    """``html.unescape`` that never creates markup: a reference whose decoded form would make a
    ``<`` start a tag (with the text around it) stays as written; so does the ``&gt;`` closing it."""
    if "&" not in text:
        return text
    parts = _ENTITY.split(text)           # plain, reference, plain, ..., plain
    decoded = [html.unescape(p) if k % 2 else p for k, p in enumerate(parts)]
    out: list[str] = []
    kept_open = False                      # a "<" reference was kept: keep its closing "&gt;" too
    for k, (raw, dec) in enumerate(zip(parts, decoded)):
        if not k % 2 or dec == raw:
            out.append(raw)
            continue
        before = out[-1][-1:] if out and out[-1] else ""
        after = next((d[:1] for d in decoded[k + 1:] if d), "")
        if _MARKUP.search(before + dec + after):
            out.append(raw)
            kept_open = kept_open or "<" in dec
        elif kept_open and ">" in dec:
            out.append(raw)
            kept_open = False
        else:
            out.append(dec)
    return "".join(out)


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


# Terminal control: CSI (ESC [ ... final), OSC / DCS / SOS / PM / APC strings (ended by BEL or ST),
# two- and three-byte ESC sequences, and the 8-bit C1 forms of CSI and the string introducers.
_TERMINAL_SEQ = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?")
# Other C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides and
# isolates that make a line display in another order than it reads.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """Text safe to print to a terminal: control sequences (colours, titles, screen clears) and
    control characters removed; newlines and tabs kept."""
    if text.isprintable():
        return text
    return _CONTROL.sub("", _TERMINAL_SEQ.sub("", text))


_NAME_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def display_name(name: str) -> str:
    """A file name for one-line messages: newlines, tabs and control characters shown escaped
    (``\\n``, ``\\x1b``), so a name cannot break a summary line or drive the terminal."""
    name = str(name)
    if name.isprintable():
        return name
    return "".join(_NAME_ESCAPES.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
                   if unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp") else ch
                   for ch in name)

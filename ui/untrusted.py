"""Names that come from the user's files (paths, folder labels, sources, an upload's name) as
the page shows them and its downloads write them: text, never markup, never a formula.

Streamlit renders captions, messages, tooltips and radio options as Markdown, with emoji
shortcodes, colours (`:red[...]`), icons and LaTeX. A photo named `![](https://host/t.png)`
made every viewer's browser fetch from that host, and `[x](https://...)` became a link.
"""

from __future__ import annotations

import re

# Every ASCII punctuation character may be escaped with a backslash in CommonMark, and escaped
# it is plain text: links, images, emphasis, code, headings, lists, HTML, LaTeX ($), directives.
_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
# Control characters (a newline in a zip entry's name) would start a new Markdown block.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Emoji shortcodes (`:cat:`) and web addresses (`http://`, `www.`, `a@b.org`: GFM's autolinks)
# are found in the text after Markdown is parsed, where escaping does not reach them: a zero-width
# space where they begin keeps them as typed, and not a link.
_SHORTCODE = re.compile(r":(?=[\w+-]+:)")
_ADDRESS = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)", re.IGNORECASE)
# Streamlit rewrites `:material/` in the source itself, before parsing, even inside code.
_ICON = ":material/"
# What a spreadsheet reads as the start of a formula (OWASP's list: a tab or carriage return
# first also lets one through in some programs).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def plain(text: object) -> str:
    """`text` as Markdown that shows exactly it."""
    text = _SHORTCODE.sub(":\u200b", _CONTROL.sub("\ufffd", str(text)))
    return _PUNCTUATION.sub(r"\\\1", _ADDRESS.sub("\u200b", text))


def code(text: object) -> str:
    """`text` as an inline code span: Markdown leaves everything inside one as it is, once the
    fence is longer than any run of backticks in it."""
    text = _CONTROL.sub("\ufffd", str(text)).replace(_ICON, ":\u200bmaterial/")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: a name that would start a formula gets a leading
    apostrophe, which spreadsheets show no more than they do the quotes. Numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value

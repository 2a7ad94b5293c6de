"""Free text (reasons, names, subjects) stored as given, printed escaped.

A reason is evidence: the ledger keeps it byte for byte. A terminal or a page must not obey
it: a newline could forge a status line (``"x\\nkill switch: armed"``), an escape sequence
could clear the screen, a bidi override could reverse what is shown. :func:`printable`
replaces every control and format character (Unicode categories Cc, Cf, Cs, Co, Cn, and the
line and paragraph separators Zl, Zp) with a visible escape; other text, accents and CJK
included, is unchanged.
"""

from __future__ import annotations

import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HIDDEN = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def printable(text: object) -> str:
    """``str(text)`` with control and format characters shown as escapes (one line)."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(_escape(c) if unicodedata.category(c) in _HIDDEN else c for c in s)

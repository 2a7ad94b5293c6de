"""The one HTML renderer: every page alphagate writes (validation report, model card,
data-quality report, evidence index, monitoring report, model inventory) goes through
:func:`render_page` with the one stylesheet ``governance/ground/templates/alphagate.css``.

A page is a document model: a :class:`Page` of :class:`Section` s whose blocks are
paragraphs (``str``), bullet lists (``list`` of ``str``), :class:`Table` s, :class:`Facts`
(a two-column name/value table) and :class:`Figure` s. The Jinja2 template escapes every
value (autoescape), inlines the stylesheet and embeds figures as ``data:`` URIs, so a page
opens offline, loads nothing from the network and runs no script (shared/DESIGN.md: GX's
Data Docs pull CSS from the internet; ours must not). Pages are printable (A4 or Letter:
the print rules in the stylesheet) and never wider than their viewport: wide tables scroll
inside their own box.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = [
    "Cell",
    "Facts",
    "Figure",
    "Page",
    "Section",
    "Table",
    "Tone",
    "page_from_json",
    "page_to_json",
    "render_page",
    "stylesheet",
]

TEMPLATES = Path(__file__).with_name("templates")


class Tone(StrEnum):
    """Colour of a badge or a cell: the stylesheet's classes of the same names."""

    PASS = "pass"
    REVIEW = "review"
    FAIL = "fail"
    HALT = "halt"
    WARNING = "warning"
    CRITICAL = "critical"
    INFO = "info"
    MUTED = "muted"


#: A verdict, decision or status word mapped to its tone (unknown words stay neutral).
TONES = {
    "pass": Tone.PASS, "ok": Tone.PASS, "passed": Tone.PASS, "approved": Tone.PASS,
    "champion": Tone.PASS, "armed": Tone.PASS, "verified": Tone.PASS, "stable": Tone.PASS,
    "review": Tone.REVIEW, "in review": Tone.REVIEW, "candidate": Tone.REVIEW,
    "warning": Tone.WARNING, "warn": Tone.WARNING, "drift": Tone.WARNING,
    "fail": Tone.FAIL, "failed": Tone.FAIL, "rejected": Tone.FAIL, "halt": Tone.HALT,
    "halted": Tone.HALT, "tripped": Tone.HALT, "breach": Tone.HALT, "critical": Tone.CRITICAL,
    "info": Tone.INFO, "retired": Tone.MUTED,
    # the stages of governance/decisions/standing.py
    "in_review": Tone.REVIEW, "awaiting_approval": Tone.REVIEW, "not_validated": Tone.REVIEW,
    "paper": Tone.REVIEW, "superseded": Tone.MUTED,
}  # fmt: skip


def tone_of(word: Any) -> Tone | None:
    """The tone of a status word (``"pass"`` → :attr:`Tone.PASS`), or None."""
    return TONES.get(str(getattr(word, "value", word)).lower())


@dataclass(frozen=True)
class Cell:
    """A table cell with presentation: a tone, monospace code, a link, right alignment."""

    text: Any
    tone: Tone | None = None
    code: bool = False
    href: str | None = None
    number: bool = False


@dataclass(frozen=True)
class Table:
    """Rows under headers. ``numeric`` columns (by index) are right-aligned, tabular."""

    headers: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    numeric: tuple[int, ...] = ()
    caption: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", tuple(self.headers))
        object.__setattr__(self, "rows", tuple(tuple(r) for r in self.rows))
        object.__setattr__(self, "numeric", tuple(self.numeric))


@dataclass(frozen=True)
class Facts:
    """Name/value pairs shown as a two-column table (values may be :class:`Cell` s)."""

    items: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, mapping: Mapping[str, Any]) -> Facts:
        return cls(tuple(mapping.items()))


@dataclass(frozen=True)
class Figure:
    """A PNG figure, embedded in the page as a ``data:`` URI."""

    png: bytes
    caption: str
    href: str | None = None

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


Block = str | list | Table | Facts | Figure


@dataclass(frozen=True)
class Section:
    """A titled run of blocks; ``level`` 2 is a chapter (in the table of contents), 3 a part."""

    title: str
    blocks: tuple[Block, ...] = field(default_factory=tuple)
    level: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(self.blocks))

    @property
    def anchor(self) -> str:
        slug = "".join(c if c.isalnum() else "-" for c in self.title.lower())
        return "-".join(p for p in slug.split("-") if p)


@dataclass(frozen=True)
class Page:
    """One self-contained HTML page.

    Parameters
    ----------
    title : str
        The ``<title>`` and the cover's heading.
    kind : str
        What the document is (``"Independent validation report"``), shown above the title.
    verdict : str, optional
        The one word a reader looks for first (``PASS``, ``HALT``); shown as a badge on the
        cover, coloured by :func:`tone_of`.
    cover : Facts, optional
        The cover's facts (date, model, tier, scope ...), beside the verdict.
    summary : sequence of Block
        The executive summary, directly under the cover.
    sections : sequence of Section
    toc : bool
        Whether to print a table of contents of the level-2 sections.
    footer : str, optional
    banner : str, optional
        A notice above the cover that no reader may miss (a sandbox workspace's:
        :func:`governance.identity.sandbox.banner`).
    """

    title: str
    kind: str = ""
    verdict: str | None = None
    cover: Facts | None = None
    summary: tuple[Block, ...] = ()
    sections: tuple[Section, ...] = ()
    toc: bool = False
    footer: str | None = None
    banner: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", tuple(self.summary))
        object.__setattr__(self, "sections", tuple(self.sections))


# -- documents as JSON: a page stored beside its HTML can be re-rendered later -------------


def _block_json(b: Any) -> Any:
    if isinstance(b, Cell):
        return {"cell": {**b.__dict__, "tone": b.tone and b.tone.value}}
    if isinstance(b, Table):
        return {"table": {"headers": list(b.headers), "numeric": list(b.numeric),
                          "caption": b.caption,
                          "rows": [[_block_json(c) for c in r] for r in b.rows]}}  # fmt: skip
    if isinstance(b, Facts):
        return {"facts": [[k, _block_json(v)] for k, v in b.items]}
    if isinstance(b, Figure):
        return {"figure": {"png": base64.b64encode(b.png).decode("ascii"),
                           "caption": b.caption, "href": b.href}}  # fmt: skip
    if isinstance(b, list | tuple):
        return [_block_json(x) for x in b]
    return b


def _block(j: Any) -> Any:
    if isinstance(j, list):
        return [_block(x) for x in j]
    if not isinstance(j, dict):
        return j
    if "cell" in j:
        c = dict(j["cell"])
        return Cell(**{**c, "tone": Tone(c["tone"]) if c.get("tone") else None})
    if "table" in j:
        t = j["table"]
        rows = tuple(tuple(_block(c) for c in r) for r in t["rows"])
        return Table(tuple(t["headers"]), rows, tuple(t["numeric"]), t.get("caption"))
    if "facts" in j:
        return Facts(tuple((k, _block(v)) for k, v in j["facts"]))
    if "figure" in j:
        f = j["figure"]
        return Figure(base64.b64decode(f["png"]), f["caption"], f.get("href"))
    return j


def page_to_json(page: Page) -> dict:
    """The page as plain JSON (:func:`page_from_json` gives it back)."""
    return {
        "title": page.title,
        "kind": page.kind,
        "verdict": page.verdict,
        "cover": _block_json(page.cover) if page.cover else None,
        "summary": [_block_json(b) for b in page.summary],
        "sections": [
            {"title": s.title, "level": s.level, "blocks": [_block_json(b) for b in s.blocks]}
            for s in page.sections
        ],
        "toc": page.toc,
        "footer": page.footer,
        "banner": page.banner,
    }


def page_from_json(doc: Mapping[str, Any]) -> Page:
    """The :class:`Page` that :func:`page_to_json` wrote."""
    return Page(
        title=doc["title"],
        kind=doc.get("kind", ""),
        verdict=doc.get("verdict"),
        cover=_block(doc["cover"]) if doc.get("cover") else None,
        summary=tuple(_block(b) for b in doc.get("summary", [])),
        sections=tuple(
            Section(s["title"], tuple(_block(b) for b in s["blocks"]), s.get("level", 2))
            for s in doc.get("sections", [])
        ),
        toc=bool(doc.get("toc")),
        footer=doc.get("footer"),
        banner=doc.get("banner"),
    )


@functools.cache
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value is text: no caller can inject markup
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.tests.update(
        table=lambda b: isinstance(b, Table),
        facts=lambda b: isinstance(b, Facts),
        figure=lambda b: isinstance(b, Figure),
        cell=lambda b: isinstance(b, Cell),
        bullets=lambda b: isinstance(b, list | tuple),
    )
    env.filters["tone"] = lambda w: (tone_of(w) or "").__str__()
    return env


@functools.cache
def stylesheet() -> str:
    """The one stylesheet, inlined into every page."""
    return (TEMPLATES / "alphagate.css").read_text(encoding="utf-8")


def render_page(page: Page) -> str:
    """The page as one self-contained HTML document (UTF-8 text)."""
    return _environment().get_template("page.html").render(page=page, css=stylesheet())


def cells(values: Sequence[Any], **presentation: Any) -> tuple[Cell, ...]:
    """Each value as a :class:`Cell` with the same presentation (e.g. ``code=True``)."""
    return tuple(Cell(v, **presentation) for v in values)


# -- numbers as people read them ----------------------------------------------------------
# One precision per kind of quantity, so every page prints the same number the same way.


def _finite(v: Any) -> bool:
    return (
        isinstance(v, int | float) and not isinstance(v, bool) and v == v and abs(v) != float("inf")
    )


def count(v: Any) -> str:
    """An integer count with thousands separators (``12,345``); ``–`` when missing."""
    return f"{int(v):,}" if _finite(v) else "–"


def decimal(v: Any, digits: int = 3, signed: bool = False) -> str:
    """A plain number at fixed precision (``0.052``, ``+0.052`` when ``signed``)."""
    if not _finite(v):
        return "–"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def percent(v: Any, digits: int = 1, signed: bool = False) -> str:
    """A fraction as a percentage (``0.123`` → ``12.3 %``)."""
    if not _finite(v):
        return "–"
    return (f"{100 * v:+.{digits}f}" if signed else f"{100 * v:.{digits}f}") + " %"


def pvalue(v: Any) -> str:
    """A p-value: ``< 0.001`` below a thousandth, else three decimals."""
    if not _finite(v):
        return "–"
    return "< 0.001" if v < 0.001 else f"{v:.3f}"

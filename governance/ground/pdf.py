"""A page of the one renderer (governance/ground/html.py) as PDF, by WeasyPrint.

WeasyPrint is a maintained HTML/CSS-to-PDF engine on PyPI (the optional extra
``alphagate[pdf]``); its only system libraries are Pango and HarfBuzz, which Debian ships.
It prints with the stylesheet's ``@media print`` rules, A4 or Letter. Like the page in a
browser, it loads nothing from the network: its URL fetcher allows ``data:`` URIs only (the
inlined figures), and any other resource is an error, not a silent fetch.
"""

from __future__ import annotations

from governance.ground.errors import InputError

__all__ = ["render_pdf"]


def render_pdf(html: str, what: str = "--pdf") -> bytes:
    """The PDF of a self-contained page ``html``.

    Raises
    ------
    InputError
        WeasyPrint is not installed (exit 2, naming the extra that installs it).
    """
    try:
        import weasyprint
        from weasyprint.urls import URLFetcher
    except (ImportError, OSError):  # not installed, or Pango missing (OSError)
        raise InputError(
            f"{what}: PDF needs WeasyPrint: pip install 'alphagate[pdf]' (the HTML is complete)"
        ) from None
    offline = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    return weasyprint.HTML(string=html, url_fetcher=offline).write_pdf()

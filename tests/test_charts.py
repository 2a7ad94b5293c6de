"""The one way charts are saved (governance/ground/charts.py): same figure, same bytes; a
laid-out figure keeps its size; any other is cropped to what it draws, labels included."""

from __future__ import annotations

import io

from PIL import Image

from governance.ground.charts import DPI, percent_axis, png, pyplot


def _bars(layout: str | None, label: str = "a label"):
    fig, axes = pyplot().subplots(1, 2, figsize=(6, 2), layout=layout)
    for ax in axes:
        ax.barh([label, "b"], [0.3, 0.1])
        ax.set_title("panel")
    fig.suptitle("title")
    return fig


def _size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def test_the_same_figure_gives_the_same_bytes_without_metadata():
    one, two = png(_bars(None)), png(_bars("constrained"))
    assert png(_bars(None)) == one and png(_bars("constrained")) == two
    assert b"Software" not in one and b"Software" not in two
    assert not pyplot().get_fignums()  # png closes what it saved


def test_a_laid_out_figure_is_saved_at_its_size():
    assert _size(png(_bars("constrained", "a much longer label"))) == (6 * DPI, 2 * DPI)


def test_other_figures_are_cropped_to_their_labels():
    short = _size(png(_bars(None)))
    long = _size(png(_bars(None, "a label far longer than the left margin of the axes")))
    assert long[0] > short[0] and long[1] == short[1]  # the long label grew the image


def test_a_percent_axis_says_the_ticks_it_has():
    """Ticks 2.5 % apart read 2.5 %, 5.0 %, 7.5 %: not the rounded "2%, 5%, 8%" the risk
    charts printed with a fixed whole-percent format."""
    fig, ax = pyplot().subplots()
    ax.barh(["a", "b"], [0.0, 0.1])
    ax.set_xticks([0.0, 0.025, 0.05, 0.075, 0.1])
    percent_axis(ax, "x", decimals=None)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    pyplot().close(fig)
    assert labels == ["0.0%", "2.5%", "5.0%", "7.5%", "10.0%"]

"""Look and output of every chart: palette, matplotlib settings, and writing a figure to disk.

No pyplot: figures are plain `matplotlib.figure.Figure` objects rendered by the Agg/SVG
canvases, and settings apply inside `rc_context` only, so drawing a chart never changes
matplotlib's global state (or the backend) of the program that asked for it.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CATEGORY_COLORS",
    "FORMATS",
    "MISSING_COLOR",
    "OKABE_ITO",
    "add_note",
    "chart_style",
    "color_for",
    "figure_svg",
    "new_figure",
    "percent_axis",
    "safe_text",
    "save_figure",
]

# Okabe & Ito (2008), distinguishable under the common colour-vision deficiencies; black last.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",
)
CATEGORY_COLORS: dict[str, str] = {
    "stem": OKABE_ITO[0],
    "humanities": OKABE_ITO[1],
    "social_sciences": OKABE_ITO[2],
    "other": OKABE_ITO[3],
}
MISSING_COLOR = "#DDDDDD"
FORMATS = ("png", "svg")
_NOTE_CHARS_PER_INCH = 15  # 8 pt DejaVu Sans averages about 4.8 pt a character

_RC: dict[str, Any] = {
    "svg.fonttype": "none",  # text stays <text>, searchable and selectable
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.axisbelow": True,
    "text.usetex": False,
    "savefig.dpi": 150,
}


@contextmanager
def chart_style(salt: str) -> Iterator[None]:
    """Apply the house style for the duration of one chart.

    `salt` seeds the SVG element ids, so several charts inlined in one HTML page do not
    share ids and the same chart renders to the same bytes.
    """
    import matplotlib
    from cycler import cycler

    settings = {**_RC, "axes.prop_cycle": cycler(color=OKABE_ITO), "svg.hashsalt": salt}
    with matplotlib.rc_context(cast(Any, settings)):
        yield


def color_for(index: int) -> str:
    return OKABE_ITO[index % len(OKABE_ITO)]


def safe_text(text: object) -> str:
    """A label matplotlib prints literally: `$` would otherwise start mathtext."""
    return str(text).replace("$", r"\$")


def new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def percent_axis(axis: Any) -> None:
    """Show a 0..1 axis as percentages."""
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))


def add_note(figure: Figure, lines: list[str]) -> None:
    """Say under the plot what was left out and why, so a gap is never silent.

    Written as the figure's bottom label, for which the constrained layout leaves room.
    """
    if not lines:
        return
    width = max(40, int(figure.get_figwidth() * _NOTE_CHARS_PER_INCH))
    wrapped = [part for line in lines for part in textwrap.wrap(safe_text(line), width)]
    figure.supxlabel(
        "\n".join(wrapped), x=0.01, ha="left", fontsize=8, color="#555555", multialignment="left"
    )


def save_figure(figure: Figure, path: Path, fmt: str) -> str:
    """Write the figure as PNG or SVG (no timestamp metadata, so reruns give equal files)."""
    if fmt not in FORMATS:
        raise ValueError(f"chart format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {"Software": None}
    figure.savefig(path, format=fmt, metadata=metadata)
    return str(path)


def figure_svg(figure: Figure) -> str:
    """The figure as an `<svg>` element for inlining in HTML (XML prolog and doctype removed)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]

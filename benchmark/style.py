"""One paper style for every figure: sizes that drop into a two-column paper at 100 %, fonts readable at
that size, colour-blind-safe colours, and files that are byte-stable so regenerated figures only change
when the results do.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from .results import write_atomic  # noqa: E402

logging.getLogger("fontTools").setLevel(logging.WARNING)  # it logs every glyph it embeds in a PDF at INFO

COLUMN_WIDTH = 3.5  # inches: one column (IEEE 3.5 in, CVPR 3.25 in)
FULL_WIDTH = 7.0  # inches: the text width of a two-column paper (IEEE 7.16 in, CVPR 6.875 in)
FORMATS = ("pdf", "png", "svg")
PALETTE = sns.color_palette("colorblind")  # Okabe–Ito-like: tells apart under the common colour-vision deficiencies
# A second cue, so lines also differ in greyscale; 9 markers against 10 colours repeat a pair only after 90.
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "<", ">")
SEQUENTIAL = "cividis"  # perceptually uniform and colour-blind safe, also in greyscale
RC = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
    "legend.fontsize": 7, "legend.title_fontsize": 7, "figure.titlesize": 9,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
    "grid.linewidth": 0.5, "lines.linewidth": 1.2, "lines.markersize": 4, "errorbar.capsize": 2,
    "savefig.dpi": 300, "savefig.bbox": "tight", "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42,  # embedded TrueType text, as publishers require (no Type 3 fonts)
    "svg.fonttype": "none",  # text stays text in SVG, editable
    "svg.hashsalt": "dfcl-bench",  # stable element ids
}
METADATA = {"pdf": {"CreationDate": None}, "svg": {"Date": None}, "png": {}}  # no timestamps: reproducible bytes


def colour(index: int):
    return PALETTE[index % len(PALETTE)]


def marker(index: int) -> str:
    return MARKERS[index % len(MARKERS)]


HATCHES = (None, "////", "....", "xxxx")


def hatch(index: int) -> str | None:
    """Bars have no marker: the second, third … round of the palette is told apart by a hatch pattern."""
    return HATCHES[(index // len(PALETTE)) % len(HATCHES)]


@contextlib.contextmanager
def paper():
    """Matplotlib settings of the paper style, for the figures made inside the block."""
    with sns.axes_style("ticks"), plt.rc_context(RC):
        yield


def save(figure: plt.Figure, stem: Path, formats=FORMATS) -> list[Path]:
    """Write ``stem.pdf``, ``stem.png``, ``stem.svg`` (each atomically: a kill never leaves a truncated
    figure) and close the figure."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    figure.canvas.draw()  # settle the layout once, so that every format gets the same geometry
    figure.set_layout_engine("none")
    with paper():  # the savefig settings (dpi, tight box, font embedding) are read when saving
        for fmt in formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            buffer = io.BytesIO()
            figure.savefig(buffer, format=fmt, metadata=METADATA[fmt])
            write_atomic(path, buffer.getvalue())
            paths.append(path)
    plt.close(figure)
    return paths

"""Plain-text renderers shared by every table: numbers, Markdown and LaTeX.

A table is a header row plus body rows of cells; a cell is a string or a :class:`Cell` carrying an
emphasis (``"bold"`` = best, ``"underline"`` = second best) that each format writes its own way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MISSING = "–"  # printed for a missing run, loss, fold or file (en dash)


@dataclass(frozen=True)
class Cell:
    text: str
    emphasis: str | None = None  # None, "bold" or "underline"


def fmt(value: float | None, decimals: int) -> str:
    """``value`` with ``decimals`` decimals; None/NaN print as the missing mark."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{value:.{decimals}f}"


def fmt_mean_std(mean: float | None, std: float | None, decimals: int) -> str:
    """``"0.765±0.004"``; a single run (std NaN) prints the mean alone."""
    if mean is None or math.isnan(mean):
        return MISSING
    if std is None or math.isnan(std):
        return fmt(mean, decimals)
    return f"{fmt(mean, decimals)}±{fmt(std, decimals)}"


def _text(cell) -> tuple[str, str | None]:
    return (cell.text, cell.emphasis) if isinstance(cell, Cell) else (str(cell), None)


def markdown_table(header: list[str], rows: list[list]) -> str:
    """GitHub Markdown; best in ``**bold**``, second in ``<u>underline</u>``."""

    def md(cell) -> str:
        text, emphasis = _text(cell)
        text = text.replace("|", "\\|")
        if emphasis == "bold":
            return f"**{text}**"
        if emphasis == "underline":
            return f"<u>{text}</u>"
        return text

    lines = ["| " + " | ".join(md(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$"}


def tex_escape(text: str) -> str:
    text = "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)
    return text.replace("±", r"$\pm$").replace(MISSING, "--").replace("Δ", r"$\Delta$")


def latex_table(header: list[str], rows: list[list], caption: str, label: str) -> str:
    """A booktabs ``table`` environment; best in ``\\textbf``, second in ``\\underline``."""

    def tex(cell) -> str:
        text, emphasis = _text(cell)
        text = tex_escape(text)
        if emphasis == "bold":
            return rf"\textbf{{{text}}}"
        if emphasis == "underline":
            return rf"\underline{{{text}}}"
        return text

    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{tex_escape(caption)}}}",
        rf"\label{{{label}}}",
        r"\begin{tabular}{l" + "c" * (len(header) - 1) + "}",
        r"\toprule",
        " & ".join(tex(h) for h in header) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(tex(c) for c in row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"

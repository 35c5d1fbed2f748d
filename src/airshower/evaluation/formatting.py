"""Table cells, one definition for every table of the study (the front page, the targets' tables,
the systematics): CSV cells with every digit a reader needs, Markdown values ± their uncertainty
rounded to its two significant digits, counts, and a Markdown table from a header and rows."""

from __future__ import annotations

import math
from collections.abc import Sequence

DASH = "–"  # shown where a quantity does not apply (the baseline has no training)


def csv_cell(value) -> str:
    """Empty for None, 6 significant digits for a float, a list (of seeds) space-separated."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return value


def decimals(x: float, err: float | None) -> int:
    """Decimals that show ``err`` with two significant digits (at least one, at most six)."""
    scale = abs(err) if err else abs(x)
    if not scale:
        return 2
    return int(min(6, max(1, 1 - math.floor(math.log10(scale)))))


def plus_minus(value: float | None, spread: float | None, scale: float = 1.0) -> str:
    """``value ± spread`` (times ``scale``) rounded to the spread; the value alone without one."""
    if value is None:
        return DASH
    v = value * scale
    if spread is None:
        d = decimals(v, None) + 1
        return f"{round(v, d) + 0.0:.{d}f}"
    s = spread * scale
    d = decimals(v, s)
    return f"{round(v, d) + 0.0:.{d}f} ± {s:.{d}f}"  # + 0.0: a value that rounds to zero prints 0, not -0


def count(value: float | None, fmt: str = ",.0f") -> str:
    """A count or a rate (thousands separated, no decimals), :data:`DASH` for None."""
    return DASH if value is None else format(value, fmt)


def epochs(value: float | None) -> str:
    """Epochs run: an integer, or one decimal for a mean over seeds."""
    return count(value, ".0f" if value is None or float(value).is_integer() else ".1f")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table: the first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"

"""How wide a line of text is: the layout places every label itself, so it needs the size.

Widths are Helvetica's (the Adobe font metrics, in thousandths of the font size) for ASCII,
and a generous 0.62 for other characters (‖ ∂ × …). Renderers substitute a similar sans-serif
(DejaVu Sans is about 10% wider), so boxes get ``SLACK`` on top.
"""

from __future__ import annotations

_ASCII = (
    "278 278 355 556 556 889 667 191 333 333 389 584 278 333 278 278 556 556 556 556 556 556 556 556 556 556 "
    "278 278 584 584 584 556 1015 667 667 722 722 667 611 778 722 278 500 667 556 833 722 778 667 778 722 667 "
    "611 722 667 944 667 667 611 278 278 278 469 556 333 556 556 500 556 556 278 556 556 222 222 500 222 833 "
    "556 556 556 556 333 500 278 556 500 722 500 500 500 334 260 334 584"
)
_WIDTH = {chr(32 + i): int(w) / 1000 for i, w in enumerate(_ASCII.split())}
_OTHER = {"‖": 0.42, "∂": 0.56, "×": 0.584, "…": 1.0, "⋯": 1.0, "−": 0.584, "•": 0.35, "≥": 0.584, "–": 0.556}
SLACK = 1.14
LINE = 1.22  # line height, in font sizes


def width(line: str, size: float) -> float:
    """Width in points of one line at font ``size``, with the renderers' slack."""
    return SLACK * size * sum(_WIDTH.get(c) or _OTHER.get(c, 0.62) for c in line)


def box(lines: list[str], size: float) -> tuple[float, float]:
    """(width, height) in points of a block of lines."""
    return max((width(s, size) for s in lines), default=0.0), LINE * size * max(1, len(lines))

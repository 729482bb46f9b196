"""The colour scale of gradient norms: decade bins on a sequential palette.

Bins are whole decades [10^k, 10^(k+1)), the top one holding the largest norm drawn; at most
``DECADES`` of them, so two drawn gradients a factor of 10 apart always get different colours,
whatever else the recording holds. Below the lowest decade one "smaller" bin; exact zero, "no
gradient" (nothing flowed back) and inf/NaN each have a colour of their own. ``vmin`` / ``vmax``
fix the range, so that several diagrams share one scale.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

from tinygrad_rnn.errors import VizError

#: sequential, light (small) to dark (large): ColorBrewer YlOrRd without its palest tints,
#: which a thin line on white would hide
PALETTE = ("#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026", "#4a0016")
DECADES = len(PALETTE)
SMALLER = "#c6dbef"  # below the scale's lowest decade (pale blue: outside the palette's hues)
ZERO = "#ffffff"  # exactly zero (drawn with a dark outline)
NO_GRADIENT = "#e6e6e6"
NON_FINITE = "#6a3d9a"  # inf or NaN
_DARK = frozenset({"#fc4e2a", "#e31a1c", "#bd0026", "#800026", "#4a0016", NON_FINITE})


@dataclass(frozen=True)
class Scale:
    """Decade bins from 10^low to 10^high (``high - low`` of them, at most ``DECADES``)."""

    low: int
    high: int
    fixed: bool = False  # the user chose the range

    def colour(self, norm: float | None) -> str:
        """The fill of a node or line whose gradient norm is ``norm``."""
        if norm is None:
            return NO_GRADIENT
        if not math.isfinite(norm):
            return NON_FINITE
        if norm == 0.0:
            return ZERO
        k = math.floor(math.log10(norm))
        if k < self.low:
            return SMALLER
        # the top decade is always the darkest colour; lower ones step towards the light end, two
        # palette steps apart while the range is short (so neighbours differ clearly)
        n, below_top = self.high - self.low, self.high - 1 - min(k, self.high - 1)
        spacing = min(2.0, (DECADES - 1) / (n - 1)) if n > 1 else 0.0
        return PALETTE[DECADES - 1 - round(below_top * spacing)]

    def entries(self, present: Iterable[str] = ()) -> list[tuple[str, str]]:
        """The legend, top (large) to bottom: (colour, text). Zero, no gradient and inf/NaN are
        listed when ``present`` holds their colour; "smaller" always (it says where the scale ends)."""
        present = set(present)
        rows = []
        if NON_FINITE in present:
            rows.append((NON_FINITE, "inf or NaN"))
        for k in range(self.high - 1, self.low - 1, -1):
            above = self.fixed and k == self.high - 1  # a fixed scale's top bin also holds what lies above it
            rows.append((self.colour(10.0**k), f"≥ {_power(k)}" if above else f"{_power(k)} – {_power(k + 1)}"))
        rows.append((SMALLER, f"< {_power(self.low)}"))
        if ZERO in present:
            rows.append((ZERO, "exactly 0"))
        if NO_GRADIENT in present:
            rows.append((NO_GRADIENT, "no gradient"))
        return rows

    def caption(self) -> str:
        return "scale fixed by vmin/vmax" if self.fixed else "scale: the drawn gradients"


def _power(k: int) -> str:
    return f"1e{k:+03d}" if k else "1"


def text_colour(fill: str) -> str:
    return "white" if fill in _DARK else "black"


def make_scale(norms: Iterable[float | None], vmin: float | None = None, vmax: float | None = None) -> Scale:
    """The scale for the drawn ``norms``: the decade of the largest finite one at the top and at
    most ``DECADES`` decades below it, or the decades that ``vmin`` and ``vmax`` cover."""
    for name, v in (("vmin", vmin), ("vmax", vmax)):
        number = isinstance(v, numbers.Real) and not isinstance(v, bool)
        if v is not None and not (number and math.isfinite(v) and v > 0):
            raise VizError(f"viz.draw: {name} must be a positive finite number (a gradient norm), got {v!r}")
    if vmin is not None and vmax is not None and vmin >= vmax:
        raise VizError(f"viz.draw: vmin must be below vmax, got vmin={vmin!r}, vmax={vmax!r}")
    positive = [v for v in norms if v is not None and math.isfinite(v) and v > 0]
    if vmax is not None:
        high = math.floor(math.log10(vmax)) + (0 if math.log10(vmax).is_integer() else 1)
    else:
        high = math.floor(math.log10(max(positive))) + 1 if positive else 1
    if vmin is not None:
        low = math.floor(math.log10(vmin))
        if high - low > DECADES:
            raise VizError(
                f"viz.draw: vmin={vmin!r} and vmax={vmax!r} span {high - low} decades; the scale shows at most "
                f"{DECADES} (one colour each): raise vmin"
            )
        return Scale(low, max(high, low + 1), fixed=True)
    if not positive and vmin is None:  # nothing to colour on the scale: one decade, said plainly
        return Scale(high - 1, high, fixed=vmax is not None)
    low = high - DECADES
    if positive and vmax is None:
        low = max(low, math.floor(math.log10(min(positive))))  # no colours for decades nothing falls in
    return Scale(min(low, high - 1), high, fixed=vmax is not None)

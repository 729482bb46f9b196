"""Write diagrams to files, the format taken from the extension (``engines.py`` runs Graphviz)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import graphviz

from tinygrad_rnn import Tensor
from tinygrad_rnn.errors import VizError

from .draw import draw
from .engines import FORMATS, render_source


def render(
    target: Tensor | Sequence[Tensor] | graphviz.Digraph,
    path: str | os.PathLike,
    *,
    backend: str = "auto",
    **draw_options: Any,
) -> Path:
    """Write ``target`` (a Digraph from ``draw``, or tensors to draw with ``draw_options``) to
    ``path``; the format comes from the extension: .svg, .png, .pdf, or .dot/.gv for the source."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise VizError(f"viz.render: cannot tell the format of {path.name!r}; use one of .{', .'.join(FORMATS)}")
    digraph = target if isinstance(target, graphviz.Digraph) else draw(target, **draw_options)
    return write_file(path, render_source(digraph.source, fmt, backend), "viz.render")


def write_file(path: Path, data: bytes | str, who: str) -> Path:
    """Write ``data`` to ``path``, creating its directory; a failure is a VizError naming ``who``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
    except OSError as e:
        raise VizError(f"{who}: cannot write {path}: {e.strerror}") from None
    return path

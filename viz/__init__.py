"""viz: diagrams of recorded tinygrad_rnn graphs.

``draw(loss, view="forward" | "backward" | "rolled")`` returns a ``graphviz.Digraph``;
``render(loss_or_digraph, "path.svg")`` writes it (format from the extension). The graph is
only read, never changed.
"""

from .draw import VIEWS, Diagram, VizError, draw
from .graph import Description, Edge, Node, describe
from .render import has_dot, render, render_source, to_svg

__all__ = [
    "VIEWS",
    "Description",
    "Diagram",
    "Edge",
    "Node",
    "VizError",
    "describe",
    "draw",
    "has_dot",
    "render",
    "render_source",
    "to_svg",
]

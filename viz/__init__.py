"""viz: diagrams of recorded tinygrad_rnn graphs.

``draw(loss, view="forward" | "backward" | "rolled")`` returns a ``graphviz.Digraph``;
``render(loss_or_digraph, "path.svg")`` writes it (format from the extension);
``animate(loss, "bptt.html")`` steps through the backward pass node by node;
``plot_gradient_norms(loss, "grad_norms.svg")`` plots ‖∂L/∂h(t)‖ against t. The graph is only
read, never changed.
"""

from .animate import animate, backward_order
from .draw import VIEWS, Diagram, VizError, draw
from .graph import Description, Edge, Node, describe
from .plot import gradient_norms, plot_gradient_norms
from .render import has_dot, render, render_source, to_svg

__all__ = [
    "VIEWS",
    "Description",
    "Diagram",
    "Edge",
    "Node",
    "VizError",
    "animate",
    "backward_order",
    "describe",
    "draw",
    "gradient_norms",
    "has_dot",
    "plot_gradient_norms",
    "render",
    "render_source",
    "to_svg",
]

"""viz: diagrams of recorded tinygrad_rnn graphs.

``draw(loss, view="forward" | "backward" | "rolled" | "both")`` returns a ``graphviz.Digraph``;
``render(loss_or_digraph, "path.svg")`` writes it (format from the extension);
``animate(loss, "bptt.html")`` steps through the backward pass node by node;
``plot_gradient_norms(loss, "grad_norms.svg")`` plots ‖∂L/∂h(t)‖ against t;
``plot_ledger(analysis.ledger(loss, W), "ledger.svg")`` shows which loss term sends how much
gradient to W through which step. The graph is only
read, never changed.

Reading order: ``graph.py`` (the recording as plain data), ``layout.py`` (where each mark
goes; ``text.py`` says how wide a label is), ``scale.py`` (the colours), ``draw.py`` (Graphviz
DOT), ``engines.py`` / ``render.py`` (files), then ``animate.py``, ``plot.py`` and ``ledger.py``. The one error
type, ``VizError``, lives with the library's other exceptions in ``tinygrad_rnn.errors``.
"""

from tinygrad_rnn.errors import VizError

from .animate import animate, backward_order
from .draw import STYLES, VIEWS, Diagram, draw
from .engines import has_dot, render_source, to_svg
from .graph import Description, Edge, Node, Role, describe
from .ledger import plot_ledger
from .plot import gradient_norms, plot_curves, plot_gradient_norms, plot_jacobian_norms
from .render import render

__all__ = [
    "STYLES",
    "VIEWS",
    "Description",
    "Diagram",
    "Edge",
    "Node",
    "Role",
    "VizError",
    "plot_ledger",
    "animate",
    "backward_order",
    "describe",
    "draw",
    "gradient_norms",
    "has_dot",
    "plot_curves",
    "plot_gradient_norms",
    "plot_jacobian_norms",
    "render",
    "render_source",
    "to_svg",
]

"""The one error type of ``viz``: a diagram, animation or plot that cannot be made as asked."""

from tinygrad_rnn.errors import TinygradRNNError


class VizError(TinygradRNNError, ValueError):
    """A diagram that cannot be drawn as asked (too large, unknown view or option, no gradients
    yet, unwritable file); the message names the function and the fix."""

"""Ops a user might write (tinygrad_rnn.Function), right and deliberately wrong, shared by the
tests of Function, gradcheck and the strategies."""

from __future__ import annotations

import numpy as np

from tinygrad_rnn import Function


class Cube(Function):
    """y = x^3;  dL/dx = 3 x^2 g."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x**2 * g


class WrongCube(Cube):
    """Cube's rule scaled by 1 + 1e-6: one part in a million off."""

    @staticmethod
    def backward(ctx, g):
        return Cube.backward(ctx, g) * (1 + 1e-6)


class Hypot(Function):
    """y = sqrt(a^2 + b^2), two broadcasting inputs;  dL/da = g a / y, dL/db = g b / y."""

    @staticmethod
    def forward(ctx, a, b):
        y = np.hypot(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        return g * a / y, g * b / y


class SlightlyWrongHypot(Hypot):
    """Hypot's rule with dL/db 1e-5 too large."""

    @staticmethod
    def backward(ctx, g):
        ga, gb = Hypot.backward(ctx, g)
        return ga, gb * (1 + 1e-5)

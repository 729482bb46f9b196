"""Seeds: one place that turns a user's ``seed=`` into a numpy Generator, or says why not."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError

Seed = int | np.random.Generator | None


def make_rng(seed: Any, who: str) -> np.random.Generator:
    """``seed`` itself if it is a Generator, else ``np.random.default_rng(seed)``: None (fresh
    entropy), a non-negative int, or a sequence of them. Anything else is a ConfigError naming
    ``who``, where numpy would only say "expected non-negative integer"."""
    if isinstance(seed, np.random.Generator):
        return seed
    if not isinstance(seed, (bool, np.bool_)):  # numpy takes True for 1; a flag is never meant as a seed
        try:
            return np.random.default_rng(seed)
        except (TypeError, ValueError):
            pass
    raise ConfigError(f"{who}: seed must be a non-negative integer or a numpy Generator, got {seed!r}")

"""Seeded synthetic sequence tasks for recurrent nets, time-major: inputs (T, B, features)."""

from __future__ import annotations

import operator

import numpy as np

from ..errors import DataError
from ..seeding import Seed, make_rng


def _check_counts(task: str, **counts: int) -> None:
    for name, value in counts.items():
        try:
            ok = operator.index(value) >= 1
        except TypeError:
            ok = False
        if not ok:
            raise DataError(f"{task}: {name} must be a positive integer, got {value!r}")


def adding_problem(n: int, T: int, seed: Seed = 0) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015): add two marked numbers.

    Each sequence has two input channels: a value drawn uniformly from [0, 1] and a marker
    that is 1 at exactly two steps, one in the first half (t < T // 2) and one in the second
    half, and 0 elsewhere. The target is the sum of the two marked values. Predicting 1 always
    gives a mean squared error of Var(U1 + U2) = 2/12 = 1/6 ~ 0.167, the baseline to beat.

    Parameters
    ----------
    n : int
        Number of sequences (batch size B).
    T : int
        Sequence length, at least 2.
    seed : int or np.random.Generator or None

    Returns
    -------
    inputs : np.ndarray
        float32, shape (T, n, 2): channel 0 the values, channel 1 the markers.
    targets : np.ndarray
        float32, shape (n, 1).
    """
    _check_counts("adding_problem", n=n, T=T)
    if T < 2:
        raise DataError(f"adding_problem: T must be at least 2 to hold one marker in each half, got {T}")
    rng = make_rng(seed, "adding_problem")
    values = rng.uniform(0.0, 1.0, size=(T, n)).astype(np.float32)
    half, batch = T // 2, np.arange(n)
    first, second = rng.integers(0, half, size=n), rng.integers(half, T, size=n)
    markers = np.zeros((T, n), dtype=np.float32)
    markers[first, batch] = 1.0
    markers[second, batch] = 1.0
    targets = (values[first, batch] + values[second, batch])[:, None]
    return np.stack([values, markers], axis=-1), targets


def sine_series(
    n: int, T: int, seed: Seed = 0, *, freq_range: tuple[float, float] = (1 / 32, 1 / 8)
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free sine waves to predict one step ahead: x(t) = sin(2 pi f t + phi).

    Each sequence draws its frequency f uniformly from ``freq_range`` (cycles per step; the
    default gives periods of 8 to 32 steps) and its phase phi uniformly from [0, 2 pi).

    Returns
    -------
    inputs : np.ndarray
        float32, shape (T, n, 1), x(0) ... x(T-1).
    targets : np.ndarray
        float32, shape (T, n, 1), the next values x(1) ... x(T): ``targets[t] == inputs[t + 1]``.
    """
    _check_counts("sine_series", n=n, T=T)
    low, high = freq_range
    if not 0 < low <= high <= 0.5:
        raise DataError(
            f"sine_series: freq_range must satisfy 0 < low <= high <= 0.5 cycles per step, got {freq_range}"
        )
    rng = make_rng(seed, "sine_series")
    freq = rng.uniform(low, high, size=n)
    phase = rng.uniform(0.0, 2 * np.pi, size=n)
    t = np.arange(T + 1)[:, None]
    wave = np.sin(2 * np.pi * freq * t + phase).astype(np.float32)[:, :, None]
    return wave[:-1], wave[1:]


def copy_task(
    n: int, T_pattern: int = 10, n_symbols: int = 8, delay: int = 10, seed: Seed = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The copy-memory task (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016): recall a pattern after a delay.

    Symbol codes: 0 is blank, 1 ... ``n_symbols`` are data symbols, ``n_symbols + 1`` is the
    delimiter. A sequence lasts ``T_total = 2 * T_pattern + delay`` steps:

    - input: ``T_pattern`` random data symbols, then ``delay`` steps of blank whose last one is
      the delimiter ("now repeat"), then ``T_pattern`` blanks;
    - target: blank for the first ``T_pattern + delay`` steps, then the pattern again.

    A net that remembers nothing and guesses a uniform data symbol after the delimiter scores
    a cross-entropy of ``T_pattern * log(n_symbols) / T_total`` per step, the baseline to beat.

    Returns
    -------
    inputs : np.ndarray
        float32, shape (T_total, n, n_symbols + 2), one-hot codes (blank is channel 0).
    targets : np.ndarray
        int64, shape (T_total, n), codes 0 ... n_symbols.
    """
    _check_counts("copy_task", n=n, T_pattern=T_pattern, n_symbols=n_symbols, delay=delay)
    rng = make_rng(seed, "copy_task")
    T_total = 2 * T_pattern + delay
    pattern = rng.integers(1, n_symbols + 1, size=(T_pattern, n))
    codes = np.zeros((T_total, n), dtype=np.int64)
    codes[:T_pattern] = pattern
    codes[T_pattern + delay - 1] = n_symbols + 1
    targets = np.zeros((T_total, n), dtype=np.int64)
    targets[T_pattern + delay :] = pattern
    return np.eye(n_symbols + 2, dtype=np.float32)[codes], targets

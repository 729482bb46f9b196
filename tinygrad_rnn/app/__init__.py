"""The application layer: programs built on the library, which the library never imports.

- ``cli``: the ``tinygrad-rnn`` command (``train`` and ``render``).
- ``row_mnist``: the row-sequence classifier that ``tinygrad-rnn train`` and ``examples/demo.py``
  train: its settings, data, model and loss, run by the library's loop (``training.fit``).
"""

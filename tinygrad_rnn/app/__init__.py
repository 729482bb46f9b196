"""The application layer: programs built on the library, which the library never imports.

- ``cli``: the ``tinygrad-rnn`` command (``train`` and ``render``).
- ``training``: the loop the command, the demo and the examples share (``fit``: batches,
  progress, metrics, checkpoints, resume, Ctrl-C and SIGTERM).
- ``row_mnist``: the row-sequence classifier that ``tinygrad-rnn train`` and ``examples/demo.py``
  train: its settings, data, model and loss, run by ``training.fit``.
"""

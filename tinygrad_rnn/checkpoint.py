"""Checkpoints that survive crashes: written to a temporary file, then renamed over the old one.

A checkpoint is one ``.npz`` file (no pickle): the model's parameters under ``model/NAME``,
the optimizer's per-parameter arrays under ``optimizer/STATE/INDEX``, and a JSON document under
``meta`` with everything else (optimizer class, hyperparameters and step counts, training
progress). It is written with ``files.atomic_write``, so a crash mid-write leaves the last good file.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any

import numpy as np

from .errors import CheckpointError
from .files import atomic_write, to_json

FORMAT = "tinygrad_rnn.checkpoint/1"


def save_checkpoint(path: str | os.PathLike, model: Any, optimizer: Any = None, meta: dict | None = None) -> None:
    """Save the model's parameters, the optimizer's state and ``meta`` (JSON-able) atomically."""
    arrays = {f"model/{name}": value for name, value in model.state_dict().items()}
    doc: dict[str, Any] = {"format": FORMAT, "meta": meta or {}, "optimizer": None}
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars: dict[str, list[Any]] = {}
        for key, values in sd["state"].items():
            scalars[key] = []
            for i, v in enumerate(values):
                if isinstance(v, np.ndarray):
                    arrays[f"optimizer/{key}/{i}"] = v
                    scalars[key].append(None)
                else:
                    scalars[key].append(v)
        doc["optimizer"] = {"name": sd["optimizer"], "hyperparams": sd["hyperparams"], "scalars": scalars}
    arrays["meta"] = np.frombuffer(to_json(doc).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(path, buf.getvalue())


def _read(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and the JSON document of a checkpoint, or a CheckpointError saying why not."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a lone .npy array under this name
            raise ValueError(f"it holds one {type(loaded).__name__}, not an .npz archive")
        with loaded as npz:
            arrays = {k: npz[k] for k in npz.files}
        doc = json.loads(arrays.pop("meta").tobytes().decode())
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist; train without --resume first") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, UnicodeDecodeError) as e:
        raise CheckpointError(
            f"checkpoint {path} is unreadable or corrupt ({e}); delete it, or resume from another copy"
        ) from None
    found = doc.get("format") if isinstance(doc, dict) else None
    if found != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a tinygrad_rnn checkpoint (format {found!r})")
    return arrays, doc


def read_meta(path: str | os.PathLike) -> dict:
    """The ``meta`` saved with a checkpoint, without loading it into anything."""
    return _read(path)[1]["meta"]


def load_checkpoint(path: str | os.PathLike, model: Any, optimizer: Any = None) -> dict:
    """Restore the model (and optimizer) in place from ``path``; returns the saved ``meta``."""
    arrays, doc = _read(path)
    state = {k[len("model/") :]: v for k, v in arrays.items() if k.startswith("model/")}
    try:
        model.load_state_dict(state)
        if optimizer is not None:
            opt = doc["optimizer"]
            if opt is None:
                raise CheckpointError(f"checkpoint {path} holds no optimizer state")
            sd_state = {
                key: [arrays[f"optimizer/{key}/{i}"] if v is None else v for i, v in enumerate(values)]
                for key, values in opt["scalars"].items()
            }
            optimizer.load_state_dict({"optimizer": opt["name"], "hyperparams": opt["hyperparams"], "state": sd_state})
    except (ValueError, KeyError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"checkpoint {path} does not fit this model or optimizer: {e}") from None
    return doc["meta"]

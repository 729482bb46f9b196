"""Checkpoints that survive crashes: written to a temporary file, then renamed over the old one.

A checkpoint is one ``.npz`` file (no pickle): the model's parameters under ``model/NAME``,
the optimizer's per-parameter arrays under ``optimizer/STATE/INDEX``, and a JSON document under
``meta`` with everything else (optimizer class, hyperparameters and step counts, training
progress). ``os.replace`` is atomic, so a crash mid-write leaves the last good file in place.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError, WriteError

FORMAT = "tinygrad_rnn.checkpoint/1"


_TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part.
    The file gets the permissions a plain ``open`` would give it (0666 less the umask)."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TEMP_SUFFIX)
    except OSError as e:
        raise _write_error(path, e) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # a full disk, a quota: name the file, keep the old one
        Path(tmp).unlink(missing_ok=True)
        raise _write_error(path, e, f"; the previous {path.name} is kept" if path.exists() else "") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_error(path: Path, e: OSError, note: str = "") -> WriteError:
    err = WriteError(f"cannot write {path}: {e.strerror or e}{note}")
    err.errno = e.errno
    return err


def remove_stale_temp_files(directory: str | os.PathLike) -> list[Path]:
    """Delete what a killed ``atomic_write`` left in ``directory`` (``.name.XXXX.tmp`` files of
    a write that never reached its rename); returns what was removed."""
    removed = []
    for tmp in Path(directory).glob(f".*{_TEMP_SUFFIX}"):
        if tmp.is_file() and tmp.name.count(".") >= 3:  # .checkpoint.npz.abc123.tmp
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write(path, (json.dumps(obj, indent=2) + "\n").encode())


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
    arrays["meta"] = np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8)
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

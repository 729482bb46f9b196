"""Reading a data file whole, gunzipped when it is gzip data whatever its name."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from ..errors import DataError

_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path) -> tuple[bytes, bool]:
    """The bytes of ``path``, gunzipped if they start with the gzip magic bytes (whatever the name).

    Returns the bytes and whether they were gzipped.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if raw[:2] != _GZIP_MAGIC:
        return raw, False
    try:
        return gzip.decompress(raw), True
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: the gzip data is truncated or corrupt ({exc}); get the file again") from exc

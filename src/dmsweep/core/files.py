"""Files written whole, and checksums: what every part of dmsweep writes and verifies.

Write a file so that readers, and a second writer, only ever see a whole one:

Each write goes to a temporary file with a unique name beside the target, then one
`os.replace` puts it in place. Two processes writing the same file (two `aggregate` runs into
one output folder) never share a temporary name: the last rename wins, and the file is always
one complete version.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a fresh temporary path beside `path`; on success it replaces `path`, on error it
    is removed (the old file stays)."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, content: str | bytes) -> None:
    with replacing(path) as tmp:
        if isinstance(content, str):
            tmp.write_text(content, encoding="utf-8")
        else:
            tmp.write_bytes(content)


def sha256_of(path: Path) -> str:
    """The file's SHA-256 as lowercase hex, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

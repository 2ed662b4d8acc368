"""Finding a data file: in a local data directory, or downloaded into the cache and verified."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dmsweep.core.files import sha256_of
from dmsweep.errors import DataError

ENV_DATA_DIR = "DMSWEEP_DATA_DIR"
ENV_CACHE_DIR = "DMSWEEP_CACHE_DIR"
DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class FileSource:
    """Where one dataset file comes from (`url`) and the sha256 (hex) it must have.

    `url` is None for a file a card lists only to have its checksum verified: it must be
    in the dataset's folder, it is never downloaded.
    """

    url: str | None
    sha256: str


def resolve_data_dir(data_dir: Path | str | None) -> Path | None:
    """The local data directory: the argument, else $DMSWEEP_DATA_DIR, else None (use the cache)."""
    if data_dir is None or data_dir == "":
        data_dir = os.environ.get(ENV_DATA_DIR) or None
    return None if data_dir is None else Path(data_dir).expanduser()


def default_cache_dir() -> Path:
    """$DMSWEEP_CACHE_DIR, else $XDG_CACHE_HOME/dmsweep, else ~/.cache/dmsweep."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "dmsweep"


def fetch(root: Path, rel: str, source: FileSource | None, *, download: bool) -> tuple[Path, str]:
    """`root/rel`, verified against `source`, and its checksum 'sha256:<hex>'.

    With `download`, `root` is a cache folder: a missing or corrupt file is fetched from
    `source.url` (written to a temporary name and renamed, so concurrent jobs never see half
    a file). Without, `root` is a local data folder and a missing file is an error.
    """
    path = root / rel
    if path.is_file():
        found = sha256_of(path)
        if source is None or found == source.sha256:
            return path, f"sha256:{found}"
        if not download:
            raise DataError(
                f"{path}: checksum mismatch: expected sha256:{source.sha256}, "
                f"found sha256:{found} (restore the original file, or describe your own "
                "data with a dataset card of your own)"
            )
    elif not download or source is None or source.url is None:
        hint = (
            f" (unset {ENV_DATA_DIR} to download it into the cache)"
            if not download and source is not None and source.url is not None
            else ""
        )
        raise DataError(f"{path}: file not found{hint}")
    assert source is not None
    if source.url is None:
        raise DataError(
            f"{path}: checksum mismatch: expected sha256:{source.sha256}, found "
            f"sha256:{found} (the card gives no URL to fetch the original from)"
        )
    _download(source, path, rel)
    return path, f"sha256:{source.sha256}"


def _download(source: FileSource, dest: Path, rel: str) -> None:
    # imported here: urllib.request pulls in http.client, ssl and email (15 ms), which every
    # run_builder and aggregate start-up paid for a download that almost never happens
    import urllib.error
    import urllib.request

    assert source.url is not None
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", delete=False) as tmp:
        try:
            with urllib.request.urlopen(source.url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                for block in iter(lambda: response.read(1 << 20), b""):
                    digest.update(block)
                    tmp.write(block)
        except (urllib.error.URLError, OSError, ValueError) as err:
            tmp.close()
            os.unlink(tmp.name)
            reason = getattr(err, "reason", err)
            raise DataError(
                f"{rel}: download from {source.url} failed: {reason} (to work offline, set "
                f"{ENV_DATA_DIR} to a folder that holds the dataset files)"
            ) from None
    found = digest.hexdigest()
    if found != source.sha256:
        os.unlink(tmp.name)
        raise DataError(
            f"{rel}: checksum mismatch: expected sha256:{source.sha256}, found sha256:{found} "
            f"(downloaded from {source.url})"
        )
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, dest)

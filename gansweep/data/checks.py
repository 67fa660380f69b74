"""What the dataset readers and their preflight checks share: the error that names a file it cannot read (its path,
its size, the format expected, the underlying error and what to do), and the helpers that read a dataset node."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Union

from gansweep.config import ConfigError

HYDRA_KEYS = ("_target_", "_recursive_", "_convert_", "_partial_", "_args_")
REFETCH = "remove it so that it is downloaded again (dataset.download=true), or point dataset.root at a good copy"
REPLACE = "replace or remove it, or point dataset.root at a folder holding a good copy"


class DataFileError(ConfigError):
    """A dataset file that is there but cannot be read as the format its reader expects. A ConfigError on
    dataset.root (the fix is a good copy there), with the path kept in `path`."""

    def __init__(self, message: str, key: Optional[str] = "dataset.root", path: Optional[Union[str, Path]] = None):
        super().__init__(message, key)
        self.path = None if path is None else Path(path)

    def __reduce__(self) -> Any:
        """Picklable with its key and path, so a launcher's worker process can send it back."""
        return (type(self), (str(self), self.key, self.path))


def size_of(path: Path) -> str:
    """'N bytes', or why there is no size."""
    try:
        return f"{path.stat().st_size} bytes"
    except OSError as err:
        return f"size unknown: {err.strerror or err}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def unreadable(
    path: Path,
    expected: str,
    err: Union[BaseException, str],
    fix: str = REPLACE,
    *,
    entry: str = "",
    key: Optional[str] = "dataset.root",
    cls: type = DataFileError,
) -> DataFileError:
    """The error for a file that is not what its reader expects, in one line: `path (size)`, then `entry` (a record
    inside it, e.g. an LMDB key) when given, what was expected, the underlying error, what to do. Raise it from err."""
    cause = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
    where = f"{path} ({size_of(path)}){f', {entry}' if entry else ''}"
    message = f"cannot read {where}: expected {expected}; got {cause}. To fix: {fix}."
    error = cls(_one_line(message), key, path)
    assert isinstance(error, DataFileError)
    return error


def read_head(path: Path, count: int) -> bytes:
    """The first `count` bytes of `path` (fewer when it is shorter)."""
    with open(path, "rb") as f:
        return f.read(count)


def read_tail(path: Path, count: int) -> bytes:
    """The last `count` bytes of `path` (all of it when it is shorter)."""
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - count))
        return f.read(count)


def lacking(folders: Sequence[Path], names: Sequence[str]) -> str:
    """' (FOLDER lacks NAME, ...)' for the first of `folders` that holds some of `names` but not all; '' when none
    does (then the message's list of expected files says it all)."""
    for folder in folders:
        missing = [name for name in names if not (folder / name).is_file()]
        if 0 < len(missing) < len(names):
            return f" ({folder} lacks {', '.join(missing)})"
    return ""


def init_kwargs(node: Mapping[str, Any]) -> Dict[str, Any]:
    """A dataset node (DictConfig or dict, `_target_` included, as conf/dataset/*.yaml gives it) as the keyword
    arguments its class is constructed with: interpolations resolved, Hydra's own keys left out."""
    from omegaconf import DictConfig, OmegaConf

    plain = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    assert isinstance(plain, dict)
    return {str(k): v for k, v in plain.items() if k not in HYDRA_KEYS}

"""Writing outputs atomically and publishing the staged ones, all or none.

Only the standard library is imported here: the workflow checks at every start whether the
published outputs still equal the staged ones (:func:`in_sync`), and the publication rule
runs without the statistics stack.
"""

from __future__ import annotations

import contextlib
import filecmp
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from ketameta.errors import DataError, _reason


def write_text(text: str, path: str | Path) -> None:
    """Write a text file atomically: a temporary file beside it, then a rename.

    A run that fails while writing leaves the previous file (the last good output) intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _same(staged: Path, target: Path) -> bool:
    return target.is_file() and filecmp.cmp(staged, target, shallow=False)


def publish(staged: Iterable[str | Path], stage: str | Path) -> list[str]:
    """Copy staged outputs to their project paths, all or none, only where they changed.

    The workflow's jobs write below ``stage`` (``.ketameta/stage/reports/TRD.html``); this
    makes each file's counterpart outside it (``reports/TRD.html``) equal to it. Every new
    version is first written beside its target under a temporary name; only when all of
    them are written are they renamed over the targets. A write that fails (a full disk, a
    read-only folder) removes the temporary files and changes no target, so the outputs of
    the last good run stay byte-identical. Files whose content is unchanged are not touched
    (their modification times stay).

    Parameters
    ----------
    staged : iterable of path-like
        Staged files, each below ``stage``.
    stage : path-like
        The staging folder.

    Returns
    -------
    list of str
        The project paths that were replaced or created.

    Raises
    ------
    DataError
        Naming the first target that could not be written and why.
    """
    pairs = [(Path(s), Path(os.path.relpath(s, stage))) for s in staged]
    changed = [(s, target) for s, target in pairs if not _same(s, target)]
    temps: list[Path] = []
    target = None
    try:
        for source, target in changed:
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".{target.name}.publishing")
            temps.append(temp)
            shutil.copyfile(source, temp)
    except OSError as error:
        for temp in temps:
            with contextlib.suppress(OSError):
                temp.unlink()
        raise DataError(
            str(target),
            f"cannot write the new version ({_reason(error)}); nothing was published and the "
            "outputs of the last good run are unchanged",
        ) from None
    for (_, target), temp in zip(changed, temps, strict=True):
        os.replace(temp, target)
    return [str(target) for _, target in changed]


def in_sync(stage: str | Path, paths: Iterable[str]) -> bool:
    """Whether every project path has a staged version and equals it."""
    return all(
        (Path(stage) / path).is_file() and _same(Path(stage) / path, Path(path))
        for path in paths
    )

"""One process at a time per (run, seed): two ``dfcl run`` on one results folder never train the same seed
at once, nor replace each other's file (the ``filelock`` package; an OS lock, released if the holder dies)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout


def lock_path(result: Path) -> Path:
    """The lock beside a result file, hidden so result discovery never sees it."""
    return result.with_name(f".{result.stem}.lock")


@contextmanager
def seed_lock(result: Path) -> Iterator[bool]:
    """Hold the seed's lock for the block; yields False at once (holding nothing) when another process has it."""
    path = lock_path(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()

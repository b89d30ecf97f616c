"""The MISP warning lists as one compact file under var/cache/, memory-mapped by every worker.

Built once per pymispwarninglists release (by the first worker, under a lock; later starts map it in
milliseconds), so workers never hold the lists as Python objects: the mapped pages are shared by all
workers of a host through the page cache. Layout: a JSON header line, then the arrays of
`core.warninglists.CompactLayout`, each 8-byte aligned.
"""
from __future__ import annotations

import fcntl
import importlib.metadata
import json
import logging
import mmap
import os
import tempfile
import time
from pathlib import Path

from streams.core.warninglists import CompactIndex, CompactLayout, build_compact, misp_lists

log = logging.getLogger(__name__)
FORMAT = 2
_ARRAYS = (("slots", "Q"), ("slot_value", "I"), ("slot_list", "H"), ("value_offsets", "I"), ("blob", "B"))


def cache_file(cache_dir: Path) -> Path:
    return cache_dir / f"misp-{importlib.metadata.version('pymispwarninglists')}-f{FORMAT}.bin"


def write(layout: CompactLayout, path: Path) -> None:
    """`layout` to `path`, atomically: a reader sees the old file or the whole new one."""
    header = {"names": layout.names, "networks": layout.networks,
              "arrays": [[name, code, getattr(layout, name).nbytes] for name, code in _ARRAYS]}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".building-")
    try:
        with os.fdopen(fd, "wb") as out:
            head = json.dumps(header).encode() + b"\n"  # json, not orjson: IPv6 range bounds exceed 64 bits
            out.write(head + bytes(-len(head) % 8))
            for name, _ in _ARRAYS:
                data = getattr(layout, name)
                out.write(data.cast("B"))
                out.write(bytes(-data.nbytes % 8))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read(path: Path) -> CompactLayout:
    """A layout whose arrays are views of the read-only mapping of `path`."""
    with path.open("rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    header = json.loads(mapped[:mapped.find(b"\n")])
    view, offset = memoryview(mapped), mapped.find(b"\n") + 1
    offset += -offset % 8
    arrays = {}
    for name, code, nbytes in header["arrays"]:
        arrays[name] = view[offset:offset + nbytes].cast(code)
        offset += nbytes + (-nbytes % 8)
    return CompactLayout(**arrays, names=header["names"], networks=[tuple(n) for n in header["networks"]])


def load_shared(cache_dir: Path) -> CompactIndex:
    """The shared index of the shipped warning lists, built first if no worker has built it yet."""
    path = cache_file(cache_dir)
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        with (cache_dir / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one builder; the others wait, then map its file
            if not path.exists():
                started = time.monotonic()
                write(build_compact(misp_lists()), path)
                log.info("warning lists: built %s in %.1f s", path.name, time.monotonic() - started)
    return CompactIndex(read(path))

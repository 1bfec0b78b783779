"""Symlinks in the data folder: bind what they point to, so they resolve inside the container.

Data folders on clusters are often symlink farms (`x_data -> /lustre/project/csa/x_data`). The
runtime binds the data folder itself, but a link's target outside it does not exist inside the
container, and the model fails far from the cause (`/IMPROVE_DATA_DIR/x_data not found`). For
every link whose target lies outside the data folder, the target (the host's real path) is bound
at the path the link resolves to inside the container: an absolute link at its own text, a
relative one at its text taken from the link's place under the mount point. A link to a file
binds the file's folder when the names agree (one bind for a whole farm of file links). Broken
links, and links that would need a bind over the image's system folders or at a path the bind
syntax cannot carry, are refused before any trial starts, naming the link.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from improve_hpo.errors import UsageError

# Binding at or over these would hide the image's own system.
_SYSTEM = {"/", "/opt", "/root", "/run", "/tmp", "/var"}
_SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/sbin",
                 "/sys", "/usr", "/.singularity.d")
MAX_LINK_BINDS = 64


def link_binds(data_dir: str, mount_point: str, covered: tuple[str, ...] = ()) -> tuple[str, ...]:
    """'SRC:DST' binds for the data folder's outward symlinks (none when it has none).
    `covered` are container paths the user's --bind already provides."""
    wanted: dict[str, str] = {}  # container path -> host source
    for link in _links_under(data_dir):
        inside = _inside_target(link, data_dir, mount_point)
        if _under(inside, mount_point) or any(_under(inside, dest) for dest in covered):
            continue
        real = Path(link).resolve()
        if not real.exists():
            raise UsageError(f"--data-dir {data_dir}: the link {link} points to "
                             f"{os.readlink(link)}, which does not exist; fix or remove the link")
        source, dest = str(real), inside
        if real.is_file() and real.name == posixpath.basename(inside):
            source, dest = str(real.parent), posixpath.dirname(inside)
        _check_bindable(source, dest, link, data_dir)
        if wanted.get(dest, source) != source:
            raise UsageError(f"--data-dir {data_dir}: the link {link} needs {dest} inside the "
                             f"container to be {source}, but another link needs it to be "
                             f"{wanted[dest]}; make the links point into one folder")
        wanted[dest] = source
    binds = _outermost(wanted)
    if len(binds) > MAX_LINK_BINDS:
        raise UsageError(f"--data-dir {data_dir}: its links point to {len(binds)} different "
                         f"places (at most {MAX_LINK_BINDS} binds); --bind a common parent "
                         "folder of their targets at its own path")
    return tuple(f"{source}:{dest}" for dest, source in binds)


def _links_under(data_dir: str):
    for folder, dirs, files in os.walk(data_dir):
        for name in (*dirs, *files):
            path = os.path.join(folder, name)
            if os.path.islink(path):
                yield path


def _inside_target(link: str, data_dir: str, mount_point: str) -> str:
    """Where `link` points to inside the container."""
    text = os.readlink(link)
    inside_link = posixpath.join(mount_point, os.path.relpath(link, data_dir))
    return posixpath.normpath(posixpath.join(posixpath.dirname(inside_link), text))


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _check_bindable(source: str, dest: str, link: str, data_dir: str) -> None:
    if dest in _SYSTEM or any(_under(dest, tree) for tree in _SYSTEM_TREES):
        raise UsageError(f"--data-dir {data_dir}: the link {link} points to {os.readlink(link)}; "
                         f"binding it would cover the image's {dest}; point the link at a "
                         "folder of its own, or copy the data into the data folder")
    for path in (source, dest):
        if "," in path or ":" in path:
            raise UsageError(f"--data-dir {data_dir}: the link {link} points to {path}, a path "
                             "with ',' or ':' that the runtime's --bind cannot carry; rename "
                             "the target")


def _outermost(wanted: dict[str, str]) -> list[tuple[str, str]]:
    """(dest, source) pairs without those another bind already provides (a bind of a folder
    covers one of its subfolder at the same relative place)."""
    kept: list[tuple[str, str]] = []
    for dest, source in sorted(wanted.items()):
        if any(_under(dest, outer) and source == os.path.join(outer_source,
                                                               os.path.relpath(dest, outer))
               for outer, outer_source in kept):
            continue
        kept.append((dest, source))
    return kept

"""Local files (SPEC §6): reading untrusted ones with bounds, writing so that a reader never
sees half of one.

Manifests, credential files and plan files are read only if they are regular files (a FIFO
would block the run, a device such as ``/dev/zero`` never ends), at most a bounded number of
bytes, and as UTF-8; every way that fails is an ``InputError`` naming the file.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.errors import InputError

KIB = 1024
MIB = 1024 * KIB
CREDENTIAL_LIMIT = 64 * KIB
MANIFEST_LIMIT = 64 * MIB
# A saved plan takes about 630 bytes per entry it creates (20,000 creates: 12.6 MB), so this
# holds plans of some 100,000 changes; ``plan --compare`` and ``apply FILE`` read within it too.
PLAN_LIMIT = 64 * MIB
# The sandbox's own state file (``sandbox --state``): about 100 bytes per entry, plus the
# synthetic sending data.
SANDBOX_STATE_LIMIT = 256 * MIB


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_bytes(
    path: str | os.PathLike[str], limit: int, what: str, display: str | None = None
) -> bytes:
    """At most ``limit`` bytes of the regular file ``path``; ``what`` names it in errors
    ("credential file"; empty: none). Never blocks on a FIFO: the kind is checked before
    opening, and the file is opened non-blocking and checked again (it may have been
    replaced in between). ``display`` (default: ``path``) names the file in errors."""
    shown = os.fspath(path) if display is None else display
    name = f"{what} {shown}" if what else shown
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(f"cannot read {name}: it is {_kind(mode)}, not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as stream:
            status = os.fstat(stream.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise InputError(
                    f"cannot read {name}: it is {_kind(status.st_mode)}, not a regular file"
                )
            # Sized by the file, not the bound (no 64 MiB buffer per small file); it may have
            # grown since, so read on while within the bound.
            data = stream.read(min(status.st_size, limit) + 1)
            while len(data) <= limit:
                more = stream.read(limit + 1 - len(data))
                if not more:
                    break
                data += more
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"cannot read {name}: it is larger than {size_text(limit)}")
    return data


def read_text(path: str | os.PathLike[str], limit: int, what: str) -> str:
    """``read_bytes`` decoded as UTF-8 (a leading byte order mark is dropped)."""
    data = read_bytes(path, limit, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise InputError(
            f"cannot read {what} {os.fspath(path)}: line {line} is not valid UTF-8"
        ) from None


def size_text(limit: int) -> str:
    """A bound as it is written: ``64 KiB``, ``64 MiB``."""
    return f"{limit // MIB} MiB" if limit >= MIB else f"{limit // KIB} KiB"


LOCK_DIRECTORY = Path(".reconciler")
# The local state directory ignores itself: its sandbox state and lock files are this
# machine's and never belong in a repository, whatever the repository's own .gitignore says.
_IGNORE_ALL = "# reconciler's local state (sandbox, locks): never committed\n*\n"


def make_state_directory(directory: Path) -> None:
    """Create ``directory`` (and its parents); a ``.reconciler`` directory gets a
    ``.gitignore`` holding ``*`` when it has none, so that git never adds it."""
    directory.mkdir(parents=True, exist_ok=True)
    if directory.name != LOCK_DIRECTORY.name:
        return
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(directory / ".gitignore", flags, 0o644)
    except OSError:  # there already, or not writable: the state itself says if that matters
        return
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(_IGNORE_ALL)


def lock_path(accounts: Iterable[str]) -> Path:
    """The lock file of an ``apply`` of these accounts (names with their endpoints)."""
    digest = hashlib.sha256("\n".join(sorted(accounts)).encode()).hexdigest()[:16]
    return LOCK_DIRECTORY / f"apply-{digest}.lock"


@contextmanager
def apply_lock(accounts: Iterable[str], warn: Callable[[str], None]) -> Iterator[None]:
    """Hold the lock file of an ``apply`` of ``accounts`` while the block runs; ``warn`` if
    another local run holds it.

    A warning, not a refusal: a lock left by a run on another machine is invisible anyway
    (CI serializes applies with a concurrency group), and two runs that overlap converge on
    the next run; the warning tells the person at the terminal why failures may follow.
    Without ``fcntl`` (Windows) or a writable directory, the block runs unlocked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = lock_path(accounts)
    try:
        make_state_directory(path.parent)
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags, 0o600)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            warn(
                f"another apply of the same accounts is running here (it holds {path}); "
                "changes may fail or be reported twice — wait for it, or serialize applies "
                "(in CI: one concurrency group)"
            )
        yield
    finally:
        os.close(fd)  # releases the lock, if held


def check_writable(path: Path, reading: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Raise ``InputError`` now if ``write_atomic(path, ...)`` cannot work or must not be
    done, before any work whose result would then be lost: ``path`` exists and is not a
    regular file (``/dev/null`` is never replaced), or it is one of the files ``reading``."""
    try:
        mode: int | None = os.stat(path).st_mode
    except OSError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise InputError(f"cannot write {path}: it is {_kind(mode)}, not a regular file")
    if mode is not None:
        for source in reading:
            try:
                same = os.path.samefile(path, source)
            except OSError:
                same = False
            if same:
                raise InputError(
                    f"cannot write {path}: it is the manifest {os.fspath(source)} being read; "
                    "write elsewhere"
                )
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {path}: {parent} is not a writable directory")


def write_atomic(path: Path, text: str | Iterable[str]) -> None:
    """Write ``text`` (or its pieces, each written as it comes) to a temporary file beside
    ``path``, then rename it into place.

    A failure is an ``InputError`` naming the path; no partial file is left behind, whatever
    interrupts the writing (an error while the pieces are made, Ctrl-C).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for piece in [text] if isinstance(text, str) else text:
                handle.write(piece)
        os.replace(temp, path)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise

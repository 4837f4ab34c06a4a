"""One guard for every file a command writes: resolved, never replaced silently, atomic.

Users point segan at folders holding their only copy of a recording, so every output
goes through here:

- the path is resolved (symlinks and ``..``) before any existence check, so
  ``nodir/../victim.wav`` is checked as ``victim.wav``;
- an existing file is refused unless overwrite was asked, and an input is never an
  output (not even with overwrite);
- the content is written to a temporary file beside the output and published only
  when complete, by a step that cannot replace a file that appeared meanwhile (a
  hard link, else ``renameat2(RENAME_NOREPLACE)``, else an exclusive create), so of
  two concurrent runs exactly one wins and the other reports the file as existing;
- an operating-system fault (disk full, read-only, permission) is one
  :class:`OutputError` naming the output, the cause and a fix; no partial file stays.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from segan_cli.core.io.temporaries import temp_file, temp_stem
from segan_cli.errors import SeganError, special_kind

OVERWRITE_HINT = "pass --overwrite to replace it"
# link() failures meaning "this file system has no hard links", not a real fault
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK,
             errno.EXDEV}
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100

# errno -> (cause, fix): the faults a user can do something about
FAULTS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device",
                   "free some space or write to another disk"),
    errno.EROFS: ("the file system is read-only", "write to a writable folder"),
    errno.EACCES: ("permission denied",
                   "check the permissions, or write to a folder you own"),
    errno.EPERM: ("operation not permitted",
                  "check the permissions, or write to a folder you own"),
    errno.EFBIG: ("the file is too large for this file system",
                  "write to another file system"),
    errno.EIO: ("input/output error", "check the disk (dmesg) or write to another disk"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter path"),
    errno.EISDIR: ("it is a folder", "name a file, not a folder"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "check the path"),
}
if hasattr(errno, "EDQUOT"):
    FAULTS[errno.EDQUOT] = ("the disk quota is exceeded",
                            "free some space in your quota or write elsewhere")
#: faults of a whole file system: a folder run stops at the first one
DISK_FAULTS = {errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", errno.ENOSPC)}


class OutputExistsError(SeganError):
    """The output exists (or appeared while the run worked) and overwrite was not asked."""


class OutputError(SeganError):
    """An output cannot be written: the operating system refused (full, read-only, ...).

    ``errno`` is the OS error number when there is one, so callers can tell a fault of
    the whole disk (nothing more can be written) from one of a single file.
    """

    def __init__(self, message: str, hint: str | None = None, errno: int | None = None
                 ) -> None:
        super().__init__(message, hint)
        self.errno = errno

    def __reduce__(self) -> tuple:  # keeps errno across worker processes
        return (type(self), (self.message, self.hint, self.errno))

    @property
    def disk_full_or_read_only(self) -> bool:
        """Whether no further file can be written there either (space, quota, read-only)."""
        return self.errno in DISK_FAULTS


def fault(exc: OSError) -> tuple[str, str] | None:
    """(cause, fix) of an operating-system fault the user can act on, else None."""
    return FAULTS.get(exc.errno) if exc.errno is not None else None


def output_error(exc: OSError, path: Path | str) -> OutputError:
    """The one-line error for a failed write of ``path``."""
    cause, fix = fault(exc) or (exc.strerror or type(exc).__name__, "check the output path")
    return OutputError(f"cannot write {path}: {cause}", f"{fix}; nothing was written there",
                       exc.errno)


_WRITES = {errno.ENOSPC, errno.EROFS, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def os_error(exc: OSError, where: Path | str | None = None) -> OutputError | None:
    """The one-line error for an OS fault the user can act on; None for other OSErrors.

    ``where`` (an output folder) is named when the error itself names no file, as
    with a failed ``write()``.
    """
    found = fault(exc)
    if found is None:
        return None
    cause, fix = found
    name = exc.filename if exc.filename is not None else where
    if name is None:
        return OutputError(f"a write failed: {cause}", fix, exc.errno)
    verb = "write" if exc.errno in _WRITES or exc.filename is None else "access"
    return OutputError(f"cannot {verb} {os.fsdecode(name)}: {cause}", fix, exc.errno)


@contextlib.contextmanager
def naming_faults(where: Path | str) -> Iterator[None]:
    """Within the block, an OS fault becomes one OutputError, naming ``where`` when the
    error names no file (Lightning's and the loggers' writes, appends to a log)."""
    try:
        yield
    except OSError as exc:
        error = os_error(exc, where)
        if error is None:
            raise
        raise error from exc


def resolve_output(path: Path | str) -> Path:
    """The absolute path the OS will write: ``~``, symlinks and ``..`` resolved."""
    return Path(os.path.expanduser(os.fspath(path))).resolve()


def _shown(path: Path | str, final: Path) -> str:
    """The path as given, plus where it resolves when that is not plain to see."""
    given = os.fspath(path)
    plain = os.path.abspath(given) == str(final) and ".." not in Path(given).parts
    return given if plain else f"{given} (= {final})"


def same_file(a: Path | str, b: Path | str) -> bool:
    """Whether two paths name one file (symlinks, ``..`` and hard links included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return resolve_output(a) == resolve_output(b)


_INPUT_HINT = "choose another output: inputs are never replaced"


def refuse_inputs(path: Path | str, final: Path, inputs: Iterable[Path | str]) -> None:
    """Refuse an output that is an input file, or an existing file below an input
    folder (a corpus' own files, a folder of recordings): ``--overwrite`` never
    replaces what a command reads."""
    exists = os.path.lexists(final)
    for src in inputs:
        if os.path.isdir(src):
            if exists and final.is_relative_to(resolve_output(src)):
                raise SeganError(f"output {_shown(path, final)} is a file of the input "
                                 f"folder {src}", _INPUT_HINT)
        elif same_file(src, final):
            raise SeganError(f"output {_shown(path, final)} is the input file {src}",
                             _INPUT_HINT)


def check_output(path: Path | str, overwrite: bool = False,
                 inputs: Iterable[Path | str] = ()) -> Path:
    """The resolved output path, after refusing an input (a file, or an existing file
    below an input folder), a folder, a special file (FIFO, device, socket) or
    (without ``overwrite``) an existing file; call it before the work to fail early."""
    final = resolve_output(path)
    refuse_inputs(path, final, inputs)
    if final.is_dir():
        raise OutputError(f"output {_shown(path, final)} is a folder", "name a file")
    kind = special_kind(final)
    if kind is not None:
        raise OutputError(f"output {_shown(path, final)} is {kind}, not a regular file",
                          "name a regular file: --overwrite replaces only those")
    if os.path.lexists(final) and not overwrite:
        raise OutputExistsError(f"output exists: {_shown(path, final)}", OVERWRITE_HINT)
    return final


def publish(tmp: Path, final: Path, overwrite: bool = False) -> None:
    """Move the finished ``tmp`` to ``final``; without ``overwrite`` never replace a file.

    Raises OutputExistsError when ``final`` exists (e.g. another run published it
    while this one worked); ``tmp`` is then left for the caller to remove.
    """
    if overwrite:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise _appeared(final) from None
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        _rename_noreplace(tmp, final)
        return
    os.unlink(tmp)


def _appeared(final: Path) -> OutputExistsError:
    return OutputExistsError(f"output exists: {final} (another run wrote it meanwhile)",
                             OVERWRITE_HINT)


def _rename_noreplace(tmp: Path, final: Path) -> None:
    """renameat2(RENAME_NOREPLACE) where libc and the file system have it, else an
    exclusive create of ``final`` (which reserves the name) and a rename over it."""
    func = None
    with contextlib.suppress(OSError, AttributeError):
        func = ctypes.CDLL(None, use_errno=True).renameat2
    if func is not None:
        func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint]
        if func(_AT_FDCWD, os.fsencode(tmp), _AT_FDCWD, os.fsencode(final),
                _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise _appeared(final)
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), str(final))
    try:
        os.close(os.open(final, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        raise _appeared(final) from None
    try:
        os.replace(tmp, final)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(final)  # our own empty placeholder
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def guarded_output(path: Path | str, overwrite: bool = False, suffix: str | None = None,
                   inputs: Iterable[Path | str] = ()) -> Iterator[Path]:
    """Yield a temporary path beside the output; publish it when the block succeeds.

    Existing outputs, inputs and concurrent winners are refused as in
    :func:`check_output` and :func:`publish`; an OSError about the output becomes an
    :class:`OutputError` naming it. The temporary file never outlives the block.
    """
    inputs = tuple(inputs)
    final = check_output(path, overwrite, inputs)
    tmp: Path | None = None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_file(final, suffix)  # named so a later run can remove it if left
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        yield tmp
        check_output(path, True, inputs)  # an input may have been linked there meanwhile
        publish(tmp, final, overwrite)
    except OSError as exc:
        if not _about_output(exc, final, tmp):
            raise  # about another file (e.g. an input): not this output's fault
        raise output_error(exc, path) from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _about_output(exc: OSError, final: Path, tmp: Path | None) -> bool:
    """Whether an OSError concerns the output: no file named (a write), the output,
    its temporary file or one of the folders above it."""
    if exc.filename is None:
        return True
    named = Path(os.fsdecode(exc.filename))
    if named.name.startswith(f".{temp_stem(final.name)}.") \
            and named.parent.resolve() == final.parent:
        return True  # a temporary file of this output (mkstemp names it)
    return named in (final, tmp) or named.resolve() in (final, *final.parents)


class OutputFile:
    """A binary file for writers that call ``write`` from C (libsndfile, torch).

    Such writers turn a failed write into an unhelpful error ("System error.",
    "unexpected pos") or, from a C callback, a printed traceback; this object writes
    everything or keeps the first OSError and drops the rest, and
    :func:`guarded_file` raises that error when the writer returns.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = str(path)
        self.mode = "w+b"
        self._fh = open(path, "w+b", buffering=0)  # noqa: SIM115 - closed by close()
        self.error: OSError | None = None
        #: Ctrl-C/SIGTERM raised inside a C writer's callback, where it would be
        #: swallowed (libsndfile then fails an assertion): re-raised by guarded_file
        self.interrupt: BaseException | None = None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.error is not None or self.interrupt is not None:
            return 0
        view = memoryview(data).cast("B")
        done = 0
        try:
            while done < len(view):
                done += self._fh.write(view[done:]) or 0
        except OSError as exc:
            self.error = exc
            return 0
        except BaseException as exc:  # KeyboardInterrupt, Terminated
            self.interrupt = exc
            return 0
        return done

    def read(self, size: int = -1) -> bytes:
        return self._fh.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def flush(self) -> None:
        """Unbuffered: nothing to flush."""

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    @property
    def closed(self) -> bool:
        return self._fh.closed


@contextlib.contextmanager
def guarded_file(path: Path | str, overwrite: bool = False, suffix: str | None = None,
                 inputs: Iterable[Path | str] = ()) -> Iterator[OutputFile]:
    """:func:`guarded_output` with the temporary file open as an :class:`OutputFile`.

    A write the OS refused raises its OSError (hence an OutputError) even when the
    writer swallowed it or replaced it by an error of its own.
    """
    with guarded_output(path, overwrite, suffix, inputs) as tmp:
        fh = OutputFile(tmp)
        try:
            yield fh
        except BaseException:
            fh.close()
            if fh.interrupt is not None:
                raise fh.interrupt from None
            if fh.error is not None:
                raise fh.error from None
            raise
        fh.close()
        if fh.interrupt is not None:
            raise fh.interrupt
        if fh.error is not None:
            raise fh.error


def write_bytes(path: Path | str, data: bytes, overwrite: bool = False,
                inputs: Iterable[Path | str] = ()) -> Path:
    """Write a whole file through the guard; returns the resolved path."""
    with guarded_file(path, overwrite, inputs=inputs) as fh:
        fh.write(data)
    return resolve_output(path)


def preallocate(path: Path, size: int) -> None:
    """Reserve ``size`` bytes for a file about to be memory-mapped and written.

    A full disk then fails here as an OSError rather than killing the process with
    SIGBUS when a mapped page cannot be stored.
    """
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS):
            raise OSError(exc.errno, exc.strerror, str(path)) from None
    finally:
        os.close(fd)

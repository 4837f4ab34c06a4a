"""Resumable, md5-verified downloads with nothing but urllib.

The corpus zips are gigabytes on an academic server: a transfer that breaks must
continue where it stopped (bytes go to ``NAME.part``; a re-run asks for
``Range: bytes=N-``), and a file only gets its final name once its md5 matches,
so a half-written or corrupted download is never mistaken for a good one.

Why not ``pooch``: its HTTP downloader writes each attempt from byte 0 (no ``Range``
request), so a broken transfer of a 2 GB zip would start over, and it would bring
``requests`` and ``platformdirs`` for what urllib does here.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from segan_cli import __version__
from segan_cli.core.runtime.progress import Progress, SilentProgress
from segan_cli.errors import DownloadError

CHUNK = 1 << 20
RETRY_DELAY = 2.0  # seconds before the first retry; doubled each time (tests set 0)
USER_AGENT = f"segan-cli/{__version__} (+urllib)"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class _Transient(Exception):
    """A failure worth retrying (dropped connection, timeout, 5xx)."""


def file_md5(path: Path, progress: Progress | None = None) -> str:
    """md5 of a file, read in chunks so gigabyte zips stay out of memory."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            if progress is not None:
                progress.advance(len(chunk))
    return digest.hexdigest()


def part_path(dest: Path) -> Path:
    """Where the bytes of an unfinished download of ``dest`` live."""
    return dest.with_name(dest.name + ".part")


def download(url: str, dest: Path, md5: str | None, size: int | None = None,
             progress: Progress | None = None, retries: int = 3,
             timeout: float = 60) -> Path:
    """Fetch ``url`` to ``dest``, resuming a previous ``.part``; verify md5; return ``dest``.

    An existing ``dest`` with the right md5 is kept (no request); one with a wrong md5
    is fetched again. Transient network errors are retried ``retries`` times in a row
    (a retry that made progress resets the count), each resuming the transfer.
    """
    dest = Path(dest)
    progress = progress or SilentProgress()
    md5 = md5.lower() if md5 else None
    if dest.is_file():
        if md5 is None:
            return dest
        progress.start(f"checking {dest.name}", dest.stat().st_size)
        if file_md5(dest, progress) == md5:
            return dest
        progress.note(f"{dest.name} does not match its md5; downloading it again")
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    failures = 0
    while True:
        before = part.stat().st_size if part.is_file() else 0
        try:
            digest = _transfer(url, part, size, progress, timeout)
            break
        except _Transient as exc:
            now = part.stat().st_size if part.is_file() else 0
            failures = 0 if now > before else failures + 1
            if failures > retries:
                raise DownloadError(
                    f"downloading {dest.name} failed after {retries + 1} attempts: {exc}",
                    f"check the network and run again; the {now} bytes already "
                    f"fetched are kept in {part.name} and the download resumes") from exc
            progress.note(f"{dest.name}: {exc}; retrying")
            time.sleep(RETRY_DELAY * 2 ** max(failures - 1, 0))
    if md5 is not None and digest != md5:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{dest.name}: md5 is {digest}, expected {md5}",
            "the download was corrupted; run again")
    os.replace(part, dest)
    return dest


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse | None:
    """Send the request; None means the server says ``offset`` is already the end (416)."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            return None
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Transient(f"server answered {exc.code} {exc.reason}") from exc
        raise DownloadError(f"cannot download {url}: server answered {exc.code} {exc.reason}",
                            "check the address (or SEGAN_VOICEBANK_URL) and run again"
                            ) from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, OSError):
            raise _Transient(f"cannot reach the server ({exc.reason})") from exc
        raise DownloadError(f"cannot download {url}: {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise _Transient(f"connection failed ({exc})") from exc


def _transfer(url: str, part: Path, size: int | None, progress: Progress,
              timeout: float) -> str:
    """One attempt: append the rest of the file to ``part``; return the md5 of all of it."""
    offset = part.stat().st_size if part.is_file() else 0
    if size is not None and offset > size:
        part.unlink()  # longer than the file can be: garbage, start over
        offset = 0
    label = f"downloading {part.name.removesuffix('.part')}"
    if size is not None and offset == size:
        progress.start(label, size)  # complete already: nothing to ask the server
        return file_md5(part, progress)
    resp = _open(url, offset, timeout)
    if resp is None:  # 416: the part already holds every byte
        progress.start(label, offset)
        return file_md5(part, progress)
    with resp:
        total, start = _extent(resp, offset, size)
        if start < 0:
            part.unlink()
            raise _Transient("server sent an unexpected byte range; restarting")
        progress.start(label, total)
        digest = hashlib.md5()
        mode = "ab"
        if start:
            with open(part, "rb") as fh:  # hash what is already there (streamed)
                while start - fh.tell() > 0:
                    chunk = fh.read(min(CHUNK, start - fh.tell()))
                    if not chunk:
                        break
                    digest.update(chunk)
                    progress.advance(len(chunk))
        else:
            mode = "wb"  # the server restarts from byte 0 (200 instead of 206)
        got = start
        with open(part, mode) as out:
            try:
                while chunk := resp.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    got += len(chunk)
                    progress.advance(len(chunk))
            except (OSError, http.client.HTTPException) as exc:
                raise _Transient(f"connection lost after {got} bytes ({exc})") from exc
    if total is not None and got < total:
        raise _Transient(f"connection closed after {got} of {total} bytes")
    return digest.hexdigest()


def _extent(resp: http.client.HTTPResponse, offset: int,
            size: int | None) -> tuple[int | None, int]:
    """(total bytes of the file or None, byte the body starts at; -1: unusable range)."""
    length = resp.headers.get("Content-Length")
    if resp.status == 206:
        m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
        if not m or int(m.group(1)) != offset:
            return None, -1
        total = m.group(3)
        return (int(total) if total != "*" else size), offset
    total = int(length) if length and length.isdigit() else size
    return total, 0

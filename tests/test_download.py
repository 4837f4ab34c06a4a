"""The resumable, md5-verified downloader against a local HTTP server (never a real host)."""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from segan_cli.core.data.sources import download as dl
from segan_cli.core.data.sources.download import download, file_md5, part_path
from segan_cli.errors import DownloadError


class FileServer(ThreadingHTTPServer):
    """Serves ``files`` (name -> bytes) by the last path segment, with fault switches.

    ``ranges``: honour ``Range`` (206/416) or ignore it (200 with the whole file);
    ``drops``: how many coming responses are cut after ``drop_after`` body bytes;
    ``errors``: how many coming requests (after the drops) get 503; ``corrupt``: flip
    bytes in every body. ``requests`` logs (path, Range header).
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.ranges = True
        self.drops = 0
        self.drop_after = 0
        self.errors = 0
        self.corrupt = False
        self.requests: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FileServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server
        rng = self.headers.get("Range")
        with srv.lock:
            srv.requests.append((self.path, rng))
            drop = srv.drops > 0
            srv.drops -= drop
            fail = not drop and srv.errors > 0
            srv.errors -= fail
        if fail:
            self.send_error(503)
            return
        body = srv.files.get(urlsplit(self.path).path.rsplit("/", 1)[-1])
        if body is None:
            self.send_error(404)
            return
        if srv.corrupt:
            body = bytes(b ^ 0x5A if i % 997 == 0 else b for i, b in enumerate(body))
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and srv.ranges:
            start = int(m.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if drop:
            self.wfile.write(payload[:srv.drop_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)


@contextlib.contextmanager
def serve(files: dict[str, bytes]) -> Iterator[FileServer]:
    """A FileServer on 127.0.0.1 in a background thread for the duration."""
    srv = FileServer()
    srv.files.update(files)
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


class RecordingProgress:
    """A Progress sink remembering every phase and how far it got."""

    def __init__(self) -> None:
        self.phases: list[list] = []
        self.notes: list[str] = []

    def start(self, label: str, total: int | None = None) -> None:
        self.phases.append([label, total, 0])

    def advance(self, n: int = 1) -> None:
        self.phases[-1][2] += n

    def note(self, message: str) -> None:
        self.notes.append(message)


DATA = np.random.default_rng(7).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
MD5 = hashlib.md5(DATA).hexdigest()


@pytest.fixture(autouse=True)
def _no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dl, "RETRY_DELAY", 0.0)


@pytest.fixture
def server() -> Iterator[FileServer]:
    with serve({"data.zip": DATA}) as srv:
        yield srv


def url(srv: FileServer) -> str:
    return f"{srv.base}/files/data.zip?sequence=3&isAllowed=y"


def test_downloads_and_verifies(server: FileServer, tmp_path: Path) -> None:
    progress = RecordingProgress()
    dest = download(url(server), tmp_path / "data.zip", MD5, progress=progress)
    assert dest.read_bytes() == DATA
    assert not part_path(dest).exists()
    assert progress.phases == [["downloading data.zip", len(DATA), len(DATA)]]


def test_retries_a_dropped_connection_with_range(server: FileServer, tmp_path: Path) -> None:
    server.drops, server.drop_after = 2, 100_000
    progress = RecordingProgress()
    dest = download(url(server), tmp_path / "data.zip", MD5, progress=progress, retries=1)
    assert file_md5(dest) == MD5
    assert [r for _, r in server.requests] == [None, "bytes=100000-", "bytes=200000-"]
    assert progress.phases[-1] == ["downloading data.zip", len(DATA), len(DATA)]


def test_rerun_resumes_an_interrupted_transfer(server: FileServer, tmp_path: Path) -> None:
    server.drops, server.drop_after, server.errors = 1, 120_000, 2
    dest = tmp_path / "data.zip"
    with pytest.raises(DownloadError, match="resumes"):
        download(url(server), dest, MD5, retries=1)
    assert [r for _, r in server.requests] == [None, "bytes=120000-", "bytes=120000-"]
    assert not dest.exists()
    assert part_path(dest).stat().st_size == 120_000
    download(url(server), dest, MD5, retries=0)
    assert server.requests[-1][1] == "bytes=120000-"
    assert file_md5(dest) == MD5
    assert not part_path(dest).exists()


def test_server_ignoring_range_restarts_cleanly(server: FileServer, tmp_path: Path) -> None:
    server.ranges = False
    dest = tmp_path / "data.zip"
    part_path(dest).write_bytes(b"stale bytes from another file" * 100)
    download(url(server), dest, MD5)
    assert server.requests[0][1] == f"bytes={29 * 100}-"
    assert dest.read_bytes() == DATA


def test_complete_part_is_finished_on_416(server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "data.zip"
    part_path(dest).write_bytes(DATA)
    download(url(server), dest, MD5)
    assert server.requests == [(urlsplit(url(server))._replace(scheme="", netloc="")
                                .geturl(), f"bytes={len(DATA)}-")]
    assert dest.read_bytes() == DATA


def test_complete_part_of_known_size_needs_no_request(server: FileServer,
                                                       tmp_path: Path) -> None:
    dest = tmp_path / "data.zip"
    part_path(dest).write_bytes(DATA)
    download(url(server), dest, MD5, size=len(DATA))
    assert server.requests == []
    assert dest.read_bytes() == DATA


def test_corruption_is_detected_by_md5(server: FileServer, tmp_path: Path) -> None:
    server.corrupt = True
    dest = tmp_path / "data.zip"
    with pytest.raises(DownloadError) as err:
        download(url(server), dest, MD5)
    text = str(err.value)
    assert "data.zip" in text and MD5 in text and "corrupted; run again" in text
    actual = re.search(r"md5 is ([0-9a-f]{32})", text)
    assert actual and actual.group(1) != MD5
    assert not dest.exists() and not part_path(dest).exists()
    server.corrupt = False  # the advice works: running again succeeds
    download(url(server), dest, MD5)
    assert file_md5(dest) == MD5


def test_present_file_is_not_downloaded_again(server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "data.zip"
    dest.write_bytes(DATA)
    assert download(url(server), dest, MD5) == dest
    assert server.requests == []


def test_present_file_with_wrong_md5_is_replaced(server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "data.zip"
    dest.write_bytes(DATA[:1000])
    progress = RecordingProgress()
    download(url(server), dest, MD5, progress=progress)
    assert len(server.requests) == 1 and server.requests[0][1] is None
    assert dest.read_bytes() == DATA
    assert any("downloading it again" in n for n in progress.notes)


def test_missing_file_fails_without_retrying(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="404"):
        download(f"{server.base}/nothing.zip", tmp_path / "nothing.zip", MD5)
    assert len(server.requests) == 1
    assert not (tmp_path / "nothing.zip").exists()


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    with serve({}) as srv:
        dead = f"{srv.base}/data.zip"
    with pytest.raises(DownloadError, match="failed after 3 attempts"):
        download(dead, tmp_path / "data.zip", MD5, retries=2, timeout=5)
    assert not (tmp_path / "data.zip").exists()

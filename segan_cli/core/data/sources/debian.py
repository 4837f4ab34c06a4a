"""Debian packages as a data source: ``apt-get download`` + ``dpkg-deb -x`` into a cache.

Neither command needs root or installs anything, so any Debian-based machine can
fetch the demo recordings from Debian's archive. Each step lands in the cache under
a temporary name and is renamed when complete, so an interrupted fetch is redone
cleanly and a finished one is never repeated (no network once the cache is warm).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from segan_cli.core.io.files import file_sha256, write_text_atomic
from segan_cli.core.io.temporaries import temp_dir
from segan_cli.errors import CorpusError

DOWNLOAD_TIMEOUT = 1800  # seconds for one apt-get or dpkg-deb call


@dataclass(frozen=True)
class FetchedPackage:
    """An unpacked Debian package in the cache."""

    name: str
    version: str
    deb: str
    sha256: str
    root: Path

    def copyright_file(self) -> Path:
        return self.root / "usr" / "share" / "doc" / self.name / "copyright"

    def record(self) -> dict[str, str]:
        """What the manifest says about this package (provenance)."""
        return {"name": self.name, "version": self.version, "deb": self.deb,
                "sha256": self.sha256}


def fetch_packages(names: list[str], cache: Path, hint: str,
                   advance: Callable[[int], None] | None = None) -> dict[str, FetchedPackage]:
    """Download (once, in one apt-get call) and unpack (once, in parallel) ``names``.

    ``hint`` is what the user can do instead when Debian's tools or archive are
    unavailable; every failure raises CorpusError carrying it.
    """
    cache = Path(cache)
    done = {n: p for n in names if (p := _unpacked(cache, n)) is not None}
    todo = [n for n in names if n not in done]
    if advance and done:
        advance(len(done))
    if not todo:
        return {n: done[n] for n in names}
    debs = cache / "debs"
    fetch = [n for n in todo if _cached_deb(debs, n) is None]
    if fetch:
        _download(fetch, debs, hint)
    _require(["dpkg-deb"], hint)
    workers = max(1, min(len(todo), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        jobs = {n: pool.submit(_unpack, n, _cached_deb(debs, n), cache, hint) for n in todo}
        for n, job in jobs.items():
            done[n] = job.result()
            if advance:
                advance(1)
    return {n: done[n] for n in names}


def _unpacked(cache: Path, name: str) -> FetchedPackage | None:
    root = cache / "extracted" / name
    meta = cache / "extracted" / f"{name}.json"
    if not (meta.is_file() and root.is_dir()):
        return None
    try:
        rec = json.loads(meta.read_text(encoding="utf-8"))
        return FetchedPackage(rec["name"], rec["version"], rec["deb"], rec["sha256"], root)
    except (ValueError, KeyError):
        return None  # unreadable record: unpack again


def _unpack(name: str, deb: Path | None, cache: Path, hint: str) -> FetchedPackage:
    if deb is None:
        raise CorpusError(f"apt-get download did not produce {name}_*.deb", hint)
    root = cache / "extracted" / name
    version = _run(["dpkg-deb", "-f", str(deb), "Version"], None, hint).strip()
    tmp = temp_dir(_mkdir(cache / "extracted"), name)
    try:
        try:
            _run(["dpkg-deb", "-x", str(deb), str(tmp)], None, hint)
        except CorpusError:
            deb.unlink(missing_ok=True)  # a damaged download: fetch it afresh next time
            raise
        shutil.rmtree(root, ignore_errors=True)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    pkg = FetchedPackage(name, version, deb.name, file_sha256(deb), root)
    rec = {k: v for k, v in asdict(pkg).items() if k != "root"}
    write_text_atomic(cache / "extracted" / f"{name}.json", json.dumps(rec, indent=1))
    return pkg


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cached_deb(debs: Path, name: str) -> Path | None:
    found = sorted(debs.glob(f"{name}_*.deb")) if debs.is_dir() else []
    return found[-1] if found else None


def _download(names: list[str], debs: Path, hint: str) -> None:
    """``apt-get download`` into a private folder, then move each .deb into place."""
    _require(["apt-get"], hint)
    tmp = temp_dir(_mkdir(debs), "download")
    try:
        _run(["apt-get", "download", "-q", *names], tmp,
             f"if the package lists are empty or stale, run `sudo apt-get update`; or {hint}",
             f"apt-get download of {len(names)} Debian package(s)")
        for got in sorted(tmp.glob("*.deb")):
            os.replace(got, debs / got.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _require(tools: list[str], hint: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise CorpusError(
            f"the demo corpus is fetched from Debian's archive with apt-get and dpkg-deb, "
            f"but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not "
            f"available on this machine", hint)


def _run(cmd: list[str], cwd: Path | None, hint: str, label: str | None = None) -> str:
    env = {**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}
    label = label or f"`{' '.join(cmd)}`"
    try:
        res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                             timeout=DOWNLOAD_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CorpusError(f"{label} failed: {exc}", hint) from exc
    if res.returncode != 0:
        lines = [ln for ln in res.stderr.splitlines() if ln.startswith("E:")]
        why = (lines or res.stderr.strip().splitlines() or [f"exit code {res.returncode}"])[-1]
        raise CorpusError(f"{label} failed: {why}", hint)
    return res.stdout

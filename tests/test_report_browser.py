"""The report page in a real browser: headless Chromium (Debian's ``chromium``) opens
``index.html`` from disk as a user would, and every picture must decode, every player
must play its file at the file's length, the page must raise no error, sort its table,
and look like something (a screenshot that is not blank).

``scripts/browser.sh`` (run by ``scripts/test.sh``) installs Chromium where apt is
available and the user may; elsewhere this module is skipped and says why.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.headless_chromium import Chromium, chromium_binary

BINARY = chromium_binary()
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="headless Chromium not found (Debian: apt-get install chromium; "
    "scripts/browser.sh does it where apt and root are available)")

CHECK_MEDIA = """
(async () => {
  const images = [...document.images].map(img => ({src: img.getAttribute('src'),
      ok: img.complete && img.naturalWidth > 0, width: img.naturalWidth}));
  const players = [...document.querySelectorAll('audio')];
  const audio = await Promise.all(players.map(a => new Promise(resolve => {
    const source = a.querySelector('source');
    const type = source ? source.getAttribute('type') : '';
    const src = source ? source.getAttribute('src') : a.getAttribute('src');
    const done = ok => resolve({src, type, canPlay: a.canPlayType(type), ok,
                                duration: a.duration, error: a.error && a.error.code});
    if (a.readyState >= 1) { done(true); return; }
    a.addEventListener('loadedmetadata', () => done(true), {once: true});
    a.addEventListener('error', () => done(false), {once: true});
    if (source) source.addEventListener('error', () => done(false), {once: true});
    setTimeout(() => done(false), 20000);
    a.preload = 'auto'; a.load();
  })));
  return {images, audio, title: document.title,
          height: document.documentElement.scrollHeight};
})()
"""

SORT_FILES = """
(() => {
  const table = document.getElementById('files');
  const firstColumn = () => [...table.tBodies[0].rows].map(r => r.cells[0].textContent);
  const before = firstColumn();
  table.tHead.rows[0].cells[0].click();
  const once = firstColumn();
  table.tHead.rows[0].cells[0].click();
  const twice = firstColumn();
  return {before, once, twice};
})()
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory, voicebank_sample_module: Path) -> Path:
    """A report of three rows on four real VoiceBank files, built by the real CLI."""
    from typer.testing import CliRunner

    from segan_cli.cli.app import app

    root = tmp_path_factory.mktemp("browser")
    names = ["p232_003.wav", "p232_005.wav", "p257_008.wav", "p257_019.wav"]
    for kind in ("clean", "noisy"):
        (root / kind).mkdir()
        for n in names:
            shutil.copy(voicebank_sample_module / kind / n, root / kind / n)
    (root / "half").mkdir()  # a crude "system": half of the noise removed
    for n in names:
        c, sr = sf.read(root / "clean" / n, dtype="float32")
        x, _ = sf.read(root / "noisy" / n, dtype="float32")
        sf.write(root / "half" / n, c + 0.5 * (x - c), sr, subtype="PCM_16")
    result = CliRunner().invoke(app, [
        "evaluate", "--clean", str(root / "clean"), "--enhanced", str(root / "noisy"),
        "--enhanced", str(root / "half"), "--name", "Noisy", "--name", "half",
        "--workers", "1", "--report", str(root / "report")])
    assert result.exit_code == 0, result.output
    return root / "report"


@pytest.fixture(scope="module")
def voicebank_sample_module() -> Path:
    from tests.conftest import VOICEBANK_SAMPLE, need_shared

    return need_shared(VOICEBANK_SAMPLE)


def _png_pixels(path: Path) -> np.ndarray:
    """The RGB pixels of a PNG (Pillow arrives with matplotlib)."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(np.int32)


def test_report_page_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    with Chromium(BINARY) as browser:  # type: ignore[arg-type]
        browser.open((report / "index.html").resolve().as_uri())
        media = browser.evaluate(CHECK_MEDIA)
        sorting = browser.evaluate(SORT_FILES)
        shot = browser.screenshot(tmp_path / "page.png")
        problems = browser.problems()
    assert not problems, problems  # no console errors, exceptions or failed loads
    assert media["images"] and all(i["ok"] and i["width"] > 100 for i in media["images"]), \
        media["images"]
    assert len(media["audio"]) >= 9  # 3 files x (noisy, half, clean)
    for player in media["audio"]:
        assert player["canPlay"] in ("probably", "maybe") and player["ok"], player
        seconds = sf.info(report / player["src"]).duration
        assert player["duration"] == pytest.approx(seconds, abs=0.01), player
    before, once, twice = sorting["before"], sorting["once"], sorting["twice"]
    assert sorted(before) == sorted(once) == sorted(twice)
    assert once != twice and (once == sorted(once) or twice == sorted(twice))
    pixels = _png_pixels(shot)
    assert pixels.shape[1] >= 1000 and pixels.shape[0] >= 1000
    assert pixels.std() > 20  # not blank: text, tables, plots
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200

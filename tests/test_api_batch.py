"""The Python API items of issue 19 (item 7): the overwrite hint in Python's words, the
dry share in load() and repr, and enhance_batch for clips of different lengths, on real
VoiceBank recordings with the shipped model and the tiny checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import segan_cli
from segan_cli.core.io.output_guard import OutputExistsError


@pytest.fixture(scope="module")
def denoiser(tiny_ckpt: Path) -> segan_cli.Denoiser:
    return segan_cli.load(tiny_ckpt)


def _clips(voicebank_sample: Path) -> tuple[list[np.ndarray], int]:
    names = ("p232_005", "p232_006", "p257_008")
    out = [sf.read(voicebank_sample / "noisy" / f"{n}.wav", dtype="float32") for n in names]
    sr = out[0][1]
    x = [a for a, _ in out]
    return [x[0][: sr // 3], x[1], x[2][: sr * 2]], sr  # 1/3 s, whole, 2 s


def test_enhance_batch_equals_one_call_per_clip(denoiser: segan_cli.Denoiser,
                                                voicebank_sample: Path) -> None:
    clips, sr = _clips(voicebank_sample)
    outs = denoiser.enhance_batch(clips, sr)
    assert [o.shape for o in outs] == [c.shape for c in clips]
    for clip, out in zip(clips, outs, strict=True):
        assert np.array_equal(out, denoiser.enhance(clip, sr))
    tensors = denoiser.enhance_batch([torch.from_numpy(c) for c in clips], sr)
    assert all(isinstance(t, torch.Tensor) for t in tensors)
    np.testing.assert_allclose(tensors[1].numpy(), outs[1], atol=1e-6)


def test_enhance_batch_checks_every_clip_first(denoiser: segan_cli.Denoiser,
                                               voicebank_sample: Path, monkeypatch) -> None:
    clips, sr = _clips(voicebank_sample)
    ran = []
    monkeypatch.setattr(denoiser.enhancer, "enhance", lambda *a: ran.append(a))
    bad = [*clips[:2], clips[2].astype(np.int16)]
    with pytest.raises(segan_cli.SignalError, match="clip 2 has dtype int16"):
        denoiser.enhance_batch(bad, sr)
    with pytest.raises(segan_cli.SignalError, match="a list of clips"):
        denoiser.enhance_batch(np.stack([clips[0], clips[0]]), sr)
    assert not ran


def test_overwrite_hint_speaks_python(denoiser: segan_cli.Denoiser, voicebank_sample: Path,
                                      tmp_path: Path) -> None:
    src = voicebank_sample / "noisy" / "p232_005.wav"
    denoiser.enhance_file(src, tmp_path / "o.wav")
    with pytest.raises(OutputExistsError) as caught:
        denoiser.enhance_file(src, tmp_path / "o.wav")
    assert "overwrite=True" in str(caught.value) and "--overwrite" not in str(caught.value)
    denoiser.enhance_file(src, tmp_path / "o.wav", overwrite=True)


def test_dry_in_load_and_repr(tiny_ckpt: Path, monkeypatch) -> None:
    import inspect

    assert "dry" in inspect.signature(segan_cli.load).parameters
    plain = segan_cli.load(tiny_ckpt)
    assert plain.dry == 0.0 and "dry=0," in repr(plain)
    half = segan_cli.load(tiny_ckpt, dry=0.25)
    assert half.dry == 0.25 and "dry=0.25," in repr(half)
    from segan_cli.weights import ENV_VAR, packaged_default

    monkeypatch.delenv(ENV_VAR, raising=False)
    if packaged_default().is_file():  # the shipped model mixes its own share back
        shipped = segan_cli.load("default")
        own = shipped.bundle.settings.enhance.dry
        assert shipped.dry == own and f"dry={own:g}," in repr(shipped)

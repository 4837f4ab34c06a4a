"""Shared fixtures: the real reference audio in ../shared/data and a CLI runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from segan_cli.cli.app import app

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
VOICEBANK_SAMPLE = SHARED_DATA / "voicebank-sample"
PESQ_PAIR = SHARED_DATA / "pesq-pair"


def need_shared(path: Path) -> Path:
    """Skip the calling test when the shared reference audio is absent."""
    if not path.exists():
        pytest.skip(f"reference audio not found at {path} (../shared/data is not beside "
                    "this checkout)")
    return path


@pytest.fixture
def voicebank_sample() -> Path:
    return need_shared(VOICEBANK_SAMPLE)


@pytest.fixture
def one_torch_thread():
    """Tiny tensors gain nothing from threads, and spinning threads stall on a busy host."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory) -> Path:
    """The 25 voicebank-sample pairs prepared as a corpus; p257 is the test speaker."""
    from segan_cli.core.data.sources.pairs import prepare_pairs

    sample = need_shared(VOICEBANK_SAMPLE)
    out = tmp_path_factory.mktemp("sample") / "corpus"
    prepare_pairs(sample / "clean", sample / "noisy", out, test_speakers=["p257"])
    return out


@pytest.fixture(scope="session")
def short_train_corpus(tmp_path_factory) -> Path:
    """Real VoiceBank speech cut to 1 s: 3 training and 1 validation utterances.

    Shared by the training tests (they only read it; runs go to their own folders).
    """
    from segan_cli.core.data.sources.pairs import prepare_pairs

    sample = need_shared(VOICEBANK_SAMPLE)
    root = tmp_path_factory.mktemp("short-train")
    for kind in ("clean", "noisy"):
        (root / kind).mkdir()
        for name in ("p232_005", "p232_006", "p232_011", "p257_008"):
            x, sr = sf.read(sample / kind / f"{name}.wav", dtype="float32")
            sf.write(root / kind / f"{name}.wav", x[8000:24000], sr)
    prepare_pairs(root / "clean", root / "noisy", root / "corpus", valid_speakers=["p257"])
    return root / "corpus"


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A tiny untrained-but-real checkpoint in the training checkpoint format (window
    1024): enough to run every file path of `segan enhance` in a second."""
    import torch

    from segan_cli.core.training.module import SeganGAN
    from segan_cli.settings import load_settings

    settings = load_settings(REPO / "configs" / "tiny.yaml",
                             ["data.window=1024", "data.hop=512"])
    torch.manual_seed(0)
    module = SeganGAN(settings, None)
    module.set_reference_batch(torch.randn(2, 1, 1024) * 0.1, torch.randn(2, 1, 1024) * 0.1)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "global_step": 0}, path)
    return path


class Cli:
    """Runs the real Typer app in-process; returns the click Result."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str | Path, code: int | None = 0):
        result = self.runner.invoke(app, [str(a) for a in args])
        if code is not None and result.exit_code != code:
            raise AssertionError(
                f"segan {' '.join(map(str, args))} exited {result.exit_code}, expected {code}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n"
                f"exception: {result.exception!r}")
        return result


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def real_noise_dir(tmp_path: Path, voicebank_sample: Path) -> Path:
    """Real DEMAND noise: the difference noisy - clean of a few sample pairs."""
    out = tmp_path / "noise"
    out.mkdir()
    for name in ("p232_003", "p232_011", "p257_008", "p257_019"):
        c, sr = sf.read(voicebank_sample / "clean" / f"{name}.wav", dtype="float32")
        n, _ = sf.read(voicebank_sample / "noisy" / f"{name}.wav", dtype="float32")
        sf.write(out / f"demand_{name}.wav", (n - c).astype(np.float32), sr, subtype="FLOAT")
    return out

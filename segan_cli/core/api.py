"""The public Python API: load a model once, enhance arrays and files, score pairs.

``segan_cli.load``, ``segan_cli.evaluate`` and the rest are re-exported from here. Each
call reuses the pieces the CLI runs (``--ckpt default`` resolution, the streaming
:class:`~segan_cli.core.enhancement.whole_file.Enhancer` with the ``enhance`` settings'
defaults, the batch planner's output checks, the metrics suite), so a notebook and ``segan enhance``
or ``segan evaluate`` give the same numbers. Torch is imported when a model is loaded,
not when this module is.

Channel axis: a 2-D array is ``(time, channels)``, as soundfile reads and writes
audio, or ``(channels, time)`` with ``channels_first=True``. A shape that reads as more
channels than samples, or more than :data:`MAX_CHANNELS` channels, is refused rather
than guessed: a channels-first ``(2, 16000)`` taken as 16000 channels ran for minutes.
"""

from __future__ import annotations

import operator
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np

from segan_cli.errors import SeganError

if TYPE_CHECKING:
    import torch

    from segan_cli.core.enhancement.inference import GeneratorBundle
    from segan_cli.core.enhancement.whole_file import Enhancer, EnhanceReport
    from segan_cli.core.metrics.suite import BatchResult
    from segan_cli.settings import EnhanceSettings

MAX_CHANNELS = 32
"""Most channels an in-memory signal may have; more is taken for a transposed array."""

MAX_RATE = 2**31 - 1
"""Highest sample rate taken, in Hz: what a file's header (and libsndfile) can hold."""

Audio = TypeVar("Audio", np.ndarray, "torch.Tensor")
PathLike = str | os.PathLike


class SignalError(SeganError, ValueError):
    """An in-memory signal the API will not guess about: its shape, dtype, rate or samples.

    A ``ValueError`` (a bad argument) and a ``SeganError`` (with a hint saying the fix).
    """


def as_frames(x: Any, channels_first: bool = False, what: str = "signal") -> np.ndarray:
    """``x`` (a NumPy array or anything ``np.asarray`` takes) as float32 ``(time, channels)``.

    Refuses what would be misread rather than guessing: integer samples (taken as
    floats they would clip at full scale), 0 or 3+ dimensions, no samples, more
    channels than samples or than :data:`MAX_CHANNELS`, and NaN/Inf samples.
    """
    arr = np.asarray(x)
    shape = tuple(arr.shape)
    if arr.dtype.kind != "f":
        raise SignalError(f"{what} has dtype {arr.dtype}: expected float samples in [-1, 1]",
                          "convert it, e.g. x.astype(np.float32) / 32768 for 16-bit integers")
    if arr.ndim not in (1, 2):
        raise SignalError(f"{what} has shape {shape}: expected (time,) or "
                          f"{'(channels, time)' if channels_first else '(time, channels)'}")
    if arr.size == 0:
        raise SignalError(f"{what} holds no samples (shape {shape})")
    frames = arr[:, None] if arr.ndim == 1 else (arr.T if channels_first else arr)
    length, channels = frames.shape
    if channels > MAX_CHANNELS or channels > length:
        read, flip = (("(channels, time)", "(time, channels), drop channels_first=True")
                      if channels_first else
                      ("(time, channels)", "(channels, time), pass channels_first=True"))
        why = (f"at most {MAX_CHANNELS} are taken" if channels <= length else
               "more channels than samples")
        # the other reading is worth suggesting only when it would be accepted
        hint = (f"if it is {flip}" if length <= min(MAX_CHANNELS, channels) else
                f"enhance at most {MAX_CHANNELS} channels at a time")
        raise SignalError(f"{what} of shape {shape} read as {read} has {channels} channels "
                          f"of {length} samples: {why}", hint)
    finite = np.isfinite(frames)
    if not finite.all():
        raise SignalError(f"{what} holds {int(finite.size - np.count_nonzero(finite))} "
                          "NaN/Inf samples", "clean or drop them before enhancing")
    return np.ascontiguousarray(frames, dtype=np.float32)


def _as_numpy(x: Any) -> tuple[Any, torch.device | None]:
    """(NumPy-convertible samples, the tensor's device or None): torch stays unimported
    unless the caller already imported it, since only then can ``x`` be a tensor."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        if x.is_meta:
            raise SignalError(f"the tensor of shape {tuple(x.shape)} is on the meta device: "
                              "it has a shape but no samples",
                              "create it on a real device (cpu, cuda)")
        t = x.detach()
        if t.is_floating_point():  # bfloat16 has no NumPy dtype
            t = t.to(dtype=torch.float32)
        try:
            return t.cpu().numpy(), x.device
        # sparse and quantised layouts refuse .numpy() with one of these
        except (RuntimeError, TypeError, NotImplementedError) as exc:
            raise SignalError(f"a {x.layout} tensor on {x.device} cannot be read as samples "
                              f"({str(exc).splitlines()[0]})",
                              "pass a dense tensor, e.g. x.to_dense()") from None
    return x, None


def _is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _check_rate(sr: Any) -> int:
    """A rate an audio file could declare: 1 Hz up to :data:`MAX_RATE` (10**12 Hz
    resampled a signal to nothing, and the result was all zeros)."""
    try:
        rate = operator.index(sr)
    except TypeError:
        raise SignalError(f"sample rate {sr!r} is not an integer number of Hz") from None
    if isinstance(sr, bool) or rate <= 0:
        raise SignalError(f"sample rate {sr!r} is not a positive number of Hz")
    if rate > MAX_RATE:
        raise SignalError(f"sample rate {rate} Hz is above {MAX_RATE} Hz, the most an audio "
                          "file can declare", "pass the rate of the samples in Hz")
    return rate


class Denoiser:
    """A loaded model: enhances arrays and files as ``segan enhance`` does. Use :func:`load`."""

    @classmethod
    def open(cls, path: PathLike, options: EnhanceSettings) -> Denoiser:
        """The model at ``path`` (a resolved checkpoint or model file) with ``options``
        (device, chunking, batch, seed, DC blocker, dry), as ``segan enhance`` loads
        one (:func:`load` builds the same object, on the device it is given). A
        checkpoint unfit to enhance is refused here."""
        from segan_cli.core.enhancement.inference import load_bundle

        return cls(load_bundle(Path(path), options.device), options)

    def __init__(self, bundle: GeneratorBundle, options: EnhanceSettings) -> None:
        from segan_cli.core.enhancement.batch_enhance import bundle_enhancer

        self.bundle = bundle
        #: the CLI's single-process enhancer, with the same options
        self.enhancer = cast("Enhancer", bundle_enhancer(
            bundle, options.chunking, options.batch_size, options.block_seconds,
            options.seed, options.dc_block_hz,
            options.requested_dry))

    def file_enhancer(self) -> Enhancer:
        """The whole-file enhancer behind :meth:`enhance_file`; ``segan enhance`` runs
        this same object (one path for the API and the CLI)."""
        return self.enhancer

    @property
    def sample_rate(self) -> int:
        """The rate the model runs at; inputs at other rates are resampled to it and back."""
        return int(self.bundle.settings.data.sample_rate)

    @property
    def window(self) -> int:
        """Samples per model window (at :attr:`sample_rate`)."""
        return int(self.bundle.settings.data.window)

    @property
    def arch(self) -> str:
        """The architecture: ``segan`` or ``adv``."""
        return self.bundle.arch

    @property
    def step(self) -> int | None:
        """GAN training steps behind the weights (generator and discriminator update once
        per step), as ``segan info`` counts them; None when the file does not say."""
        from segan_cli.core.enhancement.inference import OPTIMIZER_STEPS_PER_BATCH

        package = self.bundle.package or {}
        if package.get("step") is not None:
            return int(package["step"])
        steps = self.bundle.step
        return None if steps is None else int(steps) // OPTIMIZER_STEPS_PER_BATCH

    @property
    def path(self) -> Path | None:
        """The checkpoint or model file the weights came from."""
        return self.bundle.path

    @property
    def device(self) -> torch.device:
        """Where the generator runs."""
        return next(self.bundle.generator.parameters()).device

    @property
    def dry(self) -> float:
        """The share of the input mixed back into every output (``load(dry=...)``, else
        the model's own, which ``segan info`` shows); 1 returns the input unchanged."""
        return float(self.enhancer.model.dry)

    def __repr__(self) -> str:
        return (f"Denoiser(arch={self.arch!r}, sample_rate={self.sample_rate}, "
                f"window={self.window}, step={self.step}, dry={self.dry:g}, "
                f"path={str(self.path)!r})")

    def enhance(self, x: Audio, sr: int, *, channels_first: bool = False) -> Audio:
        """Enhance an in-memory recording at any rate; same type, shape and rate out.

        ``x`` is a NumPy array or a torch tensor of float samples, ``(time,)`` or
        ``(time, channels)`` (``(channels, time)`` with ``channels_first=True``). NumPy
        in gives float32 NumPy out; a tensor gives a float32 tensor on its device.
        Shapes that could be a transposed array raise :class:`SignalError`.
        """
        from segan_cli.core.enhancement.whole_file import emitted_error

        data, device = _as_numpy(x)
        frames = as_frames(data, channels_first)
        out = self.enhancer.enhance(frames, _check_rate(sr))
        finite = np.isfinite(out)
        if not finite.all():  # the file path refuses to write these; so does this one
            raise emitted_error(int(finite.size - np.count_nonzero(finite)), "the signal",
                                float(np.max(np.abs(frames))))
        ndim = np.ndim(data)
        result = out[:, 0] if ndim == 1 else (out.T if channels_first else out)
        result = np.ascontiguousarray(result, dtype=np.float32)
        if device is None:
            return cast("Audio", result)
        import torch

        return cast("Audio", torch.from_numpy(result).to(device))

    def enhance_file(self, src: PathLike, dst: PathLike, overwrite: bool = False
                     ) -> EnhanceReport:
        """Enhance one file exactly as ``segan enhance SRC DST`` does (the same function).

        Same rate, channels, length and sample format out; ``dst`` may be a folder (the
        input's name is kept). It appears only when complete, never replaces the input,
        and replaces an existing file only with ``overwrite``.
        """
        from segan_cli.core.enhancement.batch_enhance import enhance_one
        from segan_cli.core.io.output_guard import OutputExistsError

        try:
            return enhance_one(self.enhancer, Path(src), Path(dst), overwrite)
        except OutputExistsError as exc:  # the CLI's hint names its flag; this is Python
            raise OutputExistsError(exc.message, "pass overwrite=True to replace it"
                                    ) from None

    def enhance_batch(self, signals: Sequence[Audio], sr: int, *,
                      channels_first: bool = False) -> list[Audio]:
        """Enhance clips of different lengths (a list, as DeepFilterNet's users pass):
        one output per clip, each as :meth:`enhance` gives it.

        Each clip's windows already go through the model ``batch_size`` at a time, so
        this loop is as fast per second of audio as one long signal
        (``scripts/bench_batch.py`` measures it); every clip is checked before any runs.
        """
        if isinstance(signals, np.ndarray) or _is_tensor(signals):
            raise SignalError("enhance_batch takes a list of clips, not one array",
                              "pass a list, e.g. list(x), or call enhance(x, sr)")
        for i, x in enumerate(signals):
            data, _ = _as_numpy(x)
            as_frames(data, channels_first, what=f"clip {i}")
        return [self.enhance(x, sr, channels_first=channels_first) for x in signals]


def load(ckpt: PathLike = "default", device: str | torch.device = "cpu", *,
         chunking: str | None = None, batch_size: int | None = None,
         seed: int | None = None, dc_block_hz: float | None = None,
         dry: float | None = None) -> Denoiser:
    """Load a model once to enhance many signals: ``"default"`` or a checkpoint path.

    ``"default"`` resolves as ``--ckpt default`` does (``$SEGAN_DEFAULT_MODEL``, else
    the shipped model, else a CheckpointError saying none ships). The options are
    those of ``segan enhance``; None keeps the settings' default, as the CLI does
    (``dry`` None: the model's own share of input mixed back).
    """
    from segan_cli.settings import load_settings
    from segan_cli.weights import resolve_checkpoint

    options = load_settings(extra={"enhance": {
        "chunking": chunking, "batch_size": batch_size, "seed": seed,
        "dc_block_hz": dc_block_hz, "dry": dry}}).enhance
    from segan_cli.core.enhancement.inference import load_bundle

    return Denoiser(load_bundle(resolve_checkpoint(ckpt), device), options)


def _scoring_input(x: Any, channels_first: bool, what: str) -> Path | np.ndarray:
    if isinstance(x, (str, os.PathLike)):
        return Path(x)
    data, _ = _as_numpy(x)
    return as_frames(data, channels_first, what)


def evaluate(clean: Any, enhanced: Any, sr: int | None = None, mode: str = "standard", *,
             resample: bool = False, extended_stoi: bool = False,
             channels_first: bool = False) -> dict[str, float]:
    """Score one pair with the suite ``segan evaluate`` runs per file (same functions).

    ``clean`` and ``enhanced`` are file paths, arrays or tensors (channels averaged);
    arrays need ``sr``. Returns PESQ, CSIG, CBAK, COVL, SSNR, STOI, SI-SDR, LLR and WSS
    (plus ESTOI with ``extended_stoi``); ``mode="paper"`` is the MATLAB-compatible
    variant. Anything unscorable raises MetricInputError (a ValueError).
    """
    from segan_cli.core.metrics.suite import load_pair, score_utterance
    from segan_cli.core.metrics.threads import single_threaded_blas

    c = _scoring_input(clean, channels_first, "clean")
    e = _scoring_input(enhanced, channels_first, "enhanced")
    rate = None if sr is None else _check_rate(sr)
    with single_threaded_blas():  # as in segan evaluate: faster, identical numbers
        c, e, rate = load_pair(c, e, rate, resample)
        return score_utterance(c, e, rate, mode, extended_stoi)  # type: ignore[arg-type]


def evaluate_folder(clean_dir: PathLike, enhanced_dir: PathLike, mode: str = "standard", *,
                    workers: int = 1, resample: bool = False, extended_stoi: bool = False
                    ) -> BatchResult:
    """Score a folder of enhanced files against the clean ones, as
    ``segan evaluate --clean DIR --enhanced DIR`` does (the same functions).

    Files are matched by relative path; clean files without an enhanced version (and
    the reverse) are listed in ``result.warnings``, unscorable files in
    ``result.failures``. ``result.rows`` holds per-file scores, ``result.means()`` and
    ``result.summary`` the means with 95% intervals.
    """
    from segan_cli.core.evaluation.plans import folder_systems, score_systems
    from segan_cli.core.metrics.suite import Failure

    (system,) = folder_systems(Path(clean_dir), [Path(enhanced_dir)])
    score_systems([system], workers, mode, resample, extended_stoi)
    result = system.result
    assert result is not None
    result.warnings[:0] = [Failure(str(enhanced_dir), note) for note in system.notes]
    return result

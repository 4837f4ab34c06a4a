"""From a checkpoint to a window model the enhancer can run, with nothing else needed.

A training checkpoint is self-contained: its hyper-parameters hold the settings
(architecture, widths, window, emphasis, normalisation), the corpus statistics and
the package version. Loading never executes pickled code (``weights_only=True``)
and builds only the generator. :func:`checkpoint_info` reads the same files for
``segan info`` without building anything.
"""

from __future__ import annotations

import contextlib
import math
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segan_cli.core.enhancement.package_record import package_record
from segan_cli.core.models import GeneratorBase, SignalTransform, build_generator
from segan_cli.core.models.transforms import STAT_KEYS
from segan_cli.errors import CheckpointError, SeganError, SettingsError, special_kind
from segan_cli.settings import Settings, check_device_name, validate_settings

GENERATOR_PREFIX = "generator."
EMA_PREFIX = "generator_ema."
#: a checkpoint's ``global_step`` is Lightning's count of optimiser steps: one GAN step
#: (a batch) steps the discriminator and the generator, so it counts each batch twice
OPTIMIZER_STEPS_PER_BATCH = 2


@dataclass
class GeneratorBundle:
    """A generator with the settings and statistics it was trained with."""

    generator: GeneratorBase
    settings: Settings
    stats: dict[str, float]
    version: str
    path: Path | None = None
    step: int | None = None
    #: for a packaged model file (scripts/package_default.py): where it came from
    package: dict[str, Any] | None = None

    @property
    def arch(self) -> str:
        return self.settings.model.arch


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` takes CUDA when present; a named device (``cuda:1``, ``mps``) must exist
    on this machine, else a clear error before any work."""
    try:
        name = check_device_name(name)
    except ValueError as exc:
        raise SeganError(f"--device {exc}") from None
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    present = {"cpu": lambda: 1, "cuda": torch.cuda.device_count,
               "mps": lambda: int(torch.backends.mps.is_available()),
               "xpu": lambda: torch.xpu.device_count() if hasattr(torch, "xpu") else 0}
    count = present[device.type]()
    if device.index is not None and device.index >= count or count == 0:
        have = f"{count} {device.type} device(s)" if count else f"no {device.type} device"
        raise SeganError(f"--device {name} was asked for but this machine has {have}",
                         "use --device cpu or auto")
    return device


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint file's dict without running pickled code."""
    path = Path(path)
    if kind := special_kind(path):
        raise CheckpointError(f"checkpoint {path} is {kind}, not a file",
                              "pass a .ckpt written by `segan train`, or a model file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}",
                              "train one with `segan train` or check the --ckpt path")
    _check_archive(path)
    try:
        with warnings.catch_warnings():  # e.g. a foreign pickle protocol: the error says it
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for a damaged file
        raise CheckpointError(f"{path} is not a readable checkpoint: it is corrupted or not "
                              f"a segan checkpoint ({type(exc).__name__})") from exc
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a segan training checkpoint (no state_dict)")
    state = ckpt["state_dict"]
    odd = "its state_dict is not a mapping" if not isinstance(state, Mapping) else next(
        (f"state_dict entry {k!r} is not a tensor" for k, v in state.items()
         if not isinstance(v, torch.Tensor)), None)
    if odd is not None:
        raise CheckpointError(f"{path} is not a segan training checkpoint: {odd}",
                              "the checkpoint was edited or damaged; use one written by "
                              "`segan train`")
    check_storage(state, path)
    return ckpt


_CRAFTED = "the checkpoint was edited or damaged; use one written by `segan train`"


def _check_archive(path: Path) -> None:
    """Refuse a checkpoint archive whose entries unpack to more bytes than the file
    holds: torch writes them uncompressed, so only a crafted file can, and it could
    make loading allocate far more than its size."""
    with contextlib.suppress(OSError, zipfile.BadZipFile):
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > path.stat().st_size:
            raise CheckpointError(f"{path} unpacks to {unpacked} bytes from a file of "
                                  f"{path.stat().st_size}: not a checkpoint torch wrote",
                                  _CRAFTED)


def check_storage(state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Refuse tensors that declare more values than the file stores for them.

    A tensor saved expanded (stride 0) or as an overlapping view passes every shape
    check while holding a few bytes, and the generator built to receive it would
    allocate its full size: a 38 kB file asked for 4 GB. With every value stored,
    what loading a checkpoint allocates is bounded by the file's own size.
    """
    stored: dict[int, int] = {}
    declared = 0
    for name, value in state.items():
        need = value.numel() * value.element_size()
        storage = value.untyped_storage()
        have = storage.nbytes() - value.storage_offset() * value.element_size()
        if need > have:
            raise CheckpointError(f"{path}: tensor {name} declares {value.numel()} values "
                                  f"but the file stores {max(have, 0) // value.element_size()}"
                                  " for it", _CRAFTED)
        stored[storage.data_ptr()] = storage.nbytes()
        declared += need
    if declared > sum(stored.values()):
        raise CheckpointError(f"{path}: its tensors declare {declared} bytes but the file "
                              f"stores {sum(stored.values())} (tensors share their values)",
                              _CRAFTED)


def checkpoint_settings(ckpt: dict[str, Any], path: Path,
                        expect_arch: str | None = None) -> Settings:
    """The settings a training checkpoint was written with, validated.

    Every reader of checkpoints (enhance, evaluate, resume, info, the LightningModule)
    goes through here, so a foreign, outdated or wrong-arch file reads the same way.
    """
    hp = ckpt.get("hyper_parameters")
    if not isinstance(hp, dict) or not isinstance(hp.get("settings"), dict):
        raise CheckpointError(f"{path} is not a segan training checkpoint: it holds no segan "
                              "settings", "pass a .ckpt written by `segan train`")
    try:  # the same validators (and size bounds) as a settings file
        settings = validate_settings(hp["settings"], f"{path} settings")
    except SettingsError as exc:
        raise CheckpointError(exc.message, "the checkpoint was edited, damaged or written by "
                              "another version; use one written by `segan train`") from exc
    if expect_arch is not None and settings.model.arch != expect_arch:
        raise CheckpointError(f"{path} holds a '{settings.model.arch}' model, "
                              f"expected '{expect_arch}'")
    return settings


def _generator_for(settings: Settings, state: dict[str, Any], path: Path) -> GeneratorBase:
    """The generator with ``state`` loaded; shapes are checked on the meta device first,
    so settings promising a larger model than the file holds allocate nothing."""
    try:
        with torch.device("meta"):
            build_generator(settings.model, settings.data.window).load_state_dict(
                state, assign=True)
        gen = build_generator(settings.model, settings.data.window)
        gen.load_state_dict(state)
    except SettingsError as exc:
        raise CheckpointError(f"{path}: {exc.message}", exc.hint) from exc
    except (RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: generator weights do not match its settings "
                              f"({str(exc).splitlines()[0]})") from exc
    return gen


_DIVERGED = ("the checkpoint is damaged or its training diverged; use an earlier "
             "checkpoint of the run")


def check_weights(state: Mapping[str, Any], path: Path) -> None:
    """Refuse NaN/Inf weights: such a model writes full-scale noise as if it were audio."""
    for name, value in state.items():
        if torch.is_tensor(value) and value.is_floating_point():
            finite = torch.isfinite(value)
            if not bool(finite.all()):
                raise CheckpointError(f"{path}: tensor {name} holds "
                                      f"{int((~finite).sum())} NaN/Inf values", _DIVERGED)


def check_stats(stats: Any, settings: Settings, path: Path) -> dict[str, float]:
    """The corpus statistics as floats: finite, with positive deviations for a z-score
    model (which divides by them), or a CheckpointError naming the bad one."""
    if stats is None:
        stats = {}
    if not isinstance(stats, Mapping):
        raise CheckpointError(f"{path}: corpus statistics are not a mapping", _DIVERGED)
    out: dict[str, float] = {}
    for key, value in stats.items():
        try:
            out[str(key)] = number = float(value)
        except (TypeError, ValueError):
            raise CheckpointError(f"{path}: corpus statistic {key} is not a number "
                                  f"({value!r})", _DIVERGED) from None
        if not math.isfinite(number):
            raise CheckpointError(f"{path}: corpus statistic {key} is {number}", _DIVERGED)
    if settings.model.input_norm == "zscore":
        missing = [k for k in STAT_KEYS if k not in out]
        if missing:
            raise CheckpointError(f"{path}: a z-score model without the corpus statistics "
                                  f"{', '.join(missing)}", _DIVERGED)
        for key in ("noisy_std", "clean_std"):
            if out[key] <= 0:
                raise CheckpointError(f"{path}: corpus statistic {key} is {out[key]}, "
                                      "not positive", _DIVERGED)
    return out


def load_bundle(path: Path, device: str | torch.device = "cpu",
                expect_arch: str | None = None) -> GeneratorBundle:
    """The generator of a training checkpoint, in eval mode on ``device``.

    Refused when its settings, weights or corpus statistics could not enhance
    anything (bounds, NaN/Inf, non-positive deviations), naming the bad entry.
    """
    ckpt = read_checkpoint(path)
    settings = checkpoint_settings(ckpt, path, expect_arch)
    hp = ckpt["hyper_parameters"]
    stats = check_stats(hp.get("stats"), settings, path)
    weights = ckpt["state_dict"]
    # the EMA weights, when the run kept them, are the ones validation chose
    prefix = EMA_PREFIX if any(k.startswith(EMA_PREFIX) for k in weights) else GENERATOR_PREFIX
    state = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    check_weights(state, path)
    gen = _generator_for(settings, state, path)
    gen.eval().to(pick_device(device) if isinstance(device, str) else device)
    package = ckpt.get("segan_package")
    return GeneratorBundle(gen, settings, stats,
                           str(hp.get("version", "unknown")), Path(path),
                           ckpt.get("global_step"),
                           dict(package) if isinstance(package, dict) else None)


class GeneratorModel:
    """Maps pre-emphasised noisy windows to enhanced ones (the enhancer's WindowModel).

    z is zeros by default; with ``seed`` it is a reproducible N(0, I) draw. ``dry``
    mixes that share of each input window back into its output (``enhance.dry``; None
    takes the value in ``settings``): everything after the model (overlap-add,
    de-emphasis, DC blocker) is linear, so this is the input mixed into the output
    sample for sample, and it keeps speech natural where a model over-corrects.
    """

    def __init__(self, generator: GeneratorBase, settings: Settings,
                 stats: dict[str, float] | None = None, seed: int | None = None,
                 dry: float | None = None) -> None:
        self.generator = generator
        self.dry = float(settings.enhance.dry if dry is None else dry)
        if not 0.0 <= self.dry <= 1.0:
            raise ValueError(f"dry share {self.dry} is outside 0..1")
        self.sample_rate = settings.data.sample_rate
        self.window = settings.data.window
        self.preemphasis = settings.model.preemphasis
        # pre-emphasis runs over the whole stream; here only the z-score part applies
        self.transform = SignalTransform(0.0, stats if settings.model.input_norm == "zscore"
                                         else None)
        if settings.model.input_norm == "zscore":
            SignalTransform.from_settings(settings.model, stats)  # validates stats
        self.device = next(generator.parameters()).device
        self._rng = None
        if seed is not None:
            self._rng = torch.Generator(device=self.device)
            self._rng.manual_seed(int(seed))

    @classmethod
    def from_bundle(cls, bundle: GeneratorBundle, seed: int | None = None,
                    dry: float | None = None) -> GeneratorModel:
        """The model of a loaded checkpoint; ``dry`` None keeps the checkpoint's own."""
        return cls(bundle.generator, bundle.settings, bundle.stats, seed, dry)

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        x = x.to(self.device)[:, None, :]
        x = self.transform.to_model_input(x)
        zeros = self._rng is None
        z = self.generator.latent(x.shape[0], self.device, generator=self._rng, zeros=zeros,
                                  length=x.shape[-1])
        was_training = self.generator.training
        self.generator.eval()
        try:
            y = self.generator(x, z)
        finally:
            self.generator.train(was_training)
        y = self.transform.from_model_output(y)[:, 0, :].float().cpu().numpy()
        if self.dry:
            y = (1.0 - self.dry) * y + self.dry * np.asarray(batch, dtype=np.float32)
        return y


def checkpoint_info(path: Path) -> dict[str, Any]:
    """A JSON-ready summary of a training checkpoint or packaged model (no model is built)."""
    ckpt = read_checkpoint(path)
    settings = checkpoint_settings(ckpt, path)
    hp = ckpt["hyper_parameters"]
    state = ckpt["state_dict"]

    def params(prefix: str) -> int:
        return int(sum(v.numel() for k, v in state.items()
                       if k.startswith(prefix) and k != "discriminator.ref_batch"))

    ref = state.get("discriminator.ref_batch")
    scores: dict[str, float] = {}
    for key, value in (ckpt.get("callbacks") or {}).items():
        if key.startswith("ModelCheckpoint") and isinstance(value, dict):
            for field in ("best_model_score", "current_score"):
                v = value.get(field)
                if isinstance(v, torch.Tensor):
                    v = float(v)
                if isinstance(v, float):
                    scores[f"{value.get('monitor', 'score')} ({field.split('_')[0]})"] = v
    m, d, t = settings.model, settings.data, settings.train
    package = package_record(ckpt)
    model_summary = {  # what both kinds of file say about the model
        "sample_rate": d.sample_rate, "window": d.window,
        "encoder_channels": m.encoder_channels, "kernel_size": m.kernel_size,
        "preemphasis": m.preemphasis, "input_norm": m.input_norm, "head": m.head,
        "corpus_stats": hp.get("stats")}
    if package is not None:  # a packaged model: the generator and where it came from
        return {
            "path": str(path),
            "kind": "packaged model",
            "arch": m.arch,
            "segan_version": hp.get("version"),
            "gan_steps": package.get("step"),
            "file_size_mb": round(Path(path).stat().st_size / 1e6, 2),
            "generator_parameters": params("generator."),
            **model_summary,
            "package": package,
        }
    return {
        "path": str(path),
        "arch": m.arch,
        "segan_version": hp.get("version"),
        "lightning_version": ckpt.get("pytorch-lightning_version"),
        "epoch": ckpt.get("epoch"),
        "gan_steps": (ckpt.get("global_step") or 0) // OPTIMIZER_STEPS_PER_BATCH,
        "generator_parameters": params("generator."),
        "discriminator_parameters": params("discriminator."),
        "reference_batch": list(ref.shape) if isinstance(ref, torch.Tensor) else None,
        **model_summary,
        "optimizer": f"{t.optimizer} lr_g {t.lr_g:g} lr_d {t.lr_d:g}",
        "batch_size": t.batch_size,
        "cpu_hours": _cpu_hours(ckpt),
        "scores": scores,
    }


def _cpu_hours(ckpt: dict[str, Any]) -> float | None:
    """CPU-hours the run has cost over all its sessions (None: trained before this was kept)."""
    state = (ckpt.get("callbacks") or {}).get("CpuTime")
    if isinstance(state, dict) and isinstance(state.get("cpu_seconds"), float | int):
        return round(float(state["cpu_seconds"]) / 3600, 3)
    return None

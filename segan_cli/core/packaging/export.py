"""Exporting a trained generator for deployment: TorchScript (and ONNX when installed).

The exported module maps ``(batch, 1, window)`` noisy windows, already pre-emphasised
when the model uses pre-emphasis, to enhanced windows in signal units, with z = 0, the
corpus z-score folded in and the model's dry share (``enhance.dry``, which ``segan
info`` shows) mixed in, so it enhances as ``segan enhance`` does. The file carries
its own metadata (sample rate, window, pre-emphasis, dry, arch, version, the source
model's SHA-256) so :class:`ScriptedModel` (TorchScript) and :class:`OnnxModel` (ONNX,
whose time axis is the fixed window) run it through the same streaming
:class:`~segan_cli.core.enhancement.whole_file.Enhancer` as a checkpoint, with identical results up
to float tolerance.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from segan_cli.core.enhancement.inference import GeneratorBundle
from segan_cli.core.io.files import file_sha256
from segan_cli.core.io.output_guard import guarded_file
from segan_cli.errors import CheckpointError

META_KEY = "segan.json"


class InferenceGenerator(nn.Module):
    """Generator with z = 0 and the output/input normalisation baked in."""

    def __init__(self, bundle: GeneratorBundle, dry: float = 0.0) -> None:
        super().__init__()
        self.generator = bundle.generator.eval()
        self.dry = float(dry)
        zscore = bundle.settings.model.input_norm == "zscore"
        s = bundle.stats
        self.in_mean = float(s["noisy_mean"]) if zscore else 0.0
        self.in_std = float(s["noisy_std"]) if zscore else 1.0
        self.out_mean = float(s["clean_mean"]) if zscore else 0.0
        self.out_std = float(s["clean_std"]) if zscore else 1.0
        self.z_channels = int(bundle.generator.z_channels)
        self.reduction = int(bundle.generator.reduction)

    def forward(self, x: Tensor) -> Tensor:
        h = (x - self.in_mean) / self.in_std
        z = torch.zeros(h.shape[0], self.z_channels, h.shape[-1] // self.reduction,
                        dtype=h.dtype, device=h.device)
        y = self.generator(h, z) * self.out_std + self.out_mean
        if self.dry:  # the model's share of input mixed back, as GeneratorModel does
            y = (1.0 - self.dry) * y + self.dry * x
        return y


def export_dry(bundle: GeneratorBundle, dry: float | None = None) -> float:
    """The dry share an export carries: ``dry`` when given, else the model's own (a
    model packaged with a dry share sounds that way; dropping it would change its sound)."""
    value = float(bundle.settings.enhance.dry if dry is None else dry)
    if not 0.0 <= value <= 1.0:
        raise CheckpointError(f"--dry {value} is outside 0..1")
    return value


def metadata(bundle: GeneratorBundle, dry: float = 0.0) -> dict[str, Any]:
    """What an exported file says about itself: enough to run it as ``segan enhance``
    would (rate, window, pre-emphasis, dry) and to tell which model it holds."""
    return {"sample_rate": bundle.settings.data.sample_rate,
            "window": bundle.settings.data.window,
            "preemphasis": bundle.settings.model.preemphasis,
            "dry": float(dry),
            "arch": bundle.arch, "version": bundle.version,
            "model_sha256": file_sha256(bundle.path) if bundle.path is not None else None,
            "source": bundle.path.name if bundle.path is not None else None}


def export_torchscript(bundle: GeneratorBundle, out: Path, overwrite: bool = False,
                       dry: float = 0.0) -> Path:
    """Trace the inference generator to a TorchScript file with embedded metadata.

    The file goes through the output guard; it is saved through a Python file object
    because torch's own file writer aborts the process on a full disk.
    """
    wrapper = InferenceGenerator(bundle, dry).cpu().eval()
    window = bundle.settings.data.window
    example = torch.randn(2, 1, window) * 0.1
    with torch.no_grad(), warnings.catch_warnings():
        # shape checks in the generator are constants for a fixed window: expected
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(wrapper, example, check_trace=False)
    with guarded_file(out, overwrite, inputs=_inputs(bundle)) as fh:
        torch.jit.save(traced, fh, _extra_files={META_KEY: json.dumps(metadata(bundle, dry))})
    return Path(out)


def _inputs(bundle: GeneratorBundle) -> tuple[Path, ...]:
    return (bundle.path,) if bundle.path is not None else ()


def export_onnx(bundle: GeneratorBundle, out: Path, overwrite: bool = False,
                dry: float = 0.0) -> Path:
    """Export to ONNX (needs the optional ``onnx`` package): a dynamic batch axis, a
    time axis of exactly one window (:class:`OnnxModel` runs any recording through it),
    and the metadata of :func:`metadata` as the model's ``segan.json`` property."""
    try:
        import onnx
    except ImportError as exc:
        raise CheckpointError("ONNX export needs the optional dependency 'onnx'",
                              "pip install 'segan-cli[onnx]'") from exc
    wrapper = InferenceGenerator(bundle, dry).cpu().eval()
    example = torch.randn(1, 1, bundle.settings.data.window) * 0.1
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and legacy-exporter notices
        torch.onnx.export(wrapper, (example,), buffer, input_names=["noisy"],
                          output_names=["enhanced"], dynamic_axes={"noisy": {0: "batch"},
                                                                   "enhanced": {0: "batch"}},
                          dynamo=False)
    model = onnx.load_from_string(buffer.getvalue())
    entry = model.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(metadata(bundle, dry))
    with guarded_file(out, overwrite, inputs=_inputs(bundle)) as fh:
        fh.write(model.SerializeToString())
    return Path(out)


def _read_meta(text: str, path: Path) -> dict[str, Any]:
    if not text:
        raise CheckpointError(f"{path} was not exported by `segan export`")
    return json.loads(text)


class ScriptedModel:
    """An exported TorchScript file as the enhancer's window model."""

    def __init__(self, path: Path) -> None:
        extra = {META_KEY: ""}
        try:
            self.module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except (RuntimeError, ValueError) as exc:
            raise CheckpointError(f"cannot load TorchScript model {path}: {exc}") from exc
        self.meta = meta = _read_meta(extra[META_KEY], path)
        self.sample_rate = int(meta["sample_rate"])
        self.window = int(meta["window"])
        self.preemphasis = float(meta["preemphasis"])
        self.arch = str(meta["arch"])
        #: mixed in by the module itself; the enhancer reads it to pass dry 1 through
        self.dry = float(meta.get("dry", 0.0))

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))[:, None, :]
        return self.module(x)[:, 0, :].numpy()


class OnnxModel:
    """An exported ONNX file as the enhancer's window model (needs ``onnxruntime``):
    ``Enhancer(OnnxModel("g.onnx")).enhance(x, sr)`` enhances a recording of any length
    and rate through the file's fixed window, as ``segan enhance`` does."""

    def __init__(self, path: Path) -> None:
        try:
            import onnxruntime
        except ImportError as exc:
            raise CheckpointError("running an ONNX model needs 'onnxruntime'",
                                  "pip install 'segan-cli[onnx]'") from exc
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for a bad file
            raise CheckpointError(f"cannot load ONNX model {path}: {exc}") from exc
        props = self.session.get_modelmeta().custom_metadata_map
        self.meta = meta = _read_meta(props.get(META_KEY, ""), path)
        self.sample_rate = int(meta["sample_rate"])
        self.window = int(meta["window"])
        self.preemphasis = float(meta["preemphasis"])
        self.arch = str(meta["arch"])
        self.dry = float(meta.get("dry", 0.0))

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)[:, None, :]
        return self.session.run(None, {"noisy": x})[0][:, 0, :]

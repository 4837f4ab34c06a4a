"""Exporting a trained generator for deployment: TorchScript (and ONNX when installed).

The exported module maps ``(batch, 1, window)`` noisy windows, already pre-emphasised
when the model uses pre-emphasis, to enhanced windows in signal units, with z = 0 and
the corpus z-score folded in. The file carries its own metadata (sample rate,
window, pre-emphasis, arch, version) so :class:`ScriptedModel` can run it through the
same streaming :class:`~segan_cli.core.enhance.Enhancer` as a checkpoint, with
identical results up to float tolerance.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from segan_cli.core.inference import GeneratorBundle
from segan_cli.core.output_guard import guarded_file
from segan_cli.errors import CheckpointError

META_KEY = "segan.json"


class InferenceGenerator(nn.Module):
    """Generator with z = 0 and the output/input normalisation baked in."""

    def __init__(self, bundle: GeneratorBundle) -> None:
        super().__init__()
        self.generator = bundle.generator.eval()
        zscore = bundle.settings.model.input_norm == "zscore"
        s = bundle.stats
        self.in_mean = float(s["noisy_mean"]) if zscore else 0.0
        self.in_std = float(s["noisy_std"]) if zscore else 1.0
        self.out_mean = float(s["clean_mean"]) if zscore else 0.0
        self.out_std = float(s["clean_std"]) if zscore else 1.0
        self.z_channels = int(bundle.generator.z_channels)
        self.reduction = int(bundle.generator.reduction)

    def forward(self, x: Tensor) -> Tensor:
        x = (x - self.in_mean) / self.in_std
        z = torch.zeros(x.shape[0], self.z_channels, x.shape[-1] // self.reduction,
                        dtype=x.dtype, device=x.device)
        y = self.generator(x, z)
        return y * self.out_std + self.out_mean


def metadata(bundle: GeneratorBundle) -> dict:
    return {"sample_rate": bundle.settings.data.sample_rate,
            "window": bundle.settings.data.window,
            "preemphasis": bundle.settings.model.preemphasis,
            "arch": bundle.arch, "version": bundle.version}


def export_torchscript(bundle: GeneratorBundle, out: Path, overwrite: bool = False) -> Path:
    """Trace the inference generator to a TorchScript file with embedded metadata.

    The file goes through the output guard; it is saved through a Python file object
    because torch's own file writer aborts the process on a full disk.
    """
    wrapper = InferenceGenerator(bundle).cpu().eval()
    window = bundle.settings.data.window
    example = torch.randn(2, 1, window) * 0.1
    with torch.no_grad(), warnings.catch_warnings():
        # shape checks in the generator are constants for a fixed window: expected
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(wrapper, example, check_trace=False)
    with guarded_file(out, overwrite, inputs=_inputs(bundle)) as fh:
        torch.jit.save(traced, fh, _extra_files={META_KEY: json.dumps(metadata(bundle))})
    return Path(out)


def _inputs(bundle: GeneratorBundle) -> tuple[Path, ...]:
    return (bundle.path,) if bundle.path is not None else ()


def export_onnx(bundle: GeneratorBundle, out: Path, overwrite: bool = False) -> Path:
    """Export to ONNX (needs the optional ``onnx`` package) with a dynamic batch axis."""
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise CheckpointError("ONNX export needs the optional dependency 'onnx'",
                              "pip install 'segan-cli[onnx]'") from exc
    wrapper = InferenceGenerator(bundle).cpu().eval()
    example = torch.randn(1, 1, bundle.settings.data.window) * 0.1
    with guarded_file(out, overwrite, inputs=_inputs(bundle)) as fh, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(wrapper, (example,), fh, input_names=["noisy"],
                          output_names=["enhanced"], dynamic_axes={"noisy": {0: "batch"},
                                                                   "enhanced": {0: "batch"}},
                          dynamo=False)
    return Path(out)


class ScriptedModel:
    """An exported TorchScript file as the enhancer's window model."""

    def __init__(self, path: Path) -> None:
        extra = {META_KEY: ""}
        try:
            self.module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except (RuntimeError, ValueError) as exc:
            raise CheckpointError(f"cannot load TorchScript model {path}: {exc}") from exc
        if not extra[META_KEY]:
            raise CheckpointError(f"{path} was not exported by `segan export`")
        meta = json.loads(extra[META_KEY])
        self.sample_rate = int(meta["sample_rate"])
        self.window = int(meta["window"])
        self.preemphasis = float(meta["preemphasis"])
        self.arch = str(meta["arch"])

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))[:, None, :]
        return self.module(x)[:, 0, :].numpy()

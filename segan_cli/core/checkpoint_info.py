"""What a checkpoint holds, for ``segan info``: model, data, training state, scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from segan_cli.core.inference import checkpoint_settings, read_checkpoint
from segan_cli.core.package_model import package_record
from segan_cli.core.training.module import SeganGAN


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
        "gan_steps": (ckpt.get("global_step") or 0) // SeganGAN.optimizer_steps_per_batch,
        "generator_parameters": params("generator."),
        "discriminator_parameters": params("discriminator."),
        "reference_batch": list(ref.shape) if isinstance(ref, torch.Tensor) else None,
        **model_summary,
        "optimizer": f"{t.optimizer} lr_g {t.lr_g:g} lr_d {t.lr_d:g}",
        "batch_size": t.batch_size,
        "scores": scores,
    }

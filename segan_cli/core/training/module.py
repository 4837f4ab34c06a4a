"""The SEGAN LightningModule: LSGAN + L1 training with manual optimisation.

Batches from the DataModule are ``{"clean": (B,1,T), "noisy": (B,1,T)}`` in raw
signal units; the module applies the arch's :class:`SignalTransform` on-device so the
DataModule stays arch-agnostic. Each step updates the discriminator, then the
generator (the paper's order), reusing one generator forward for both.

Losses (LSGAN, Mao et al. 2017, as in the paper)::

    D: 0.5*E[(D(clean, noisy) - 1)^2] + 0.5*E[D(G(noisy), noisy)^2]
    G: 0.5*E[(D(G(noisy), noisy) - 1)^2] + l1_weight * mean|G(noisy) - clean|

The L1 term is measured after :meth:`SignalTransform.from_model_output`: signal units
for ``adv`` (z-score undone) and the pre-emphasised signal for ``segan``.

Opt-in additions (each defaults to the paper's behaviour): ``train.stft_weight`` adds
a multi-resolution STFT loss on the same signals; ``train.adversarial_from_step``
trains the generator by regression alone for that many steps (no discriminator
forward at all); ``train.ema_decay`` keeps an exponential moving average of the
generator's weights, which validation, ``best.ckpt`` and inference use;
``train.latent: zeros`` trains with the z inference uses (z = 0) instead of N(0, I);
``train.adversarial: metric`` replaces the LSGAN losses by MetricGAN's (below).

MetricGAN (Fu et al. 2019), once :meth:`SeganGAN.adversarial_now`: the discriminator
scores (candidate, clean) pairs and ``sigmoid`` of its output is a learned quality
metric, trained by MSE to each candidate's normalised wide-band PESQ
(:mod:`segan_cli.core.training.metric_gan`), on the generator's output (detached),
(clean, clean) with target 1 and (noisy, clean); pairs PESQ cannot score are masked::

    D: mean over scored pairs of (sigmoid(D(x, clean)) - Q'(x))^2
    G: metric_weight * mean (sigmoid(D(G(noisy), clean)) - 1)^2 + L1 (+ STFT)

Its VBN reference batch holds (clean, clean) pairs.

The checkpoint is self-contained: hyper-parameters hold the settings (JSON-safe),
corpus statistics, arch, sample rate, pre-emphasis and package version; the VBN
reference batch is the buffer ``discriminator.ref_batch`` of the state dict.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_warn
from pydantic import ValidationError
from torch import Tensor

from segan_cli import __version__
from segan_cli.core.enhancement.inference import (
    OPTIMIZER_STEPS_PER_BATCH,
    checkpoint_settings,
    read_checkpoint,
)
from segan_cli.core.models import build_discriminator, build_generator
from segan_cli.core.models.transforms import SignalTransform
from segan_cli.core.training.losses import stft_loss
from segan_cli.core.training.metric_gan import (
    check_metric_settings,
    pesq_targets,
    signal_windows,
)
from segan_cli.errors import CheckpointError, SeganError, SettingsError
from segan_cli.settings import Settings


def _as_settings(settings: Settings | Mapping[str, Any]) -> Settings:
    if isinstance(settings, Settings):
        return settings
    try:
        return Settings.model_validate(dict(settings))
    except ValidationError as err:
        raise SettingsError(f"invalid settings for the model: {err.errors()[0]['msg']} "
                            f"at {'.'.join(map(str, err.errors()[0]['loc']))}") from err


class SeganGAN(pl.LightningModule):
    """Generator + VBN discriminator of ``settings.model.arch``, trained adversarially.

    ``stats`` are the corpus statistics (``noisy_mean``, ``noisy_std``,
    ``clean_mean``, ``clean_std``); required when ``model.input_norm`` is ``zscore``.
    """

    #: Lightning counts every ``optimizer.step()`` in ``trainer.global_step``; one
    #: batch steps both networks, so ``Trainer(max_steps=...)`` needs this factor.
    optimizer_steps_per_batch = OPTIMIZER_STEPS_PER_BATCH

    def __init__(self, settings: Settings | Mapping[str, Any],
                 stats: Mapping[str, float] | None = None) -> None:
        super().__init__()
        self.settings = _as_settings(settings)
        if self.metric_mode:
            check_metric_settings(self.settings)
        model, window = self.settings.model, self.settings.data.window
        self.transform = SignalTransform.from_settings(model, stats)
        stats_json = None if stats is None else {k: float(v) for k, v in stats.items()}
        self.save_hyperparameters({
            "settings": self.settings.model_dump(mode="json"),
            "stats": stats_json,
            "arch": model.arch,
            "sample_rate": self.settings.data.sample_rate,
            "window": window,
            "preemphasis": model.preemphasis,
            "input_norm": model.input_norm,
            "version": __version__,
        })
        self.automatic_optimization = False
        self.generator = build_generator(model, window)
        if model.head == "residual":
            self.generator.set_skip_affine(*self.transform.identity_affine())
        self.discriminator = build_discriminator(model, window)
        self.generator_ema = None
        if self.settings.train.ema_decay is not None:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)

    @property
    def inference_generator(self) -> torch.nn.Module:
        """The weights validation and inference use: the EMA copy when kept."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    @property
    def gan_step(self) -> int:
        """Batches trained so far (Lightning's ``global_step`` counts both optimisers)."""
        return self.global_step // self.optimizer_steps_per_batch

    def adversarial_now(self) -> bool:
        """Whether this step trains the discriminator and uses its loss."""
        return self.gan_step >= self.settings.train.adversarial_from_step

    @property
    def metric_mode(self) -> bool:
        """Whether the discriminator is MetricGAN's learned PESQ (``train.adversarial``)."""
        return self.settings.train.adversarial == "metric"

    # -- reference batch -------------------------------------------------------------

    @property
    def has_reference_batch(self) -> bool:
        """Whether the VBN reference batch is set (by the DataModule or a checkpoint)."""
        return self.discriminator.has_reference

    def set_reference_batch(self, clean: Tensor, noisy: Tensor, force: bool = False) -> bool:
        """Store the VBN reference from raw ``(B_ref, 1, window)`` clean/noisy windows.

        They are transformed to model units and kept in (clean, noisy) channel order;
        in metric mode as (clean, clean), the pairs that discriminator scores (target 1).
        A reference already present (e.g. restored from a checkpoint) is kept unless
        ``force``; returns whether the reference was (re)set.
        """
        if self.has_reference_batch and not force:
            return False
        with torch.no_grad():
            clean = self.transform.to_model_target(clean.to(self.device, torch.float32))
            if self.metric_mode:
                pair = torch.cat([clean, clean], dim=1)
            else:
                noisy = noisy.to(self.device, torch.float32)
                pair = torch.cat([clean, self.transform.to_model_input(noisy)], dim=1)
        self.discriminator.set_reference(pair)
        return True

    # -- training --------------------------------------------------------------------

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """[generator optimiser, discriminator optimiser] from ``settings.train``."""
        train = self.settings.train
        if train.optimizer == "adam":
            def make(params, lr):
                return torch.optim.Adam(params, lr=lr, betas=tuple(train.betas))
        else:
            def make(params, lr):
                return torch.optim.RMSprop(params, lr=lr)
        return [make(self.generator.parameters(), train.lr_g),
                make(self.discriminator.parameters(), train.lr_d)]

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """One discriminator update (once adversarial), then one generator update."""
        opt_g, opt_d = self.optimizers()
        train = self.settings.train
        noisy = self.transform.to_model_input(batch["noisy"])
        clean = self.transform.to_model_target(batch["clean"])
        z = None
        if train.latent == "zeros":
            z = self.generator.latent(noisy.shape[0], noisy.device, zeros=True,
                                      length=noisy.shape[-1], dtype=noisy.dtype)
        fake = self.generator(noisy, z)
        n = noisy.shape[0]
        losses: dict[str, Tensor] = {}

        opt_d.zero_grad(set_to_none=True)
        if self.adversarial_now() and self.metric_mode:
            self._ensure_reference(batch)
            g_adv = self._metric_step(batch, clean, fake, opt_d, losses)
        elif self.adversarial_now():
            self._ensure_reference(batch)
            # Discriminator: real and fake scored in one pass (VBN keeps samples independent).
            scores = self.discriminator(torch.cat([torch.cat([clean, noisy], dim=1),
                                                   torch.cat([fake.detach(), noisy], dim=1)]))
            d_real, d_fake = scores[:n], scores[n:]
            d_loss = 0.5 * (d_real - 1).square().mean() + 0.5 * d_fake.square().mean()
            self.manual_backward(d_loss + self._zero_touch(self.generator))
            opt_d.step()
            g_adv = 0.5 * (self.discriminator(torch.cat([fake, noisy], dim=1)) - 1
                           ).square().mean()
            losses.update(d_loss=d_loss.detach(), d_real=d_real.detach().mean(),
                          d_fake=d_fake.detach().mean())
        else:
            # no gradients: the step changes nothing but keeps Lightning's step count
            opt_d.step()
            g_adv = self._zero_touch(self.discriminator) + fake.new_zeros(())

        # Generator: fool the discriminator (once adversarial), stay close to clean.
        target = self.transform.to_output_signal(batch["clean"])
        output = self.transform.from_model_output(fake)
        g_l1 = (output - target).abs().mean()
        g_loss = g_adv + train.l1_weight * g_l1
        if train.stft_weight > 0:
            g_stft = stft_loss(output, target, train.stft_resolutions)
            g_loss = g_loss + train.stft_weight * g_stft
            losses["g_stft"] = g_stft.detach()
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        self._update_ema()

        losses.update(g_adv=g_adv.detach(), g_l1=g_l1.detach())
        for key, value in losses.items():
            self.log(key, value, prog_bar=key in ("d_loss", "g_adv", "g_l1", "g_stft"),
                     batch_size=n)
        return losses

    def _metric_step(self, batch: Mapping[str, Tensor], clean: Tensor, fake: Tensor,
                     opt_d: Any, losses: dict[str, Tensor]) -> Tensor:
        """MetricGAN: fit the discriminator to PESQ, then return the generator's term.

        PESQ is scored per window in signal units (the generator's output, detached,
        and the noisy input, each against the clean window); the (clean, clean) pair
        counts when either score could be had (the clean window is then scorable
        speech). With no scorable pair the update is skipped, but ``opt_d`` still
        steps (without gradients) so Lightning's step count stays two per batch.
        """
        train, n = self.settings.train, clean.shape[0]
        sr, emphasis = self.settings.data.sample_rate, self.settings.model.preemphasis
        reference = signal_windows(batch["clean"])
        enhanced = signal_windows(self.transform.from_model_output(fake.detach()), emphasis)
        q_fake, m_fake = pesq_targets(reference, enhanced, sr)
        q_noisy, m_noisy = pesq_targets(reference, signal_windows(batch["noisy"]), sr)
        targets = torch.cat([q_fake, torch.ones(n), q_noisy]).to(fake.device)
        mask = torch.cat([m_fake, m_fake | m_noisy, m_noisy]).to(fake.device)
        noisy = self.transform.to_model_target(batch["noisy"].to(clean.dtype))
        if mask.any() or self._distributed():  # every rank runs the same backwards
            candidates = torch.cat([fake.detach(), clean, noisy])
            pairs = torch.cat([candidates, clean.repeat(3, 1, 1)], dim=1)
            scores = torch.sigmoid(self.discriminator(pairs)).float().flatten()
            d_loss = ((scores - targets).square() * mask).sum() / mask.sum().clamp(min=1)
            self.manual_backward(d_loss + self._zero_touch(self.generator))
            opt_d.step()
            if mask.any():
                losses["d_loss"] = d_loss.detach()
            if m_fake.any():
                losses.update(d_metric_pred=scores[:n].detach()[m_fake.to(fake.device)].mean(),
                              d_metric_true=q_fake[m_fake].mean().to(fake.device))
        else:
            opt_d.step()  # nothing to learn from: keeps Lightning's step count
        score = torch.sigmoid(self.discriminator(torch.cat([fake, clean], dim=1))).float()
        return train.metric_weight * (score - 1).square().mean()

    def _distributed(self) -> bool:
        return self._trainer is not None and self.trainer.world_size > 1

    @torch.no_grad()
    def _update_ema(self) -> None:
        """EMA of the generator's weights; BN statistics are copied as they are.

        The decay warms up as min(decay, (1 + step) / (10 + step)) so that early
        validations do not score the random initialisation.

        Kept hand-written rather than ``torch.optim.swa_utils.AveragedModel`` or
        Lightning's ``WeightAveraging`` callback, which do not do the same thing:
        AveragedModel stores the copy under ``module.`` with an ``n_averaged`` buffer,
        renaming the ``generator_ema.*`` keys of every checkpoint and packaged model
        already written; with ``use_buffers`` it averages the batch-norm statistics
        instead of copying them, without it leaves them stale; and the callback
        averages the whole LightningModule, the discriminator included, swapping the
        average into the live model for validation. The ten lines below are the
        exact behaviour, resumable from the step counter alone.
        """
        if self.generator_ema is None:
            return
        step = self.gan_step
        decay = min(float(self.settings.train.ema_decay), (1 + step) / (10 + step))
        for avg, live in zip(self.generator_ema.parameters(), self.generator.parameters(),
                             strict=True):
            avg.lerp_(live, 1.0 - decay)
        for avg, live in zip(self.generator_ema.buffers(), self.generator.buffers(),
                             strict=True):
            avg.copy_(live)

    def _zero_touch(self, module: torch.nn.Module) -> Tensor | float:
        """Exact zero that involves every parameter of ``module``, when data-parallel.

        DDP expects each backward to reach every parameter; the discriminator loss
        does not reach the generator (nor, before the adversarial phase, the generator
        loss the discriminator), which plain ``strategy="ddp"`` rejects. The resulting
        zero gradients are cleared before that module's own step.
        """
        if self._trainer is None or self.trainer.world_size <= 1:
            return 0.0
        return sum(p.reshape(-1)[0] * 0.0 for p in module.parameters())

    def _ensure_reference(self, batch: Mapping[str, Tensor]) -> None:
        if self.has_reference_batch:
            if self.metric_mode:
                self._metric_reference()
            return
        size = self.settings.train.ref_batch_size or batch["clean"].shape[0]
        rank_zero_warn("no VBN reference batch was set before fit; using the first "
                       "training batch (call SeganGAN.set_reference_batch to choose one)")
        self.set_reference_batch(batch["clean"][:size], batch["noisy"][:size])

    def _metric_reference(self) -> None:
        """A (clean, noisy) reference in metric mode (a run resumed with another
        ``train.adversarial``) becomes (clean, clean) from its own clean half."""
        ref = self.discriminator.ref_batch
        if torch.equal(ref[:, :1], ref[:, 1:]):
            return
        rank_zero_warn("the VBN reference batch holds (clean, noisy) pairs; "
                       "train.adversarial=metric scores (clean, clean): its clean half is used")
        self.discriminator.set_reference(ref[:, :1].repeat(1, 2, 1))

    # -- validation and inference ----------------------------------------------------

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        """``val_l1``: mean |enhanced - clean| with z = 0, in the L1 space of training."""
        enhanced = self.enhance_windows(batch["noisy"])
        target = self.transform.to_output_signal(batch["clean"].float())
        val_l1 = (enhanced - target).abs().mean()
        self.log("val_l1", val_l1, prog_bar=True, sync_dist=True,
                 batch_size=batch["noisy"].shape[0])
        return val_l1

    @torch.no_grad()
    def enhance_windows(self, noisy: Tensor, prev: Tensor | None = None,
                        z: Tensor | None = None) -> Tensor:
        """Enhance raw windows ``(B, 1, T)`` (T a multiple of ``generator.reduction``).

        Runs the generator in eval mode with z = 0 (or the given ``z``) and returns
        float32 output in signal units **still pre-emphasised** when the model uses
        pre-emphasis: the caller de-emphasises the whole stitched file once
        (``segan_cli.core.io.audio.deemphasis``). ``prev`` (B, 1) holds the sample before
        each window so that window pre-emphasis matches whole-file pre-emphasis.
        """
        generator = self.inference_generator
        was_training = generator.training
        generator.eval()
        try:
            noisy = noisy.to(self.device, torch.float32)
            x = self.transform.to_model_input(noisy, prev)
            if z is None:
                z = generator.latent(x.shape[0], x.device, zeros=True, length=x.shape[-1])
            y = generator(x, z)
            return self.transform.from_model_output(y.float())
        finally:
            generator.train(was_training)

    # -- loading ---------------------------------------------------------------------

    @classmethod
    def from_checkpoint(cls, path: Path | str, map_location: str | torch.device = "cpu",
                        expected_arch: str | None = None) -> SeganGAN:
        """Load a checkpoint without executing pickled code (``weights_only=True``).

        Raises :class:`CheckpointError` for a missing, corrupted or foreign file, or
        a checkpoint of another arch than ``expected_arch``. Returns the module in eval mode.
        """
        path = Path(path)
        ckpt = read_checkpoint(path)
        settings = checkpoint_settings(ckpt, path, expected_arch)
        try:
            module = cls(settings, ckpt["hyper_parameters"].get("stats"))
            module.load_state_dict(ckpt["state_dict"])
        except (SeganError, RuntimeError, KeyError) as exc:
            raise CheckpointError(f"{path} does not match this version's models: {exc}") from exc
        module.to(map_location)
        return module.eval()

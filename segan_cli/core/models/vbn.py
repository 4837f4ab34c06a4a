"""Virtual batch norm (Salimans et al. 2016), as SEGAN's discriminator uses it.

Why: ordinary batch norm makes a sample's score depend on the other samples in its
batch (real and fake mixed), which a GAN discriminator can exploit. VBN normalises
each sample with the statistics of a *fixed reference batch* plus that sample alone.

Statistics are kept **per channel** (the seed averaged over channels, a known
defect). The reference statistics come from passing the reference batch through the
network: the discriminator concatenates the reference batch in front of the live
batch, and at every VBN layer the first ``n_ref`` rows provide the reference mean and
mean of squares (over batch and time) for that layer. One concatenated pass is the
same arithmetic as a separate reference pass followed by a live pass, but leaves no
stale per-layer state behind and runs each convolution once.

For one live sample ``x`` (per channel, over time)::

    mu    = mean(x)/(B_ref+1)   + mu_ref*B_ref/(B_ref+1)
    msq   = mean(x^2)/(B_ref+1) + msq_ref*B_ref/(B_ref+1)
    y     = gamma*(x - mu)/sqrt(1e-5 + msq - mu^2) + beta

The reference rows themselves are normalised with the reference statistics only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class VirtualBatchNorm1d(nn.Module):
    """Per-channel VBN over ``(batch, channels, time)``; gamma ~ N(1, 0.02), beta = 0.

    Example:
        >>> vbn = VirtualBatchNorm1d(4)
        >>> ref, live = torch.randn(8, 4, 32), torch.randn(3, 4, 32)
        >>> vbn(torch.cat([ref, live]), n_ref=8).shape
        torch.Size([11, 4, 32])
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.gamma = nn.Parameter(torch.empty(1, channels, 1).normal_(1.0, 0.02))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1))

    def forward(self, x: Tensor, n_ref: int) -> Tensor:
        """Normalise ``x`` whose first ``n_ref`` rows are the reference batch."""
        if n_ref < 1 or n_ref >= x.shape[0] + 1:
            raise ValueError(f"n_ref must be in [1, {x.shape[0]}], got {n_ref}")
        # Statistics in float32 even under mixed precision: E[x^2]-mu^2 cancels badly.
        xf = x.float()
        ref, live = xf[:n_ref], xf[n_ref:]
        ref_mean = ref.mean(dim=(0, 2), keepdim=True)
        ref_msq = ref.square().mean(dim=(0, 2), keepdim=True)
        w_live = 1.0 / (n_ref + 1)
        w_ref = n_ref / (n_ref + 1)
        mean = live.mean(dim=2, keepdim=True) * w_live + ref_mean * w_ref
        msq = live.square().mean(dim=2, keepdim=True) * w_live + ref_msq * w_ref
        out = torch.cat([self._normalise(ref, ref_mean, ref_msq),
                         self._normalise(live, mean, msq)])
        return out.to(x.dtype)

    def _normalise(self, x: Tensor, mean: Tensor, msq: Tensor) -> Tensor:
        var = (msq - mean.square()).clamp_min(0.0)
        return self.gamma * (x - mean) / torch.sqrt(self.eps + var) + self.beta

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps}"

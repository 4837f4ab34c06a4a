"""Hu & Loizou (2008) composite measures from PESQ, LLR, WSS and SSNR."""

from __future__ import annotations

from typing import NamedTuple


class Composite(NamedTuple):
    """Predicted ratings of signal distortion, background intrusiveness, overall quality."""

    csig: float
    cbak: float
    covl: float


def _clip(x: float, clip: bool) -> float:
    return min(5.0, max(1.0, x)) if clip else x


def composite(pesq: float, llr: float, wss: float, ssnr: float, clip: bool = True) -> Composite:
    """CSIG, CBAK, COVL by the published regressions (PESQ is wb MOS-LQO at 16 kHz).

    ``clip`` limits each to the MOS range [1, 5] as Loizou's composite.m does;
    ``clip=False`` keeps the raw regression output, as in the MATLAB run behind the
    SEGAN paper's table (the "paper" mode). Loizou's later composite.m feeds the raw
    P.862 score; like the SEGAN paper's table we feed P.862.2 wide-band MOS-LQO at
    16 kHz (narrow-band MOS-LQO at 8 kHz).
    """
    csig = 3.093 - 1.029 * llr + 0.603 * pesq - 0.009 * wss
    cbak = 1.634 + 0.478 * pesq - 0.007 * wss + 0.063 * ssnr
    covl = 1.594 + 0.805 * pesq - 0.512 * llr - 0.007 * wss
    return Composite(_clip(csig, clip), _clip(cbak, clip), _clip(covl, clip))

"""Package a training checkpoint as the default model shipped with segan.

Keeps only the inference generator (the EMA copy when the run kept one) in float16,
with the settings, corpus statistics and a record of where it came from, and checks
before writing that it enhances a few seconds of audio within 1e-3 of the float32
checkpoint. Prints the file size and that difference.

    .venv/bin/python scripts/package_default.py RUN_DIR/best.ckpt \
        [--out segan_cli/weights/default.pt] [--audio noisy.wav] [--overwrite] \
        [--dry 0.2] [--share 0.5] [--gate 0.005 0.03]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "segan_cli" / "weights" / "default.pt"


def main(argv: list[str] | None = None) -> int:
    """Run the packaging; 0 on success, 2 on a user error (printed as one line)."""
    from segan_cli.core.packaging.model_file import TOLERANCE, package_checkpoint
    from segan_cli.errors import SeganError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ckpt", type=Path, help="training checkpoint, e.g. RUN_DIR/best.ckpt")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="model file to write")
    ap.add_argument("--audio", type=Path, default=None,
                    help="a recording to check with (default: a synthetic signal)")
    ap.add_argument("--tolerance", type=float, default=TOLERANCE,
                    help="largest allowed max-abs sample difference")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    ap.add_argument("--dry", type=float, default=None,
                    help="the model's own share of input mixed back (enhance.dry), 0..1")
    ap.add_argument("--share", type=float, default=None,
                    help="a residual model's share of its learned correction, 0..1 "
                         "(scripts/choose_default.py chooses it; default: as trained)")
    ap.add_argument("--gate", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                    help="a residual model over the Wiener estimate: fade its correction "
                         "in from LOW to HIGH share of window energy that Wiener removes "
                         "(model.correction_gate; scripts/choose_default.py chooses it)")
    args = ap.parse_args(argv)
    try:
        signal = rate = None
        if args.audio is not None:
            from segan_cli.core.io.audio import audio_info, load_mono

            rate = audio_info(args.audio).sample_rate
            signal = load_mono(args.audio, rate)[: 10 * rate]
        report = package_checkpoint(args.ckpt, args.out, args.overwrite, signal, rate,
                                    args.tolerance, args.dry, args.share, args.gate)
    except SeganError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {report.out}: {report.size_bytes / 1e6:.2f} MB, {report.weights} weights "
          f"at step {report.step}, sha256 {report.sha256[:12]}")
    print(f"max abs difference to the float32 checkpoint: {report.max_abs_diff:.2e} "
          f"(limit {args.tolerance:g})")
    if report.float32_keys:
        print(f"kept in float32 (out of float16 range): {', '.join(report.float32_keys)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())

#!/usr/bin/env python
"""Scale the learned correction of a residual-head checkpoint: base + share x correction.

The scaling is :mod:`segan_cli.core.models.correction`'s (live and EMA copies), the
same that ``package_default.py --share`` bakes into a shipped model. Used to start a
fine-tune from a point between the base and a trained model.

    .venv/bin/python scripts/shrink_correction.py CKPT --share 0.25 --out OUT.ckpt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ckpt", type=Path)
    ap.add_argument("--share", type=float, required=True, help="0 = the base alone, 1 = as is")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if not 0.0 <= args.share <= 1.0:
        print("--share must lie in 0..1", file=sys.stderr)
        return 2
    if args.out.exists():
        print(f"{args.out} exists; choose another --out", file=sys.stderr)
        return 2
    from segan_cli.core.enhancement.inference import checkpoint_settings, read_checkpoint
    from segan_cli.core.io.files import atomic_path
    from segan_cli.core.models.correction import has_residual_head, scale_state

    ckpt = read_checkpoint(args.ckpt)
    settings = checkpoint_settings(ckpt, args.ckpt)
    if not has_residual_head(settings):
        print(f"{args.ckpt} has no residual head (model.head {settings.model.head})",
              file=sys.stderr)
        return 2
    names = scale_state(ckpt["state_dict"], args.share)
    ckpt["segan_correction_share"] = args.share
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out, overwrite=False) as tmp:
        torch.save(ckpt, tmp)
    print(f"scaled {', '.join(names)} by {args.share} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

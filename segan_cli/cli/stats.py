"""``segan stats``: a table per split of a prepared corpus (or JSON for scripts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from segan_cli.cli.common import console, shown, titled_table, user_errors
from segan_cli.core.data.pipeline.corpus import corpus_inputs
from segan_cli.core.data.pipeline.manifest import load_manifest
from segan_cli.core.data.pipeline.stats import corpus_summary, plot_summary
from segan_cli.core.io.output_guard import check_output


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def _levels(sig: dict[str, Any] | None) -> str:
    if not sig:
        return "-"
    return f"{sig['mean']:+.4f} / {sig['std']:.4f} / {sig['peak']:.3f}"


@user_errors
def stats(
    corpus: Annotated[Path, typer.Argument(help="A folder made by `segan prepare`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write duration/SNR histograms to a PNG.")
                    ] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing --plot file.")] = False,
) -> None:
    """Counts, speakers, durations, SNRs, levels and clipping per split.

    From the corpus manifest and its window cache (the audio files are only checked to
    be there), so it takes seconds even on VoiceBank-DEMAND.

    **Examples**

    ```
    segan stats data/demo
    segan stats data/voicebank --plot voicebank.png --json > voicebank.json
    ```
    """
    if plot is not None:  # before the work; a corpus' own files are inputs
        check_output(plot, overwrite, corpus_inputs(corpus))
    manifest = load_manifest(corpus)
    summary = corpus_summary(corpus, manifest)
    if plot is not None:
        plot_summary(corpus, manifest, plot, overwrite)
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
        return
    table = titled_table(f"{manifest.name}: {corpus} ({manifest.sample_rate} Hz)")
    table.add_column("split")
    for col in ("utts", "spk", "hours", "duration s min/med/max", "SNR dB min/mean/max"):
        table.add_column(col, justify="right")
    levels = titled_table("levels (mean / std / peak) and clipped samples")
    levels.add_column("split")
    for col in ("noisy", "clean", "clipped n/c"):
        levels.add_column(col, justify="right")
    for split, s in summary["splits"].items():
        d = s["duration"]
        snr = s["snr"]
        snr_txt = f"{snr['min']:.1f} / {snr['mean']:.1f} / {snr['max']:.1f}" if snr else "-"
        clipped = "-" if not s["noisy"] else f"{s['noisy']['clipped']}/{s['clean']['clipped']}"
        table.add_row(split, str(s["utterances"]), str(s["speakers"]), f"{s['hours']:.3f}",
                      f"{d['min']:.2f} / {d['median']:.2f} / {d['max']:.2f}", snr_txt)
        levels.add_row(split, _levels(s["noisy"]), _levels(s["clean"]), clipped)
    console.print(table)
    console.print(levels)
    snr_table = titled_table("SNR distribution (utterances per 2.5 dB bin)")
    snr_table.add_column("split")
    snr_table.add_column("SNR bins (dB: count)")
    snr_table.add_column("speakers")
    for split, s in summary["splits"].items():
        hist = s["snr"]["histogram"] if s["snr"] else {}
        snr_table.add_row(split, "  ".join(f"{k}: {v}" for k, v in hist.items()) or "-",
                          shown(", ".join(s["speaker_names"][:12]))
                          + (" ..." if len(s["speaker_names"]) > 12 else ""))
    console.print(snr_table)
    norm = summary["normalisation"]
    if norm:
        console.print("training-split statistics (used by arch adv): " + ", ".join(
            f"{k} {_fmt(v, '.5f')}" for k, v in norm.items()))
    if plot is not None:
        console.print(f"histograms written to [bold]{shown(plot)}[/]", highlight=False,
                      soft_wrap=True)



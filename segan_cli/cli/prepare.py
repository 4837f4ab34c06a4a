"""``segan prepare``: build a corpus folder (VoiceBank-DEMAND, pairs, mix, demo)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from segan_cli.cli.common import (
    ConfigOpt,
    PrepareSetOpt,
    console,
    err_console,
    from_settings,
    settings_from,
    shown,
    titled_table,
    user_errors,
)
from segan_cli.cli.help_format import WorkflowGroup
from segan_cli.cli.log_progress import progress_sink
from segan_cli.core.data.pipeline.corpus import CorpusExistsError
from segan_cli.core.data.pipeline.manifest import Manifest, load_manifest
from segan_cli.core.io.output_guard import naming_faults
from segan_cli.core.runtime.progress import Progress
from segan_cli.errors import name_list

app = typer.Typer(cls=WorkflowGroup, rich_markup_mode="markdown",
                  help="Build a corpus folder: 16 kHz splits, manifest, statistics, window "
                       "cache.",
                  no_args_is_help=True)

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Corpus folder to create.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Rebuild a finished corpus.")]
ValidOpt = Annotated[str | None, typer.Option(
    "--valid-speakers", help="Training speakers held out for validation (comma-separated; "
    "VoiceBank default p286,p287).")]


def _split_list(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def _floats(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated numbers, got {text!r}") from None


def _run(out: Path, build: Callable[[Progress], Manifest]) -> None:
    try:
        with naming_faults(out), progress_sink() as progress:
            manifest = build(progress)
    except CorpusExistsError as exc:
        console.print(f"[yellow]{shown(exc.message)}[/] [dim]({shown(exc.hint)})[/]",
                      highlight=False, soft_wrap=True)
        manifest = load_manifest(out)
    _summary(out, manifest)


def _summary(out: Path, manifest: Manifest) -> None:
    table = titled_table(f"{manifest.name}: {out}")
    for col in ("split", "utterances", "speakers", "minutes"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for split, utts in manifest.splits.items():
        minutes = sum(u.frames for u in utts) / manifest.sample_rate / 60
        table.add_row(split, str(len(utts)), str(len({u.speaker for u in utts})),
                      f"{minutes:.1f}")
    console.print(table)
    note = validation_note(manifest)
    if note:
        err_console.print(f"[yellow]note:[/] {shown(note)}", highlight=False, soft_wrap=True)
    console.print(f"corpus ready: [bold]{shown(out)}[/]  (inspect with `segan stats "
                  f"{shown(out)}`)", highlight=False, soft_wrap=True)


def validation_note(manifest: Manifest) -> str | None:
    """What the user should know about the validation split: checkpoints are chosen on
    it, so files of training speakers in it (too few speakers to hold one out) or no
    validation at all must not pass unsaid."""
    valid = manifest.splits.get("valid", [])
    train = {u.speaker for u in manifest.splits.get("train", [])}
    if not valid:
        return ("no validation split: too few files to hold any out, so training keeps no "
                "best checkpoint; add recordings or pass --valid-speakers")
    shared = sorted({u.speaker for u in valid} & train)
    if not shared:
        return None
    n = sum(u.speaker in train for u in valid)
    return (f"the validation split holds {n} file(s) of training speaker(s) "
            f"{name_list(shared)}: no speaker could be held out (that takes three speakers "
            "besides the test ones), so validation is not speaker-disjoint and may flatter "
            "the model; add speakers or pass --valid-speakers")


@app.command("voicebank")
@user_errors
def voicebank(
    out: OutOpt,
    download: Annotated[bool, typer.Option("--download", help="Download the four DataShare "
                                           "zips (~5.6 GB; resumable, md5-verified).")] = False,
    from_path: Annotated[Path | None, typer.Option(
        "--from", help="Folder holding the zips or their extracted folders.")] = None,
    cache_dir: Annotated[Path | None, typer.Option(
        "--cache", help="Where downloads go (default OUT/downloads).")] = None,
    valid_speakers: ValidOpt = None,
    force: ForceOpt = False,
    config: ConfigOpt = None,
    sets: PrepareSetOpt = None,
) -> None:
    """VoiceBank-DEMAND (Valentini-Botinhao et al. 2017), resampled 48 -> 16 kHz.

    The 28-speaker training set and the 2-speaker test set of the paper; p286 and p287
    are held out of training as the validation split. Downloads resume and are
    md5-verified; a folder of already downloaded zips (or their extracted folders)
    works offline.

    **Examples**

    ```
    segan prepare voicebank --download --out data/voicebank
    segan prepare voicebank --from ~/Downloads/DS_10283_2791 --out data/voicebank
    ```
    """
    from segan_cli.core.data.sources.voicebank import prepare_voicebank

    if not download and from_path is None:
        from segan_cli.errors import SeganError

        raise SeganError("say where VoiceBank-DEMAND comes from",
                         "pass --download, or --from DIR with the zips or extracted folders")
    settings = settings_from(config, sets, extra={"data": {
        "valid_speakers": _split_list(valid_speakers)}})
    _run(out, lambda p: prepare_voicebank(out, download=download, from_path=from_path,
                                          cache_dir=cache_dir, data=settings.data,
                                          force=force, progress=p))


@app.command("pairs")
@user_errors
def pairs(
    clean: Annotated[Path, typer.Option(help="Folder of clean speech.")],
    noisy: Annotated[Path, typer.Option(help="Folder of noisy speech, same file names.")],
    out: OutOpt,
    test_clean: Annotated[Path | None, typer.Option(help="Clean test folder.")] = None,
    test_noisy: Annotated[Path | None, typer.Option(help="Noisy test folder.")] = None,
    test_speakers: Annotated[str | None, typer.Option(
        help="Speakers of --clean/--noisy to hold out as the test split (comma-separated).")
    ] = None,
    valid_speakers: ValidOpt = None,
    force: ForceOpt = False,
    config: ConfigOpt = None,
    sets: PrepareSetOpt = None,
) -> None:
    """Any paired clean/noisy folders, matched by file name.

    Files pair by their path relative to each folder, ignoring the extension; the
    speaker is the file name up to its first `_` (`p232_003` is `p232`), else its
    subfolder. Recordings are resampled to 16 kHz; a pair whose lengths differ by more
    than a sample or two is refused by name.

    **Examples**

    ```
    segan prepare pairs --clean rec/clean --noisy rec/noisy --out data/mine
    segan prepare pairs --clean rec/clean --noisy rec/noisy --test-speakers p01,p02 --out data/mine
    ```
    """
    from segan_cli.core.data.sources.pairs import prepare_pairs

    settings = settings_from(config, sets, extra={"data": {
        "valid_speakers": _split_list(valid_speakers)}})
    data = settings.data
    _run(out, lambda p: prepare_pairs(
        clean, noisy, out, sample_rate=data.sample_rate, valid_speakers=data.valid_speakers,
        test_speakers=_split_list(test_speakers) or [], test_clean=test_clean,
        test_noisy=test_noisy, quality=data.resample_quality, force=force, progress=p))


@app.command("mix")
@user_errors
def mix(
    clean: Annotated[Path, typer.Option(help="Folder of clean speech.")],
    noise: Annotated[Path, typer.Option(help="Folder of noise recordings.")],
    out: OutOpt,
    train_snrs: Annotated[str | None, typer.Option(
        help="Training SNRs in dB, comma-separated.",
        show_default=from_settings("data.train_snrs", "0,5,10,15"))
                          ] = None,
    test_snrs: Annotated[str | None, typer.Option(
        help="Test SNRs in dB, comma-separated.",
        show_default=from_settings("data.test_snrs", "2.5,7.5,12.5,17.5"))] = None,
    test_speakers: Annotated[str | None, typer.Option(
        help="Speakers held out for testing (default: the last 20%).")] = None,
    test_noises: Annotated[str | None, typer.Option(
        help="Noise files held out for testing (default: the last 30%).")] = None,
    valid_noises: Annotated[str | None, typer.Option(
        help="Noise files heard only by the validation split (default: none).")] = None,
    valid_speakers: ValidOpt = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the mixing draws.")] = None,
    force: ForceOpt = False,
    config: ConfigOpt = None,
    sets: PrepareSetOpt = None,
) -> None:
    """A noisy corpus from clean speech and noise at chosen SNRs (deterministic).

    Each clean utterance gets one noise excerpt at one SNR drawn from the split's list,
    seeded, so a rerun builds the same corpus byte for byte. Test speakers and test
    noises are held out of training.

    **Examples**

    ```
    segan prepare mix --clean speech/ --noise noises/ --out data/mixed
    segan prepare mix --clean speech/ --noise noises/ --train-snrs 0,5,10 --out data/mixed
    ```
    """
    from segan_cli.core.data.sources.mix import prepare_mix

    settings = settings_from(config, sets, extra={"data": {
        "train_snrs": _floats(train_snrs), "test_snrs": _floats(test_snrs), "seed": seed,
        "valid_speakers": _split_list(valid_speakers)}})
    data = settings.data
    _run(out, lambda p: prepare_mix(
        clean, noise, out, sample_rate=data.sample_rate, train_snrs=data.train_snrs,
        test_snrs=data.test_snrs, valid_snrs=data.valid_snrs, valid_speakers=data.valid_speakers,
        test_speakers=_split_list(test_speakers), test_noises=_split_list(test_noises),
        valid_noises=_split_list(valid_noises), seed=data.seed,
        quality=data.resample_quality, force=force, progress=p))


@app.command("demo")
@user_errors
def demo(
    out: OutOpt,
    cache_dir: Annotated[Path | None, typer.Option(
        "--cache", help="Where source packages are kept (default ~/.cache/segan/demo).")] = None,
    size: Annotated[str, typer.Option(
        help="small (12 min, 5 voices) or full (5.3 h, 39 voices, speaker-disjoint "
             "validation).")] = "small",
    force: ForceOpt = False,
    config: ConfigOpt = None,
    sets: PrepareSetOpt = None,
) -> None:
    """A small real-speech corpus built offline from Debian's recorded prompts and noises.

    Real voices (with their licences in the manifest) mixed with real noises; no
    internet beyond the Debian package mirror. `small` is enough to try every command;
    `full` is what the shipped default model was trained on.

    **Examples**

    ```
    segan prepare demo --out data/demo
    segan prepare demo --size full --out data/demo-full
    ```
    """
    from segan_cli.core.data.sources.demo import prepare_demo

    if size not in ("small", "full"):
        raise typer.BadParameter("--size must be small or full")
    settings = settings_from(config, sets)
    _run(out, lambda p: prepare_demo(out, cache_dir=cache_dir, data=settings.data,
                                     force=force, progress=p, size=size))

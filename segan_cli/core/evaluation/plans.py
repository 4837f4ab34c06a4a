"""Evaluation plans: which systems to score against which clean references.

A *system* is a row of the results table: a label and (name, clean, enhanced)
pairs. From a prepared corpus: "Noisy" (the unprocessed input), "Wiener" (the
classical baseline, enhanced on the fly) and one row per checkpoint (enhanced with
the same Enhancer as ``segan enhance``). From folders: one row per enhanced folder,
files matched to the clean folder by relative path.

Every row follows one policy for a file it cannot use (missing, unreadable, longer
than the scoring limit): the file is listed by name with the reason and the rest are
scored, whether the problem shows when enhancing or when scoring.

Enhanced rows are enhanced while they are scored, :data:`CHUNK_FILES` files at a time,
so memory is bounded by that chunk, not by the split's size or the number of rows; only
the few files a caller asks to keep (a report's listening files) outlive their chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segan_cli.core.data.pipeline.manifest import Manifest, load_manifest
from segan_cli.core.data.sources.pairs import list_audio
from segan_cli.core.io.audio import audio_info, load_mono
from segan_cli.core.io.audio_header import truncation_note
from segan_cli.core.metrics import BatchResult, Failure, score_pairs
from segan_cli.core.metrics.suite import PairSpec, check_score_length, merge_results
from segan_cli.core.runtime.progress import Progress, SilentProgress
from segan_cli.errors import CorpusError, SeganError, name_list

# SEGAN paper, Table 1 (VoiceBank-DEMAND test set, 824 files); see DESIGN.md. It reports
# no STOI or SI-SDR: those cells are shown as "-".
PAPER_ROWS: dict[str, dict[str, float]] = {
    "Noisy (paper)": {"pesq": 1.97, "csig": 3.35, "cbak": 2.44, "covl": 2.63, "ssnr": 1.68},
    "Wiener (paper)": {"pesq": 2.22, "csig": 3.23, "cbak": 2.68, "covl": 2.67, "ssnr": 5.07},
    "SEGAN (paper)": {"pesq": 2.16, "csig": 3.48, "cbak": 2.94, "covl": 2.80, "ssnr": 7.73},
    "Advanced SEGAN (seed, window-level)": {"pesq": 2.34, "csig": 3.50, "cbak": 3.19,
                                            "covl": 2.92, "ssnr": 9.75},
}
VOICEBANK_NAME = "voicebank-demand"
CHUNK_FILES = 32
#: the columns of the results table (the terminal's and the report's), paper's order
TABLE_COLUMNS: tuple[str, ...] = ("pesq", "csig", "cbak", "covl", "ssnr", "stoi", "si_sdr")
#: the label of the unprocessed-input row, the one differences are taken against
NOISY_LABEL = "Noisy"


def table_columns(extended_stoi: bool = False) -> tuple[str, ...]:
    """The table's metric columns: :data:`TABLE_COLUMNS`, plus ESTOI when computed."""
    return TABLE_COLUMNS + (("estoi",) if extended_stoi else ())


def metric_header(metric: str) -> str:
    """A metric's column header: ``si_sdr`` -> ``SI-SDR``."""
    return metric.upper().replace("_", "-")


@dataclass
class System:
    """One row of the table: what to score, and (after scoring) the result."""

    label: str
    pairs: list[PairSpec]
    notes: list[str] = field(default_factory=list)
    result: BatchResult | None = None
    sample_rate: int | None = None  # of in-memory enhanced signals
    #: files that failed before scoring (e.g. while enhancing), and their warnings
    failures: list[Failure] = field(default_factory=list)
    warnings: list[Failure] = field(default_factory=list)
    #: a row enhanced while scored: its (name, clean, noisy) files and the enhancer
    items: list[tuple[str, Path, Path]] = field(default_factory=list)
    enhance: Callable[[np.ndarray, int], np.ndarray] | None = None
    #: enhanced signals kept after scoring: only the files ``score_systems(keep=...)``
    #: named for this row (the rest are dropped with their chunk)
    kept: dict[str, np.ndarray] = field(default_factory=dict)
    #: a classical baseline (the Wiener row), not a model under test
    baseline: bool = False


def corpus_pairs(root: Path, manifest: Manifest, split: str) -> list[tuple[str, Path, Path]]:
    """(id, clean path, noisy path) of a corpus split."""
    utts = manifest.utterances(split)
    if not utts:
        raise CorpusError(f"split '{split}' of {root} is empty",
                          "choose another --split or prepare a test split")
    return [(u.id, Path(root) / u.clean, Path(root) / u.noisy) for u in utts]


def enhanced_system(label: str, items: list[tuple[str, Path, Path]], sample_rate: int,
                    enhance: Callable[[np.ndarray, int], np.ndarray]) -> System:
    """A row whose noisy files are enhanced in memory while it is scored."""
    return System(label, [], sample_rate=sample_rate, items=list(items), enhance=enhance)


def _enhance_chunk(system: System, items: list[tuple[str, Path, Path]],
                   progress: Progress, keep: Collection[str] = ()) -> list[PairSpec]:
    """(name, clean, enhanced array) of ``items``; a noisy file that cannot be enhanced
    (missing, unreadable, too long to score) becomes this row's failure. The arrays of
    the names in ``keep`` are also stored in ``system.kept``."""
    assert system.enhance is not None and system.sample_rate is not None
    sr = system.sample_rate
    pairs: list[PairSpec] = []
    for name, clean, noisy in items:
        try:
            info = audio_info(noisy)
            check_score_length(info.duration, noisy)  # before reading it whole
            if note := truncation_note(info):
                system.warnings.append(Failure(name, note))
            out = system.enhance(load_mono(noisy, sr), sr)
            if name in keep:
                system.kept[name] = out
            pairs.append((name, clean, out))
        except SeganError as exc:
            system.failures.append(Failure(name, str(exc)))
        progress.advance(1)
    return pairs


def spread_evenly(items: list, limit: int) -> list:
    """At most ``limit`` items taken at even steps through ``items`` (0: all of them), so
    that a capped scoring run still covers every voice and noise of a sorted split."""
    if not limit or len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def corpus_systems(root: Path, split: str = "test", ckpts: list[Path | str] | None = None,
                   wiener: bool = True, device: str = "cpu", chunking: str = "ola",
                   batch_size: int = 8, progress: Progress | None = None,
                   dc_block_hz: float = 10.0, dry: float | None = None,
                   labels: list[str] | None = None) -> tuple[Manifest, list[System]]:
    """Noisy, Wiener and checkpoint rows over a corpus split (``default``: the shipped model).

    Checkpoints are loaded here (a bad one fails before any work); the enhanced rows
    are enhanced by :func:`score_systems`. ``progress`` is accepted for callers' sake.
    ``dry`` (None: each checkpoint's own) mixes that share of the input back.
    ``labels`` name the checkpoint rows (``--name``); else each is named by its arch
    and file, with its path when two files share a name.
    """
    ckpts = list(ckpts or [])
    if labels and len(labels) != len(ckpts):
        raise SeganError(f"give one --name per --ckpt ({len(labels)} names for "
                         f"{len(ckpts)} checkpoints)")
    manifest = load_manifest(root)
    items = corpus_pairs(root, manifest, split)
    sr = manifest.sample_rate
    systems = [System("Noisy", [(n, c, x) for n, c, x in items])]
    if wiener:
        from segan_cli.core.enhancement.whole_file import WienerFileEnhancer

        systems.append(enhanced_system("Wiener", items, sr, WienerFileEnhancer().enhance))
        systems[-1].baseline = True
    names = [Path(str(c)).name for c in ckpts]
    for i, ckpt in enumerate(ckpts):
        from segan_cli.core.enhancement.inference import GeneratorModel, load_bundle
        from segan_cli.core.enhancement.whole_file import Enhancer
        from segan_cli.weights import DEFAULT_WORD, is_default, resolve_checkpoint

        bundle = load_bundle(resolve_checkpoint(ckpt), device)
        enhancer = Enhancer(GeneratorModel.from_bundle(bundle, dry=dry), chunking, batch_size,
                            dc_block_hz=dc_block_hz)
        shown = names[i] if names.count(names[i]) == 1 else str(ckpt)
        label = (labels[i] if labels else DEFAULT_WORD if is_default(ckpt)
                 else f"{bundle.arch} ({shown})")
        systems.append(enhanced_system(label, items, sr, enhancer.enhance))
    return manifest, systems


def folder_systems(clean: Path, enhanced: list[Path], labels: list[str] | None = None
                   ) -> list[System]:
    """One row per enhanced folder, files matched to ``clean`` by relative path."""
    refs = list_audio(clean)
    if not refs:
        raise CorpusError(f"no audio files found in {clean}")
    if labels and len(labels) != len(enhanced):
        raise SeganError("give one --name per --enhanced folder")
    systems = []
    for i, folder in enumerate(enhanced):
        outs = list_audio(folder)
        common = sorted(set(refs) & set(outs))
        notes = []
        if missing := sorted(set(refs) - set(outs)):
            notes.append(f"{len(missing)} clean file(s) have no enhanced version in {folder}: "
                         + name_list(missing, 6))
        if extra := sorted(set(outs) - set(refs)):
            notes.append(f"{len(extra)} enhanced file(s) have no clean reference: "
                         + name_list(extra, 6))
        if not common:
            raise CorpusError(f"no file names in {folder} match {clean}",
                              "the enhanced files must keep the clean files' names")
        label = labels[i] if labels else Path(folder).name
        systems.append(System(label, [(k, refs[k], outs[k]) for k in common], notes))
    return systems


def score_systems(systems: list[System], workers: int, mode: str, resample: bool = False,
                  extended_stoi: bool = False, progress: Progress | None = None,
                  keep: Callable[[System], Collection[str]] | None = None) -> None:
    """Score every system in place (``system.result``), with its earlier failures.

    Enhanced rows are enhanced and scored :data:`CHUNK_FILES` files at a time, in
    order. ``keep(system)``, asked as each enhanced row starts (so it can look at the
    rows scored before it), names the files whose enhanced signals that row keeps in
    ``system.kept``; every other signal is dropped with its chunk.
    """
    progress = progress or SilentProgress()

    def score(pairs: list[PairSpec], sample_rate: int | None) -> BatchResult:
        return score_pairs(pairs, workers, mode, progress.advance,  # type: ignore[arg-type]
                           sample_rate=sample_rate, resample=resample,
                           extended_stoi=extended_stoi)

    for system in systems:
        if system.enhance is None:
            progress.start(f"scoring {system.label}", len(system.pairs))
            result = score(system.pairs, system.sample_rate)
        else:
            progress.start(f"enhancing and scoring {system.label}", 2 * len(system.items))
            wanted = frozenset(keep(system)) if keep is not None else frozenset()
            parts = []
            for a in range(0, len(system.items), CHUNK_FILES):
                chunk = system.items[a:a + CHUNK_FILES]
                pairs = _enhance_chunk(system, chunk, progress, wanted)
                parts.append(score(pairs, system.sample_rate))
                progress.advance(len(chunk) - len(pairs))  # failed before scoring
            result = merge_results(parts, mode, extended_stoi)
        result.failures[:0] = system.failures
        result.warnings[:0] = system.warnings
        system.result = result


def enhanced_output(system: System, name: str) -> np.ndarray | None:
    """The enhanced signal of file ``name`` of an enhanced row (at ``system.sample_rate``).

    The one kept while scoring if there is one, else the file is enhanced again by the
    same enhancer (for files chosen only once the row was scored). None for a row that
    is not enhanced in memory, a name it does not hold, or a file it cannot enhance.
    """
    if name in system.kept:
        return system.kept[name]
    if system.enhance is None or system.sample_rate is None:
        return None
    for item, _clean, noisy in system.items:
        if item == name:
            try:
                out = system.enhance(load_mono(noisy, system.sample_rate),
                                     system.sample_rate)
            except SeganError:
                return None
            system.kept[name] = out
            return out
    return None

"""Pydantic models of every settings file, and the YAML loader with CLI overrides.

Every section forbids unknown keys so that a typo is an error naming the key and
the file, never a silently ignored value. Defaults are the SEGAN paper's; the
``adv`` preset holds the Advanced SEGAN differences.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from segan_cli.errors import SettingsError, special_kind
from segan_cli.strict_yaml import load_yaml

PAPER_CHANNELS = [16, 32, 32, 64, 64, 128, 128, 256, 256, 512, 1024]

# Upper bounds, far beyond the paper's models, so that a typo or an edited checkpoint
# is refused with the key's name instead of asking for more memory than a machine has.
MAX_WINDOW = 2**20
MAX_KERNEL = 1025
MAX_WIDTH = 8192
MAX_LAYERS = 16
MAX_WEIGHTS = 1_000_000_000  # per network: 4 GB of float32 weights
MAX_ACTIVATIONS = 2**28  # values through the generator per window: 1 GiB of float32
MAX_BATCH = 4096
MAX_FILE_BYTES = 1 << 20  # a settings file is a few hundred bytes


#: Lightning's ``precision`` values this model trains with: full float32 or mixed
#: (autocast). Lightning's "true" half/bfloat16/64-bit modes cast the weights, and the
#: model computes its losses, reference batch and validation in float32, so they are
#: refused here; NVIDIA's transformer-engine modes need that package and a Hopper GPU.
Precision = Literal["32-true", "32", "16-mixed", "16", "bf16-mixed", "bf16"]

# torch device names an inference device can be: cpu, cuda, cuda:1, mps, xpu:0
_DEVICE = re.compile(r"(cpu|cuda|mps|xpu)(:\d{1,3})?")


def check_device_name(value: str) -> str:
    """``auto`` or a torch device name; availability is checked when the model loads."""
    name = value.strip().lower()
    if name != "auto" and not _DEVICE.fullmatch(name):
        raise ValueError(f"{value!r} is not a device: use auto, cpu, cuda, cuda:N, mps or xpu")
    return name


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class NoiseMix(_Section):
    """Relative weights of the noise families augmentation draws from (0 drops one)."""

    corpus: float = Field(0.4, ge=0, description="noisy - clean of another training window")
    coloured: float = Field(0.15, ge=0, description="power-law noise, slopes -2..+1")
    speech_shaped: float = Field(0.1, ge=0, description="noise with speech's long-term spectrum")
    babble: float = Field(0.15, ge=0, description="3-6 other training voices summed")
    tonal: float = Field(0.1, ge=0, description="mains hum with harmonics, drifting tones")
    impulsive: float = Field(0.1, ge=0, description="clicks and bursts at random rates")

    @model_validator(mode="after")
    def _some_noise(self) -> NoiseMix:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one noise family needs a positive weight")
        return self


class AugmentSettings(_Section):
    """On-the-fly training mixtures (off by default: the paper trains on the corpus as is).

    Each training window is remixed from the training split's clean speech: speed
    perturbation (pitch and tempo), a random spectral tilt, a noise family, an SNR,
    a share of clean windows whose target is the input itself, and a random gain.
    """

    enabled: bool = False
    clean_share: float = Field(0.2, ge=0, le=1, description="windows with no noise added")
    snr_db: tuple[float, float] = (-5.0, 40.0)
    gain_db: float = Field(15.0, ge=0, le=60, description="random level change, +-dB")
    speed: tuple[float, float] = (0.8, 1.25)
    tilt_db_per_octave: float = Field(3.0, ge=0, le=12, description="+-dB/octave around 1 kHz")
    noise: NoiseMix = Field(default_factory=NoiseMix)
    seed: int = Field(0, ge=0, description="with (epoch, index), fixes every mixture")

    @model_validator(mode="after")
    def _ranges(self) -> AugmentSettings:
        lo, hi = self.snr_db
        if lo > hi:
            raise ValueError(f"snr_db must be [low, high], got [{lo}, {hi}]")
        a, b = self.speed
        if not 0.5 <= a <= b <= 2.0:
            raise ValueError(f"speed must be [low, high] within 0.5..2.0, got [{a}, {b}]")
        return self


class DataSettings(_Section):
    """Corpus layout: sample rate, window slicing, splits and mixing SNRs."""

    sample_rate: int = Field(16000, ge=1000, le=192000)
    window: int = Field(16384, ge=64, le=MAX_WINDOW, description="samples per training window")
    hop: int = Field(8192, ge=1, description="window hop inside an utterance")
    valid_speakers: list[str] = Field(default_factory=lambda: ["p286", "p287"])
    train_snrs: list[float] = Field(default_factory=lambda: [0.0, 5.0, 10.0, 15.0])
    test_snrs: list[float] = Field(default_factory=lambda: [2.5, 7.5, 12.5, 17.5])
    valid_snrs: list[float] | None = Field(
        None, description="SNRs of the validation mixtures of prepare mix/demo; default: "
        "test_snrs, so that choosing on validation predicts the test sets")
    resample_quality: Literal["VHQ", "HQ", "MQ", "LQ", "QQ"] = "VHQ"
    seed: int = Field(0, ge=0, description="of the mixing draws (NumPy takes no negative one)")
    augment: AugmentSettings = Field(default_factory=AugmentSettings)

    @model_validator(mode="after")
    def _hop_within_window(self) -> DataSettings:
        if self.hop > self.window:
            raise ValueError(f"hop ({self.hop}) must not exceed window ({self.window})")
        for key in ("train_snrs", "test_snrs", "valid_snrs"):
            if any(not -100 <= v <= 100 for v in getattr(self, key) or ()):
                raise ValueError(f"{key} must lie within -100..100 dB")
        return self


class ModelSettings(_Section):
    """Generator and discriminator shapes; every size is configurable."""

    arch: Literal["segan", "adv"] = "segan"
    encoder_channels: list[int] = Field(default_factory=lambda: list(PAPER_CHANNELS))
    kernel_size: int = Field(31, ge=1, le=MAX_KERNEL)
    z_channels: int | None = Field(
        None, ge=1, le=MAX_WIDTH, description="latent channels; default: last encoder width"
    )
    disc_channels: list[int] = Field(default_factory=lambda: list(PAPER_CHANNELS))
    disc_kernel_size: int = Field(31, ge=1, le=MAX_KERNEL)
    leaky_slope: float = Field(0.3, ge=0.0)
    preemphasis: float = Field(0.95, ge=0.0, lt=1.0, description="0 disables")
    input_norm: Literal["none", "zscore"] = "none"
    head: Literal["seed", "linear", "residual"] = Field(
        "seed", description="adv output head: the seed's BN-ReLU-conv, BN-conv, or "
        "input + BN-conv correction")
    window_norm: bool = Field(
        False, description="adv: scale each input window to unit RMS and the output back")
    decoder_last: Literal["bn_relu", "conv"] = Field(
        "bn_relu", description="adv: the last decoder block, the seed's BN-ReLU or a plain conv")
    head_norm: Literal["batch", "none"] = Field(
        "batch", description="adv: the output head's BatchNorm (the seed's) or none")
    condition: Literal["none", "wiener"] = Field(
        "none", description="adv: also feed the window's Wiener estimate, and take the "
        "residual over it")
    upsample: Literal["transposed", "linear"] = Field(
        "transposed", description="adv decoder: strided transposed convs (the seed's) or "
        "linear interpolation + conv (no checkerboard tones)")
    correction_gate: list[float] | None = Field(
        None, description="adv residual over wiener: [low, high] share of a window's energy "
        "the Wiener estimate removes, between which the learned correction fades in "
        "(none below low, all of it above high), so clean speech keeps the Wiener base")

    @model_validator(mode="after")
    def _non_empty(self) -> ModelSettings:
        if not self.encoder_channels or not self.disc_channels:
            raise ValueError("encoder_channels and disc_channels must not be empty")
        if self.arch == "segan" and self.head != "seed":
            raise ValueError("model.head applies to arch 'adv' (segan keeps its tanh output)")
        if self.arch == "segan" and (self.window_norm or self.decoder_last != "bn_relu"
                                     or self.head_norm != "batch" or self.condition != "none"
                                     or self.upsample != "transposed"):
            raise ValueError("model.window_norm, model.decoder_last, model.head_norm, "
                             "model.condition and model.upsample apply to arch 'adv'")
        if self.correction_gate is not None:
            gate = self.correction_gate
            if len(gate) != 2 or not 0.0 <= gate[0] < gate[1] <= 1.0:
                raise ValueError(f"correction_gate must be [low, high] with 0 <= low < high "
                                 f"<= 1, got {gate}")
            if self.head != "residual" or self.condition != "wiener":
                raise ValueError("model.correction_gate needs model.head 'residual' and "
                                 "model.condition 'wiener' (it weighs a correction over the "
                                 "Wiener estimate)")
        if any(c <= 0 for c in self.encoder_channels + self.disc_channels):
            raise ValueError("channel widths must be positive")
        for key in ("encoder_channels", "disc_channels"):
            widths = getattr(self, key)
            if len(widths) > MAX_LAYERS:
                raise ValueError(f"{key} has {len(widths)} layers, at most {MAX_LAYERS} "
                                 "are supported")
            if max(widths) > MAX_WIDTH:
                raise ValueError(f"{key} holds a width of {max(widths)}, at most "
                                 f"{MAX_WIDTH} is supported")
        for name, weights in (("generator", generator_weights(self)),
                              ("discriminator", discriminator_weights(self))):
            if weights > MAX_WEIGHTS:
                raise ValueError(f"the {name} would have about {weights / 1e9:.1f} G weights "
                                 f"(at most {MAX_WEIGHTS / 1e9:.0f} G): use fewer or narrower "
                                 "layers or a smaller kernel")
        return self


class TrainSettings(_Section):
    """Optimisation and the Lightning Trainer (devices, nodes, strategy, precision)."""

    batch_size: int = Field(100, ge=1, le=MAX_BATCH, description="per device")
    ref_batch_size: int | None = Field(None, ge=1, le=MAX_BATCH,
                                       description="VBN reference; default batch")
    optimizer: Literal["rmsprop", "adam"] = "rmsprop"
    lr_g: float = Field(2e-4, gt=0)
    lr_d: float = Field(2e-4, gt=0)
    betas: tuple[float, float] = (0.5, 0.999)
    l1_weight: float = Field(100.0, ge=0)
    stft_weight: float = Field(0.0, ge=0, description="multi-resolution STFT loss; 0 = paper")
    stft_resolutions: list[tuple[int, int]] = Field(
        default_factory=lambda: [(512, 128), (1024, 256), (256, 64)],
        description="(fft size, hop) pairs of the STFT loss")
    adversarial_from_step: int = Field(
        0, ge=0, description="GAN steps of regression only before the discriminator joins")
    adversarial: Literal["lsgan", "metric"] = Field(
        "lsgan", description="lsgan: the paper's real/fake discriminator over (candidate, "
        "noisy); metric: MetricGAN, a discriminator over (candidate, clean) trained to "
        "predict the candidate's normalised wide-band PESQ, which the generator maximises")
    metric_weight: float = Field(
        1.0, ge=0, allow_inf_nan=False,
        description="weight of the generator's metric term (adversarial: metric)")
    ema_decay: float | None = Field(
        None, gt=0, lt=1, description="EMA of generator weights for validation and inference")
    latent: Literal["random", "zeros"] = Field(
        "random", description="z in training: N(0, I) as the paper, or zeros (inference's z)")
    max_epochs: int = Field(86, ge=-1)
    max_steps: int = Field(-1, ge=-1)
    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = Field(1, ge=1)
    strategy: str = "auto"
    precision: Precision = Field("32-true", description="what Lightning's Trainer takes")
    num_workers: int = Field(2, ge=0, le=256)
    pin_memory: bool = True
    val_every_n_epochs: int = Field(1, ge=1)
    val_check_interval: int | None = Field(None, ge=1, description="steps between validations")
    val_utterances: int = Field(16, ge=1, le=100_000, description="fixed validation subset size")
    keep_checkpoints: bool = Field(
        False, description="keep every validation's checkpoint (checkpoints/step-N-pesq"
        "X.ckpt) to choose among later, besides best and last")
    log_every_n_steps: int = Field(50, ge=1)
    seed: int = Field(1234, ge=0, le=2**32 - 1,
                      description="Lightning replaces one outside 0..2^32-1 by a random seed")

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_text(cls, value: Any) -> Any:
        """A YAML ``16`` is the text ``"16"``."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("precision")
    @classmethod
    def _precision_name(cls, value: str) -> str:
        """Lightning's short names (``16``, ``bf16``, ``32``) as the full ones it asks for
        (it warns about the short ones)."""
        return {"16": "16-mixed", "bf16": "bf16-mixed", "32": "32-true"}.get(value, value)

    @model_validator(mode="after")
    def _stft_sizes(self) -> TrainSettings:
        if len(self.stft_resolutions) > 16:
            raise ValueError(f"stft_resolutions: {len(self.stft_resolutions)} entries, "
                             "at most 16")
        for fft, hop in self.stft_resolutions:
            if not (16 <= fft <= 8192 and 1 <= hop <= fft):
                raise ValueError(f"stft_resolutions: ({fft}, {hop}) needs 16 <= fft <= 8192 "
                                 "and 1 <= hop <= fft")
        return self


class EnhanceSettings(_Section):
    """Whole-file inference: chunking, batching, device, streaming block size."""

    batch_size: int = Field(8, ge=1, le=1024)
    chunking: Literal["ola", "paper"] = "ola"
    device: str = Field("auto", description="auto or a torch device: cpu, cuda, cuda:1, mps")
    block_seconds: float = Field(30.0, ge=0.1, le=600, description="streamed block length")
    seed: int | None = Field(None, ge=-(2**63), le=2**64 - 1,
                             description="of the latent z; torch takes a 64-bit one")
    dc_block_hz: float = Field(
        10.0, ge=0, description="DC blocker after de-emphasis; 0 disables (paper-exact)")
    dry: float = Field(0.0, ge=0.0, le=1.0, description="share of the input mixed back into "
                       "the output (0: all model); a checkpoint keeps the value it ran with")

    @field_validator("device")
    @classmethod
    def _device_name(cls, value: str) -> str:
        return check_device_name(value)

    @property
    def requested_dry(self) -> float | None:
        """``dry`` when the user set it (flag, file or --set), else None: the model's own."""
        return self.dry if "dry" in self.model_fields_set else None


class EvaluateSettings(_Section):
    """Metric computation: mode, workers, resampling of mismatched rates."""

    mode: Literal["standard", "paper"] = "standard"
    workers: int | None = Field(None, ge=1, le=1024, description="default: all cores")

    @field_validator("mode", mode="before")
    @classmethod
    def _old_mode_name(cls, value: Any) -> Any:
        """``default``, the standard mode's old name, still reads (older files and
        checkpoints); it was renamed because "(default)" read as the default model."""
        return "standard" if value == "default" else value
    resample: bool = False
    extended_stoi: bool = False


class Settings(_Section):
    """The whole settings file."""

    data: DataSettings = Field(default_factory=DataSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    enhance: EnhanceSettings = Field(default_factory=EnhanceSettings)
    evaluate: EvaluateSettings = Field(default_factory=EvaluateSettings)

    @model_validator(mode="after")
    def _activations_fit(self) -> Settings:
        values = window_activations(self.model.encoder_channels, self.data.window)
        if values > MAX_ACTIVATIONS:
            raise ValueError(
                f"data.window {self.data.window} with model.encoder_channels would move about "
                f"{values * 4 / 2**30:.1f} GiB per window through the generator (at most "
                f"{MAX_ACTIVATIONS * 4 / 2**30:.0f} GiB): use a shorter window or narrower "
                "layers")
        return self


def _conv_weights(pairs: list[tuple[int, int]], kernel: int) -> int:
    return sum(kernel * a * b for a, b in pairs)


def generator_weights(model: ModelSettings) -> int:
    """About how many weights the generator of ``model`` has (the size check's measure)."""
    ch, k = model.encoder_channels, model.kernel_size
    z = model.z_channels or ch[-1]
    enc_in = [1, *ch[:-1]]
    dec_in = [ch[-1] + z] + [2 * c for c in reversed(ch[:-1])]
    dec_out = [*reversed(ch[:-1]), 1]
    pairs = [*zip(enc_in, ch, strict=True), *zip(dec_in, dec_out, strict=True)]
    if model.arch == "adv":  # stride-4 residual projections beside each block
        pairs += [*zip(enc_in[:-1], ch[1:], strict=True),
                  *zip(dec_in[:-1], dec_out[1:], strict=True)]
    return _conv_weights(pairs, k)


def discriminator_weights(model: ModelSettings) -> int:
    """About how many weights the discriminator of ``model`` has."""
    ch = model.disc_channels
    return _conv_weights(list(zip([2, *ch[:-1]], ch, strict=True)), model.disc_kernel_size)


def window_activations(channels: list[int], window: int) -> int:
    """About how many values one window moves through a generator of these widths.

    Layer i holds ``channels[i]`` x ``window / 2**(i+1)`` values; the decoder, its
    concatenated skips and the residual paths make about four times the encoder's.
    """
    return 4 * sum(c * max(window >> (i + 1), 1) for i, c in enumerate(channels))


ARCH_PRESETS: dict[str, dict[str, Any]] = {
    "segan": {},
    "adv": {
        "model": {"arch": "adv", "preemphasis": 0.0, "input_norm": "zscore"},
        "train": {"optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4},
    },
}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _known_keys(model: type[BaseModel], path: list[str]) -> list[str]:
    for part in path:
        field = model.model_fields.get(part)
        if field is None or not (
            isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        ):
            return []
        model = field.annotation
    return list(model.model_fields)


def _describe(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"]]
    key = ".".join(loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        known = _known_keys(Settings, loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(known)}"
        msg = f"{source}: unknown key '{key}' ({hint})"
    else:
        text = first["msg"].removeprefix("Value error, ")
        msg = f"{source}: {key}: {text}" if loc else f"{source}: {text}"
    more = len(err.errors()) - 1
    return msg + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


def validate_settings(data: dict[str, Any], source: str) -> Settings:
    """Settings from a plain dict (a file's, a checkpoint's), errors naming the source."""
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        raise SettingsError(_describe(err, source)) from err


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``section.key=value``; the value is parsed as YAML (numbers, lists, bools)."""
    if "=" not in text:
        raise SettingsError(f"--set {text!r}: expected KEY=VALUE, e.g. train.batch_size=8")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise SettingsError(f"--set {text!r}: empty key")
    try:
        value = load_yaml(raw) if raw.strip() else None
    except (yaml.YAMLError, RecursionError):
        value = raw
    return parts, value


def _nest(parts: list[str], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        out = {part: out}
    return out


def read_settings_file(path: Path) -> dict[str, Any]:
    """Read a YAML settings file into a dict, with errors naming the file."""
    path = Path(path)
    if kind := special_kind(path):
        raise SettingsError(f"settings file {path} is {kind}, not a file",
                            "pass a YAML settings file such as configs/segan.yaml")
    if not path.is_file():
        raise SettingsError(f"settings file not found: {path}", "check the --config path")
    hint = "pass a YAML settings file such as configs/segan.yaml"
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SettingsError(f"{path} is not a settings file: it holds "
                                f"{path.stat().st_size} bytes (at most {MAX_FILE_BYTES})", hint)
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path} is not a text settings file: byte {exc.start} is not "
                            "UTF-8", hint) from None
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc.strerror or exc}") from exc
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SettingsError(f"{path}:{where} is not valid YAML: {problem}", hint) from exc
    except RecursionError:
        raise SettingsError(f"{path} is not valid settings: it nests too deeply", hint) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping of sections at the top level")
    return data


def load_settings(
    path: Path | None = None,
    overrides: list[str] | None = None,
    arch: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Settings:
    """Build settings from arch preset <- YAML file <- ``extra`` <- ``--set`` overrides.

    ``extra`` holds first-class CLI flags (``{"train": {"max_steps": 5}}``); values
    of ``None`` in it are ignored so that unset flags never override the file.
    """
    file_data = read_settings_file(path) if path is not None else {}
    file_arch = (file_data.get("model") or {}).get("arch") if isinstance(
        file_data.get("model"), dict
    ) else None
    chosen = arch or file_arch or "segan"
    if chosen not in ARCH_PRESETS:
        raise SettingsError(f"unknown arch '{chosen}' (choose one of: {', '.join(ARCH_PRESETS)})")
    data = _merge(ARCH_PRESETS[chosen], file_data)
    if arch is not None:
        data = _merge(data, {"model": {"arch": arch}})
    source = str(path) if path is not None else "settings"
    validate_settings(data, source)
    for section, values in (extra or {}).items():
        clean = {k: v for k, v in values.items() if v is not None}
        if clean:
            data = _merge(data, {section: clean})
    for text in overrides or []:
        parts, value = parse_override(text)
        data = _merge(data, _nest(parts, value))
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        label = source + " with command-line overrides" if (overrides or extra) else source
        raise SettingsError(_describe(err, label)) from err


def settings_to_yaml(settings: Settings) -> str:
    """Serialise settings to YAML (used for run folders and checkpoints)."""
    return yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False)

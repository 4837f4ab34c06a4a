"""Built-in settings presets, found by name: ``--config tiny`` works from a wheel.

The presets live in the repository's ``configs/`` (their one source). A wheel carries
copies as package data in ``segan_cli/configs/`` (``setup.py`` copies them at build
time), so a pip-installed ``segan`` finds them without a checkout; a source checkout
or editable install reads ``configs/`` itself.
"""

from __future__ import annotations

from pathlib import Path

from segan_cli.errors import SettingsError, name_list

SUFFIXES = (".yaml", ".yml")
_HERE = Path(__file__).resolve().parent


def preset_dirs() -> list[Path]:
    """Where presets are looked up: the installed package data, then the checkout."""
    return [d for d in (_HERE / "configs", _HERE.parent / "configs") if d.is_dir()]


def preset_names() -> list[str]:
    """The names ``--config`` takes besides file paths (``tiny``, ``adv``, ...)."""
    return sorted({p.stem for d in preset_dirs() for p in d.iterdir()
                   if p.suffix in SUFFIXES})


def preset_path(name: str) -> Path | None:
    """The file of the preset ``name`` (with or without ``.yaml``), or None."""
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix in SUFFIXES else name
    for folder in preset_dirs():
        for suffix in SUFFIXES:
            if (folder / f"{stem}{suffix}").is_file():
                return folder / f"{stem}{suffix}"
    return None


def find_config(value: Path | str) -> Path:
    """A ``--config`` value as a file: an existing path as given; else a bare name
    (``tiny``, ``tiny.yaml``) or a missing ``configs/NAME.yaml`` (what the help of an
    older version shows) as that built-in preset. A bare name that is no preset is
    refused with the list of presets."""
    path = Path(value)
    if path.exists():
        return path
    bare = path.name == str(value)
    if bare or path.parent.name == "configs":
        found = preset_path(path.name)
        if found is not None:
            return found
    if bare and path.suffix not in SUFFIXES:
        raise SettingsError(f"no settings file or built-in preset named '{value}'",
                            f"built-in presets: {name_list(preset_names())}; or give "
                            "the path of a YAML file")
    return path

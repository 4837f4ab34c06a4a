"""Build hook: copy the settings presets (configs/*.yaml) into the wheel as package
data (segan_cli/configs/), so `--config tiny` works for a pip-installed segan while
configs/ stays the one source at the repository's top level. Everything else is in
pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PRESETS = Path(__file__).resolve().parent / "configs"


class BuildWithPresets(build_py):
    """build_py, plus the presets copied beside the package's modules."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "segan_cli" / "configs"
        target.mkdir(parents=True, exist_ok=True)
        for preset in sorted(PRESETS.glob("*.yaml")):
            shutil.copyfile(preset, target / preset.name)


setup(cmdclass={"build_py": BuildWithPresets})

"""The segan core: importable without Typer or rich; never prints."""

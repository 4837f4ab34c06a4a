"""The Typer command layer: parse, load settings, call the core, render with rich."""

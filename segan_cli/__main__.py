"""``python -m segan_cli`` runs the ``segan`` command."""

from segan_cli.cli.app import main

main()

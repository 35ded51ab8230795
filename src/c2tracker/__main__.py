"""``python -m c2tracker`` runs the command-line interface."""

from c2tracker.cli import main

main()

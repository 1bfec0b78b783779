"""Subcommands of the improve-hpo CLI, one module each (see improve_hpo.cli)."""

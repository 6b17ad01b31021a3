"""The `sluice` command line: one click group per module, `main` in sluice.cli.main."""

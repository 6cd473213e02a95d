"""Commands of the `tempme` CLI (registered by app/cli.py)."""

COMMANDS: dict = {}

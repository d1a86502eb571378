"""`python -m bot …`: one entry point; each feature package registers its own subcommands.

A feature adds ``register(subparsers)`` in its ``cli`` module and its commands to COMMANDS.
Only the module owning the requested command is imported, so `python -m bot kb check` does
not pay for SQLAlchemy, torch or FastAPI imports.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: top-level command → module whose ``register`` adds it
COMMANDS = {
    "kb": "bot.kb.cli",
    "model": "bot.embedding.cli",
    "ask": "bot.retrieval.cli",
    "eval": "bot.retrieval.cli",
    "index": "bot.retrieval.cli",
    "indicators": "bot.indicators.cli",
    "route": "bot.consultations.cli",
    "db": "bot.consultations.cli",
    "consultations": "bot.consultations.cli",
    "inbox": "bot.inbox.cli",
    "report": "bot.feedback.cli",
    "closedloop": "bot.consultations.loop_cli",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Parser with every feature's commands, or only the module owning ``command``."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="linli 邻里: community-service assistant")
    sub = parser.add_subparsers(dest="command", required=True)
    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and (name == e.name or name.startswith(e.name + ".")):  # feature not in this tree
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())

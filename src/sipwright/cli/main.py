"""Entry point of the ``sipwright`` command: subcommands and their flags.

Every subcommand lives in its own module and registers itself through
``add_parser``; this module only dispatches and turns bad input into one clear
line and exit code 2 (the convention of argparse, SIPp and most Unix tools).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from sipwright import __version__

__all__ = ["main"]

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the problem, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: "):
            message = "unknown option " + message.removeprefix("unrecognized arguments: ")
        sys.stderr.write(f"{self.prog}: {message} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sipwright",
        description="Test SIP/VoIP systems from the outside: calls, scenarios, load, media.",
    )
    parser.add_argument("--version", action="version", version=f"sipwright {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    # Imported here, not at the top: `sipwright sipp` (and each of its worker
    # processes) starts without loading the other commands' modules.
    from sipwright.cli import (  # noqa: PLC0415
        answer,
        call,
        demo,
        flood,
        fuzz,
        message,
        pcap,
        ping,
        register,
        traceroute,
        usrloc,
    )

    demo.add_parser(commands)
    ping.add_parser(commands)
    register.add_parser(commands)
    call.add_parser(commands)
    answer.add_parser(commands)
    traceroute.add_parser(commands)
    message.add_parser(commands)
    usrloc.add_parser(commands)
    flood.add_parser(commands)
    fuzz.add_parser(commands)
    pcap.add_parser(commands)
    commands.add_parser(
        "sipp",
        help="run SIPp scenarios with SIPp's command line (sipwright sipp -sn uac host)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] == "sipp":
        # SIPp's own command-line syntax (single-dash words), not argparse's.
        from sipwright.cli import sipp  # noqa: PLC0415 - only for this command

        return sipp.main(arguments[1:])
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        result: int = args.run(args)
    except KeyboardInterrupt:
        sys.stderr.write("sipwright: interrupted\n")
        return 130
    return result


if __name__ == "__main__":
    raise SystemExit(main())

"""What the `dmsweep` and `run_builder` console scripts do alike: exit codes, one-line errors.

An expected failure (any DmsweepError) is one line on stderr and exit status 2, never a
traceback: the user acts on the message (file, key, expectation), not on our stack.
"""

from __future__ import annotations

import argparse
import sys

from dmsweep.errors import DmsweepError

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def run_subcommand(prog: str, args: argparse.Namespace) -> int:
    """Run the subcommand parsed into `args.run`, turning expected errors into one line."""
    try:
        return int(args.run(args))
    except DmsweepError as err:
        print(f"{prog} {args.command}: error: {one_line(err)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{prog} {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def positive_int(text: str) -> int:
    """argparse type of an integer option >= 1 (-j, --threads, --max-trainings)."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type of an integer option >= 0 (--gpus)."""
    return _int_at_least(text, 0)


def positive_float(text: str) -> float:
    """argparse type of a finite number option > 0 (--gpu-hour-cost)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
    return value


class VersionAction(argparse.Action):
    """`--version`, looking the version up only when asked (see dmsweep.__getattr__)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        import dmsweep

        parser.exit(message=f"dmsweep {dmsweep.__version__}\n")

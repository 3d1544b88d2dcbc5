"""The `tft-ser` command: `tft-ser predict MODEL AUDIO... [--timeline [--plot P]] [--explain P] [--json|--csv]`."""

from __future__ import annotations

import argparse
import logging
import sys

from .exit_codes import EXIT_USAGE
from .options import VADOptions

logger = logging.getLogger("tft_ser")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tft-ser", description="Speech emotion recognition with the TFT.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("predict", help="emotion of audio files (whole file, or a timeline of speech segments)")
    p.add_argument("model", help="export folder or Hub id of a TFT audio-classification model")
    p.add_argument("audio", nargs="+", help="audio files, folders (searched recursively) or glob patterns")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_const", dest="format", const="json", help="JSON output")
    fmt.add_argument("--csv", action="store_const", dest="format", const="csv", help="CSV output")
    p.add_argument("--timeline", action="store_true", help="one row per speech / non-speech segment (Silero VAD)")
    p.add_argument("--plot", metavar="PNG", help="with --timeline: draw it (several files: PNG_<stem>.png)")
    p.add_argument("--explain", metavar="PNG", help="draw the explanation maps of the first window")
    p.add_argument("--window-s", type=float, help="window length in seconds (default and maximum: the model's)")
    p.add_argument("--hop-s", type=float, help="hop between windows in seconds (default: half the window)")
    p.add_argument("--no-vad", action="store_true", help="predict: weight windows by length, not by speech")
    p.add_argument("--vad-threshold", type=float, default=VADOptions.threshold, help="Silero speech threshold")
    p.add_argument("--min-silence-ms", type=int, default=VADOptions.min_silence_ms, help="pause that ends a segment")
    p.add_argument("--max-segment-s", type=float, default=VADOptions.max_segment_s, help="longest segment")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--batch-size", type=int, default=16, help="windows per model call")
    p.add_argument("--trust-remote-code", action="store_true", help="run the model repository's own code")
    p.add_argument("-v", "--verbose", action="store_true", help="log down-mixing, resampling and progress details")
    p.set_defaults(format="table")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if args.plot and not args.timeline:
        print("error: --plot draws the timeline; add --timeline", file=sys.stderr)
        return EXIT_USAGE
    from .runner import Runner  # after argument parsing: torch and transformers take a while to import

    try:
        runner = Runner.from_args(args)
    except (OSError, ValueError) as error:
        print(f"error: cannot load model {args.model!r}: {error}", file=sys.stderr)
        return EXIT_USAGE
    return runner.run(args.audio)


__all__ = ["build_parser", "main"]

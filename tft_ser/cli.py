"""
The `tft-ser` command: `tft-ser predict MODEL AUDIO... [--timeline [--plot P]] [--explain P] [--json|--csv]`,
`tft-ser embed MODEL AUDIO... --output FILE` and `tft-ser export-onnx MODEL OUT.onnx`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .exit_codes import EXIT_BAD_MODEL, EXIT_USAGE
from .options import MIN_WINDOW_S, VADOptions

EMBEDDING_SUFFIXES = (".npy", ".parquet", ".csv")  # tft_ser.embed.OUTPUT_SUFFIXES (kept here: no torch at parse)

logger = logging.getLogger("tft_ser")


def _number(kind: type, low: float, high: float | None = None, low_open: bool = False, high_open: bool = False):
    """An argparse type: a `kind` (int or float) in the interval [low, high] (open where asked)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        too_low = value <= low if low_open else value < low
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high or value != value:  # NaN compares false everywhere
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            raise argparse.ArgumentTypeError(f"{text} is outside {left}{low}, {'inf' if high is None else high}{right}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="tft-ser", description="Speech emotion recognition with the TFT.")
    parser.add_argument("--version", action="version", version=f"tft-ser {__version__}")
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
    p.add_argument(
        "--window-s",
        type=_number(float, MIN_WINDOW_S),
        help=f"window length in seconds, at least {MIN_WINDOW_S} (default and maximum: the model's)",
    )
    p.add_argument(
        "--hop-s", type=_number(float, 0, low_open=True), help="hop between windows in seconds (default: half window)"
    )
    p.add_argument("--no-vad", action="store_true", help="predict: weight windows by length, not by speech")
    p.add_argument(
        "--adapt",
        choices=("none", "recording", "files"),
        default="none",
        help="speaker-adaptive normalisation: 'recording' standardises each file with the statistics of its own "
        "speech (VAD), 'files' with those of all the given files' speech (one speaker); with too little speech, "
        "the exported statistics (default 'none': always those)",
    )
    p.add_argument(
        "--vad-threshold",
        type=_number(float, 0.15, 1, low_open=True, high_open=True),
        default=VADOptions.threshold,
        help="Silero speech probability that starts a segment, in (0.15, 1) (a segment ends 0.15 below it)",
    )
    p.add_argument(
        "--min-silence-ms",
        type=_number(int, 0),
        default=VADOptions.min_silence_ms,
        help="pause that ends a segment, in ms (>= 0)",
    )
    p.add_argument(
        "--max-segment-s",
        type=_number(float, MIN_WINDOW_S),
        default=VADOptions.max_segment_s,
        help=f"longest segment in seconds (>= {MIN_WINDOW_S})",
    )
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--batch-size", type=_number(int, 1), default=16, help="windows per model call (>= 1)")
    p.add_argument("--trust-remote-code", action="store_true", help="run the model repository's own code")
    p.add_argument("-v", "--verbose", action="store_true", help="log down-mixing, resampling and progress details")
    p.add_argument("--debug", action="store_true", help="show the traceback of errors")
    p.set_defaults(format="table")
    _add_embed(commands)
    _add_export_onnx(commands)
    return parser


def _output_file(suffixes: tuple[str, ...]):
    """An argparse type: a path with one of `suffixes` in an existing folder."""

    def parse(text: str) -> str:
        path = Path(text).expanduser()
        if path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{text!r} must end in {' or '.join(suffixes)} (it picks the format)")
        if not path.parent.is_dir():
            raise argparse.ArgumentTypeError(f"no folder {str(path.parent)!r} for {text!r}")
        return str(path)

    parse.__name__ = "output file"
    return parse


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-remote-code", action="store_true", help="run the model repository's own code")
    p.add_argument("-v", "--verbose", action="store_true", help="log details")
    p.add_argument("--debug", action="store_true", help="show the traceback of errors")


def _add_embed(commands) -> None:
    p = commands.add_parser(
        "embed", help="utterance embeddings (the backbone's pooler_output) of audio files, one row per file"
    )
    p.add_argument("model", help="export folder or Hub id of a TFT audio-classification model")
    p.add_argument("audio", nargs="+", help="audio files, folders (searched recursively) or glob patterns")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        type=_output_file(EMBEDDING_SUFFIXES),
        help="FILE.npy (rows; file names in FILE.npy.files.txt), FILE.parquet or FILE.csv (a 'file' column, then "
        "emb_0, emb_1, ...)",
    )
    p.add_argument(
        "--max-seconds",
        type=_number(float, 1.0),
        default=60.0,
        help="longest audio per backbone pass (>= 1; default 60, capped by the model's window): a longer file is "
        "cut into equal pieces and gets their length-weighted mean embedding",
    )
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument(
        "--batch-size",
        type=_number(int, 1),
        default=16,
        help="audio per model call: as much as this many model windows (>= 1)",
    )
    _add_common(p)


def _add_export_onnx(commands) -> None:
    p = commands.add_parser(
        "export-onnx", help="export the model to ONNX (inputs input_features, attention_mask; output logits)"
    )
    p.add_argument("model", help="export folder or Hub id of a TFT audio-classification model")
    p.add_argument("output", type=_output_file((".onnx",)), help="the ONNX file to write (OUT.onnx)")
    p.add_argument("--opset", type=_number(int, 18), help="ONNX opset (>= 18; default: torch's)")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime vs PyTorch check")
    _add_common(p)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse has printed the usage error (2) or the help (0)
        return int(exit_.code or 0)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if args.command != "predict":
        return _other_command(args)
    if args.plot and not args.timeline:
        print("error: --plot draws the timeline; add --timeline", file=sys.stderr)
        return EXIT_USAGE
    if args.window_s is not None and args.hop_s is not None and args.hop_s > args.window_s:
        print(f"error: --hop-s {args.hop_s} is longer than --window-s {args.window_s}", file=sys.stderr)
        return EXIT_USAGE
    missing = _missing_extra(args)
    if missing:
        print(f"error: {missing}", file=sys.stderr)
        return EXIT_USAGE
    from .exit_codes import ModelError, UsageError
    from .runner import Runner  # after parsing: torch and transformers take a while to load

    try:
        return Runner.from_args(args).run(args.audio)
    except UsageError as error:
        return _fail(f"error: {error}", EXIT_USAGE, args.debug)
    except ModelError as error:
        return _fail(f"error: model {args.model!r}: {error}", EXIT_BAD_MODEL, args.debug)


def _missing_extra(args: argparse.Namespace) -> str | None:
    """The error for a `predict` option whose optional package is not installed (checked before anything loads).
    Without silero-vad and without an option that needs it, whole-file prediction weights windows by length
    (as `--no-vad`) and says so on stderr."""
    from .extras import installed, missing_extra

    needs = (
        ("--timeline", args.timeline, "silero_vad"),
        (f"--adapt {args.adapt}", args.adapt != "none", "silero_vad"),
        ("--plot", args.plot, "matplotlib"),
        ("--explain", args.explain, "matplotlib"),
    )
    for option, given, module in needs:
        if given and not installed(module):
            return str(missing_extra(module, option))
    if not args.no_vad and not installed("silero_vad"):
        print(
            "warning: silero-vad is not installed, so windows are weighted by length, not by speech (as --no-vad); "
            "pip install 'tft-ser[vad]' for speech weighting",
            file=sys.stderr,
        )
        args.no_vad = True
    return None


def _other_command(args: argparse.Namespace) -> int:
    """`embed` and `export-onnx`: the same errors and exit codes as `predict`."""
    from .exit_codes import ModelError, UsageError

    try:
        if args.command == "embed":
            from .embed import run_embed

            return run_embed(args)
        from .onnx_export import run_export

        return run_export(args)
    except UsageError as error:
        return _fail(f"error: {error}", EXIT_USAGE, args.debug)
    except ModelError as error:
        return _fail(f"error: model {args.model!r}: {error}", EXIT_BAD_MODEL, args.debug)


def _fail(message: str, code: int, debug: bool) -> int:
    if debug:
        logger.exception(message)
    else:
        print(message, file=sys.stderr)
    return code


__all__ = ["build_parser", "main"]

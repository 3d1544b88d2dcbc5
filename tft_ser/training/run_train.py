"""Train and cross-validate a Time-Frequency Transformer for speech emotion recognition.

    python run_train.py                                   # built-in synthetic demo corpus, a few CPU minutes
    python run_train.py configs/casia_loso.yaml           # the paper's CASIA protocol (JSON or YAML config)
    python run_train.py --corpus casia --data_dir ../shared/corpora/casia --protocol leave_one_speaker_out \
        --output_dir outputs/casia

Several processes run each fold with DDP: `torchrun --nproc_per_node 2 run_train.py ...` (CPU or GPU),
`accelerate launch --multi_gpu --num_processes 8 run_train.py ...` (GPUs); see docs/TRAINING.md.

`run_train.py` is the script of a checkout; this module is its code. Installed, the same command is
`python -m tft_ser.training.run_train ...` (`torchrun ... -m tft_ser.training.run_train ...`), with the same options.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import NoReturn

import datasets
import transformers
import yaml
from accelerate import PartialState
from torch.distributed.elastic.multiprocessing.errors import get_error_handler, record
from transformers import HfArgumentParser, pipeline

from tft_ser.data import PreparationError
from tft_ser.training.arguments import (
    DataArguments,
    ModelArguments,
    TFTTrainingArguments,
    UsageError,
    check_options,
    check_training_options,
    no_accelerator,
)
from tft_ser.training.cross_validation import load_training_data, run_cross_validation
from tft_ser.training.data import iter_clips
from tft_ser.training.export import export_run, push_export

logger = logging.getLogger("run_train")
EXIT_FAILED, EXIT_USAGE = 1, 2  # as tft_ser.data's prepare_*: 1 the data cannot be used, 2 bad options


class ArgumentParser(HfArgumentParser):
    """`HfArgumentParser` whose argparse errors (a missing or mistyped value) raise `UsageError`, so that every usage
    error ends the same way: one line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def parse_arguments(argv: list[str]) -> tuple[ModelArguments, DataArguments, TFTTrainingArguments]:
    """Command-line options, optionally after a JSON/YAML config file whose values they override."""
    parser = ArgumentParser(
        (ModelArguments, DataArguments, TFTTrainingArguments),
        prog="run_train.py",
        epilog="TrainingArguments options that neither training path implements (e.g. --hub_strategy, --do_predict), "
        "and Trainer-only ones with --trainer accelerate, are refused with an error naming them (docs/TRAINING.md).",
    )
    parser.set_defaults(use_cpu=no_accelerator())  # HfArgumentParser ignores a bool field's default_factory
    if argv and argv[0].endswith((".json", ".yaml", ".yml")):
        if not Path(argv[0]).is_file():
            raise UsageError(f"config file {argv[0]} does not exist.")
        text = Path(argv[0]).read_text()
        values = json.loads(text) if argv[0].endswith(".json") else yaml.safe_load(text)
        unknown = sorted(set(values) - {action.dest for action in parser._actions})
        if unknown:
            raise ValueError(f"{argv[0]}: unknown options {unknown}.")
        parser.set_defaults(**values)
        argv = argv[1:]
    return parser.parse_args_into_dataclasses(args=argv)


def default_training_arguments(use_cpu: bool) -> TFTTrainingArguments:
    """The training arguments of an empty command line (with the same `use_cpu`, which depends on the machine)."""
    parser = ArgumentParser(TFTTrainingArguments)
    parser.set_defaults(use_cpu=use_cpu)
    return parser.parse_args_into_dataclasses(args=[])[0]


def setup_logging(args: TFTTrainingArguments) -> None:
    own_level = logging.INFO if args.should_log else logging.WARNING  # other processes: warnings and errors only
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=own_level)
    level = args.get_process_log_level()
    for library in (transformers.utils.logging, datasets.utils.logging):
        library.set_verbosity(level)


def classify_example(export_dir: Path, results: dict, data_args: DataArguments, output_dir: Path) -> None:
    """End of the main job: the exported model classifies one of its fold's test clips through `pipeline`."""
    config = json.loads((export_dir / "config.json").read_text())
    if config.get("num_prosody_features") or config.get("num_functionals"):
        return  # search screen: the feature extractor does not compute prosody
    fold = next(f for f in results["folds"] if f["fold"] == results["exported_fold"])
    # prepared once, reloaded from output_dir/prepared
    dataset, evaluation, _ = load_training_data(data_args, output_dir, results["seed"])
    speaker = fold["test_speakers"][0]
    if evaluation is not None:  # the eval split is the test split
        clip = evaluation.select(range(1))
        speaker = clip[0]["speaker"] or "the eval split"
    else:
        clip = dataset.filter(lambda s: s == speaker, input_columns="speaker").select(range(1))
    classifier = pipeline("audio-classification", model=str(export_dir))
    prediction = classifier(next(iter_clips(clip)), top_k=3)
    true_label = clip.features["label"].names[clip[0]["label"]]
    print(f"pipeline({export_dir}) on a test clip of {speaker} (true label: {true_label}):")
    for item in prediction:
        print(f"  {item['label']:<10} {item['score']:.3f}")


def usage_error(error: Exception, code: int = EXIT_USAGE) -> NoReturn:
    """End the run as argparse does: `run_train.py: error: MESSAGE` on stderr (one line), exit code 2 (usage) or 1
    (a corpus that cannot be trained on)."""
    message = " ".join(str(error).split("\n")) if code == EXIT_USAGE else str(error)
    get_error_handler().record_exception(error)  # under torchrun, the launcher's failure report shows the message
    print(f"run_train.py: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    try:  # every option is checked before any data is read, model built or file written
        model_args, data_args, args = parse_arguments(argv)
        check_options(model_args, data_args, args)
        check_training_options(args, default_training_arguments(args.use_cpu))
    except (ValueError, ImportError) as error:  # ours, HfArgumentParser's, TrainingArguments' (e.g. --deepspeed)
        usage_error(error)
    setup_logging(args)
    push, args.push_to_hub = args.push_to_hub, False  # the export is pushed once at the end, not per checkpoint
    try:
        command = ["run_train.py", *argv]
        results = run_cross_validation(model_args, data_args, args, command, push=push)  # ends with all in step
    except UsageError as error:  # the folds or checkpoints the options select cannot work: still before training
        usage_error(error)
    except PreparationError as error:  # the corpus itself cannot be trained on (e.g. one class)
        usage_error(error, EXIT_FAILED)
    if not PartialState().is_main_process:
        return results  # export, example and push: the main process only
    if not args.do_train:
        print("\n" + (Path(args.output_dir) / "results.md").read_text())
        return results  # evaluation only: nothing was trained, so nothing is exported
    if model_args.model_type != "tft":
        logger.info("Baseline run: results written; no Hub export (the export and its pipeline are for TFT).")
        return results
    export_dir = Path(args.export_dir or Path(args.output_dir) / "export")
    model_id = args.hub_model_id or f"tft-ser-{results['corpus'].split()[0].replace('/', '-')}"
    export_run(results, Path(args.output_dir), export_dir, model_id)
    print("\n" + (Path(args.output_dir) / "results.md").read_text())
    classify_example(export_dir, results, data_args, Path(args.output_dir))
    if push:
        try:
            push_export(export_dir, model_id, token=args.hub_token, private=args.hub_private_repo)
        except RuntimeError as error:
            get_error_handler().record_exception(error)  # under torchrun, its failure report shows this message
            sys.exit(f"error: {error}")
    return results


if __name__ == "__main__":
    record(main)()  # under torchrun / accelerate launch, the failing rank's error heads the launcher's report

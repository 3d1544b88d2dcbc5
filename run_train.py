"""Train and cross-validate a Time-Frequency Transformer for speech emotion recognition.

    python run_train.py                                   # built-in synthetic demo corpus, a few CPU minutes
    python run_train.py configs/casia_loso.yaml           # the paper's CASIA protocol (JSON or YAML config)
    python run_train.py --corpus casia --data_dir ../shared/corpora/casia --protocol leave_one_speaker_out \
        --output_dir outputs/casia

Several processes run each fold with DDP: `torchrun --nproc_per_node 2 run_train.py ...` (CPU or GPU),
`accelerate launch --multi_gpu --num_processes 8 run_train.py ...` (GPUs); see docs/TRAINING.md.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import datasets
import transformers
import yaml
from accelerate import PartialState
from torch.distributed.elastic.multiprocessing.errors import get_error_handler, record
from transformers import HfArgumentParser, pipeline

from training.arguments import DataArguments, ModelArguments, TFTTrainingArguments, no_accelerator
from training.cross_validation import run_cross_validation
from training.data import iter_clips, load_corpus
from training.export import export_run, push_export

logger = logging.getLogger("run_train")


def parse_arguments(argv: list[str]) -> tuple[ModelArguments, DataArguments, TFTTrainingArguments]:
    """Command-line options, optionally after a JSON/YAML config file whose values they override."""
    parser = HfArgumentParser((ModelArguments, DataArguments, TFTTrainingArguments))
    parser.set_defaults(use_cpu=no_accelerator())  # HfArgumentParser ignores a bool field's default_factory
    if argv and argv[0].endswith((".json", ".yaml", ".yml")):
        text = Path(argv[0]).read_text()
        values = json.loads(text) if argv[0].endswith(".json") else yaml.safe_load(text)
        unknown = sorted(set(values) - {action.dest for action in parser._actions})
        if unknown:
            raise ValueError(f"{argv[0]}: unknown options {unknown}.")
        parser.set_defaults(**values)
        argv = argv[1:]
    return parser.parse_args_into_dataclasses(args=argv)


def setup_logging(args: TFTTrainingArguments) -> None:
    own_level = logging.INFO if args.should_log else logging.WARNING  # other processes: warnings and errors only
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=own_level)
    level = args.get_process_log_level()
    for library in (transformers.utils.logging, datasets.utils.logging):
        library.set_verbosity(level)


def classify_example(export_dir: Path, results: dict, data_args: DataArguments, output_dir: Path) -> None:
    """End of the main job: the exported model classifies one of its fold's test clips through `pipeline`."""
    fold = next(f for f in results["folds"] if f["fold"] == results["exported_fold"])
    dataset, _ = load_corpus(data_args, output_dir)  # prepared once, reloaded from output_dir/prepared
    speaker = fold["test_speakers"][0]
    clip = dataset.filter(lambda s: s == speaker, input_columns="speaker").select(range(1))
    classifier = pipeline("audio-classification", model=str(export_dir))
    prediction = classifier(next(iter_clips(clip)), top_k=3)
    true_label = clip.features["label"].names[clip[0]["label"]]
    print(f"pipeline({export_dir}) on a test clip of {speaker} (true label: {true_label}):")
    for item in prediction:
        print(f"  {item['label']:<10} {item['score']:.3f}")


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    model_args, data_args, args = parse_arguments(argv)
    setup_logging(args)
    push, args.push_to_hub = args.push_to_hub, False  # the export is pushed once at the end, not per checkpoint
    results = run_cross_validation(model_args, data_args, args, ["run_train.py", *argv])  # ends with all in step
    if not PartialState().is_main_process:
        return results  # export, example and push: the main process only
    if model_args.model_type != "tft":
        logger.info("Baseline run: results written; no Hub export (the export and its pipeline are for TFT).")
        return results
    export_dir = Path(args.export_dir or Path(args.output_dir) / "export")
    model_id = args.hub_model_id or f"tft-ser-{results['corpus'].split()[0]}"
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

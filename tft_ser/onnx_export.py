"""Export a TFT audio classifier to ONNX (dynamic batch and length) and check it against PyTorch with onnxruntime."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .extras import installed

logger = logging.getLogger(__name__)

INPUT_NAMES = ["input_features", "attention_mask"]  # (batch, frames, channels) float32, (batch, frames) int32
OUTPUT_NAMES = ["logits"]  # (batch, labels)
TOLERANCE = 1e-4  # largest |onnxruntime - PyTorch| logit accepted by the check
CHECK_SECONDS = (3.0, 1.7)  # the export's example: two clips, the shorter padded
REQUIRED_MODULES = ("onnx", "onnxscript")  # export; the check also needs onnxruntime


@dataclass
class OnnxExport:
    """What `export_onnx` wrote: the file, its opset, the longest input in frames (`None`: any) and the check."""

    path: Path
    opset: int
    max_frames: int | None
    max_abs_difference: float | None = None  # onnxruntime vs eager PyTorch logits on the check inputs


def missing_modules(check: bool = True) -> list[str]:
    """The packages of the `onnx` extra that are not installed."""
    names = [*REQUIRED_MODULES, *(["onnxruntime"] if check else [])]
    return [name for name in names if not installed(name)]


def example_inputs(
    feature_extractor, max_frames: int | None = None, seconds: Sequence[float] = CHECK_SECONDS, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Extractor outputs of low-noise clips of `seconds` (at most `max_frames` frames), padded to the longest."""
    rng = np.random.default_rng(seed)
    rate, n_fft, hop = feature_extractor.sampling_rate, feature_extractor.n_fft, feature_extractor.hop_length
    longest = n_fft + (max_frames - 1) * hop if max_frames else None
    lengths = [min(round(s * rate), longest or round(s * rate)) for s in seconds]
    clips = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in lengths]
    return dict(feature_extractor(clips, sampling_rate=rate, padding="longest", return_tensors="pt"))


def export_onnx(model: torch.nn.Module, feature_extractor, path: str | Path, opset: int | None = None) -> OnnxExport:
    """
    Export `model` (a `TFTForAudioClassification`) with `torch.onnx.export(dynamo=True)`: inputs `input_features`
    `(batch, frames, channels)` (mel bands, then prosody contours) and `attention_mask` `(batch, frames)`, output
    `logits`, batch and frames dynamic.
    A model with an inference window (`config.window_frames`) is exported for inputs of at most that many frames
    (its one-pass path: window longer inputs yourself, `modeling_tft.window_starts`/`combine_window_logits`).
    Labels, sampling rate, mel bins and that limit go into the file's metadata.
    """
    model = model.eval().cpu()
    config = model.config
    max_frames = getattr(config, "window_frames", None)
    inputs = example_inputs(feature_extractor, max_frames)
    batch = torch.export.Dim("batch", min=1)
    # Fewer than 2 time tokens would let torch.export specialise on sizes 0/1; the exported graph runs them anyway.
    frames = torch.export.Dim("frames", min=max(2, int(config.frames_per_time_token)) + 1, max=max_frames)
    dynamic = {name: {0: batch, 1: frames} for name in INPUT_NAMES}
    path = Path(path)
    quiet = not logger.isEnabledFor(logging.INFO)
    with torch.no_grad(), warnings.catch_warnings(), contextlib.ExitStack() as stack:
        if quiet:  # the exporter prints its steps, warns about unused axis names and logs missing torchvision
            warnings.simplefilter("ignore")
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
            stack.enter_context(_logger_level("torch.onnx", logging.ERROR))
        program = torch.onnx.export(
            model, (), str(path), kwargs=inputs, dynamo=True, input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
            dynamic_shapes=dynamic, opset_version=opset, optimize=True, external_data=False, verbose=not quiet,
        )  # fmt: skip
    opset = int(program.model.opset_imports[""])
    _add_metadata(path, model, feature_extractor, max_frames)
    return OnnxExport(path, opset, max_frames)


@contextlib.contextmanager
def _logger_level(name: str, level: int):
    target = logging.getLogger(name)
    before = target.level
    target.setLevel(level)
    try:
        yield
    finally:
        target.setLevel(before)


def _add_metadata(path: Path, model: torch.nn.Module, feature_extractor, max_frames: int | None) -> None:
    import onnx

    proto = onnx.load(str(path))
    shapes = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input]
    if shapes != [["batch", "frames", model.config.num_input_features], ["batch", "frames"]]:  # not specialised
        raise RuntimeError(f"the exporter gave input shapes {shapes}, not (batch, frames[, channels]) free")
    config = model.config
    metadata = {
        "producer": "tft-ser export-onnx",
        "id2label": json.dumps({int(i): label for i, label in config.id2label.items()}),
        "sampling_rate": str(feature_extractor.sampling_rate),
        "num_mel_bins": str(config.num_mel_bins),
        "num_prosody_features": str(config.num_prosody_features),  # after the mel bands in each frame
        "max_frames": "" if max_frames is None else str(max_frames),
    }
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def onnx_logits(path: str | Path, inputs: dict[str, torch.Tensor], threads: int | None = None) -> np.ndarray:
    """Logits of an exported model run by onnxruntime on CPU."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = options.inter_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(OUTPUT_NAMES, {name: inputs[name].cpu().numpy() for name in INPUT_NAMES})[0]


def check_onnx(path: str | Path, model: torch.nn.Module, batches: Sequence[dict[str, torch.Tensor]]) -> float:
    """Largest |onnxruntime - eager PyTorch| logit over `batches` of model inputs."""
    worst = 0.0
    for inputs in batches:
        with torch.inference_mode():
            expected = model(**inputs).logits.float().cpu().numpy()
        worst = max(worst, float(np.abs(onnx_logits(path, inputs) - expected).max()))
    return worst


def run_export(args: argparse.Namespace) -> int:
    """`tft-ser export-onnx`: export, check against PyTorch (unless `--no-check`), report on one line."""
    from .exit_codes import EXIT_OK, ModelError, UsageError, first_line
    from .loading import load_classifier

    missing = missing_modules(check=not args.no_check)
    if missing:
        raise UsageError(f"export-onnx needs {', '.join(missing)}: pip install 'tft-ser[onnx]'")
    classifier = load_classifier(args.model, torch.device("cpu"), args.trust_remote_code, batch_size=1)
    model, extractor = classifier.model, classifier.feature_extractor
    try:
        export = export_onnx(model, extractor, args.output, args.opset)
    except Exception as error:  # torch.export / ONNX translation errors of a model it cannot handle
        raise ModelError(f"cannot export it to ONNX: {type(error).__name__}: {first_line(error)}") from error
    limit = f" up to {export.max_frames}" if export.max_frames else ""
    message = f"wrote {export.path} (opset {export.opset}; dynamic batch and frames{limit})"
    if not args.no_check:
        full = example_inputs(extractor, export.max_frames)
        alone = {name: value[1:, : int(full["attention_mask"][1].sum())] for name, value in full.items()}
        export.max_abs_difference = check_onnx(export.path, model, [full, alone])
        if not export.max_abs_difference <= TOLERANCE:
            raise ModelError(f"onnxruntime differs from PyTorch by {export.max_abs_difference:.3g} (> {TOLERANCE})")
        message += f"; onnxruntime vs PyTorch: max |logit difference| {export.max_abs_difference:.2g}"
    print(message)
    return EXIT_OK


__all__ = ["OnnxExport", "check_onnx", "example_inputs", "export_onnx", "onnx_logits"]

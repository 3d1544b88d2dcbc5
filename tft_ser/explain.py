"""
Explanation maps for one clip: which frames (*when*) and which mel bands (*which bands*) the model attended to,
from its own attention weights, with input × gradient as a cross-check. What the maps mean: docs/APPLICATIONS.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .classifier import EmotionClassifier


@dataclass
class Explanation:
    """Maps over the `(frames, mel)` model input; each map is non-negative and sums to 1 (or is `None`)."""

    features: np.ndarray  # (frames, mel): the normalised log-mel the model saw
    frame_seconds: float  # hop between frames
    start_s: float  # where the explained window starts in the clip
    label: str
    score: float
    scores: dict[str, float]
    time_attention: np.ndarray | None  # (frames,): mean attention received by the time tokens
    band_attention: np.ndarray | None  # (mel,): mean attention received by the frequency tokens
    time_gradient: np.ndarray  # (frames,): |input × gradient| of the predicted logit, summed over bands
    band_gradient: np.ndarray  # (mel,): the same, summed over frames
    notes: list[str] = field(default_factory=list)


def received_attention(weights: torch.Tensor) -> torch.Tensor:
    """Mean over heads and queries of one layer's `(1, heads, queries, keys)` weights: `(keys,)`."""
    return weights[0].float().mean(0).mean(0)


def _normalise(values: torch.Tensor) -> torch.Tensor:
    return values / values.sum().clamp_min(1e-12)


def attention_by_stream(config, attentions: tuple[torch.Tensor, ...]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """
    Per layer, the attention received by the time tokens and by the frequency tokens (each normalised to sum to 1),
    from every layer in which they are keys. `attentions` follow `TFTModelOutput`'s order: Time Transformer
    layers, Frequency Transformer layers, then fusion layers (one attention over both streams, time tokens first).
    """
    layers = list(attentions)
    time = [received_attention(layers.pop(0)) for _ in range(config.num_time_layers if config.use_time_branch else 0)]
    frequency = [
        received_attention(layers.pop(0))
        for _ in range(config.num_frequency_layers if config.use_frequency_branch else 0)
    ]
    for _ in range(config.num_fusion_layers if config.use_fusion else 0):
        joint = received_attention(layers.pop(0))
        num_time = joint.shape[0] - config.num_frequency_tokens
        time.append(joint[:num_time])
        frequency.append(joint[num_time:])
    return [_normalise(t) for t in time], [_normalise(f) for f in frequency]


def _spread(token_values: torch.Tensor, per_token: int, length: int) -> np.ndarray:
    """Token values → one value per frame (or band): each token's value shared equally by its units."""
    units = token_values.repeat_interleave(per_token)[:length]
    counts = torch.full_like(token_values, per_token)
    counts[-1] = length - per_token * (len(token_values) - 1)  # the last token may hold fewer units
    units = units / counts.repeat_interleave(per_token)[:length]
    return _normalise(units).numpy()


def _input_x_gradient(classifier: EmotionClassifier, inputs: dict, target: int) -> torch.Tensor:
    features = inputs["input_features"].detach().clone().requires_grad_(True)
    with torch.enable_grad(), classifier.speaker() as model:
        logits = model(**{**inputs, "input_features": features}).logits
        logits[0, target].backward()
    return (features * features.grad)[0].abs().detach().cpu()  # (frames, mel bands + prosody contours)


def explain_clip(classifier: EmotionClassifier, audio: np.ndarray, start_s: float = 0.0) -> Explanation:
    """Explain the model's prediction for the window of 16 kHz mono `audio` starting at `start_s`."""
    config = classifier.model.config
    rate, notes = classifier.sampling_rate, []
    first = round(start_s * rate)
    clip = audio[first : first + classifier.window_samples]
    if len(clip) < classifier.min_samples:
        raise ValueError(f"Nothing to explain: {len(clip)} samples from {start_s:.2f} s.")
    if len(audio) - first > len(clip):
        end_s = (first + len(clip)) / rate
        notes.append(f"Audio is longer than the model window: explained {first / rate:.2f}–{end_s:.2f} s.")
    inputs = classifier.features([clip])
    with classifier.speaker() as model:
        output = _with_attentions(model, inputs)
    probabilities = output.logits[0].float().softmax(-1).cpu()
    target = int(probabilities.argmax())
    time_layers, band_layers = attention_by_stream(config, tuple(a.cpu() for a in output.attentions))
    features = inputs["input_features"][0, :, : config.num_mel_bins].cpu()  # (frames, mel): the spectrogram shown
    frames, mel = features.shape
    time_map = band_map = None
    if time_layers:
        time_map = _spread(torch.stack(time_layers).mean(0), config.frames_per_time_token, frames)
    else:
        notes.append(_missing_note(config, "time"))
    if band_layers:
        band_map = _spread(torch.stack(band_layers).mean(0), config.bins_per_frequency_token, mel)
    else:
        notes.append(_missing_note(config, "frequency"))
    gradient = _input_x_gradient(classifier, inputs, target)
    return Explanation(
        features=features.numpy(),
        frame_seconds=classifier.feature_extractor.hop_length / rate,
        start_s=first / rate,
        label=classifier.labels[target],
        score=float(probabilities[target]),
        scores={label: float(p) for label, p in zip(classifier.labels, probabilities.tolist(), strict=True)},
        time_attention=time_map,
        band_attention=band_map,
        time_gradient=_normalise(gradient.sum(1)).numpy(),  # a frame's mel bands and prosody contours
        band_gradient=_normalise(gradient[:, :mel].sum(0)).numpy(),
        notes=notes,
    )


def _with_attentions(model: torch.nn.Module, inputs: dict):
    """The model's output with every layer's attention weights, which only the eager attention returns."""
    implementation = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        with torch.inference_mode():
            return model(**inputs, output_attentions=True)
    finally:
        model.set_attn_implementation(implementation)


def _missing_note(config, stream: str) -> str:
    if not getattr(config, f"use_{stream}_branch"):
        return f"No {stream} attention map: the model has no {stream} branch (use_{stream}_branch=False)."
    return f"No {stream} attention map: no attention layer has {stream} tokens as keys (0 layers)."

"""The baseline TFT is compared with: `transformers`' Audio Spectrogram Transformer of about the same size."""

from __future__ import annotations

from transformers import ASTConfig

# ~2.75 M parameters with 6 labels, against ~2.80 M for the default TFTConfig; same 64-band log-mel input.
AST_EQUAL_SIZE = {
    "hidden_size": 192,
    "num_hidden_layers": 6,
    "num_attention_heads": 4,
    "intermediate_size": 768,
    "num_mel_bins": 64,
    "max_length": 300,
}


def ast_config(num_labels: int, **kwargs) -> ASTConfig:
    """The equal-size AST config (16x16 patches, stride 10, as transformers' defaults).

    It also carries the TFT loss's settings (`label_smoothing`, and `class_weights` set per fold), which
    `classification_loss` reads, so `--config_overrides label_smoothing=...` applies to both models.
    """
    return ASTConfig(**{**AST_EQUAL_SIZE, "label_smoothing": 0.0, **kwargs}, num_labels=num_labels)

"""Configuration of the Time-Frequency Transformer (TFT) for speech emotion recognition."""

from __future__ import annotations

from transformers import PretrainedConfig
from transformers.utils import logging

logger = logging.get_logger(__name__)

# The last commit whose code builds every design the search tried (docs/SEARCH.md).
RESEARCH_COMMIT = "8eb65da"
# Fields of configs saved before the one-clean-model redesign that chose a design: the value this package builds.
# A saved config with another value describes a rejected design, which this package refuses to build.
FORMER_DESIGN_FIELDS = {
    "time_embedding": "conv2d",
    "time_conv_residual_layers": 0,
    "time_conv_deltas": 0,
    "time_position_embedding": "convolutional",
    "frequency_embedding": "conv_statistics",
    "frequency_band_statistics": False,
    "fusion_type": "joint",
    "fusion_gate": False,
    "pooling": "attention",
    "stream_pooling": "joint",
    "frequency_pooling": "tokens",
    "instance_normalization": False,
    "branch_loss_weight": 0.0,
    "speaker_adversarial_weight": 0.0,
}
# Former fields that never changed what a trained model computes (initialisation, training loss, options of designs
# above): dropped on load. Class weights and label smoothing are training options now (`run_train.py`).
FORMER_TRAINING_FIELDS = {
    "position_conv_init": "wav2vec2",
    "frequency_conv_init": "normal",
    "drop_path_rate": 0.0,
    "class_weights": None,
    "label_smoothing": 0.0,
    "num_speakers": 0,
    "frequency_segment_frames": 50,
    "frequency_segment_pooling": "mean",
    "frequency_flatten_size": 8,
}


class TFTConfig(PretrainedConfig):
    r"""
    Configuration of a [`TFTModel`]: a Time Transformer over frame tokens, a Frequency Transformer over mel-band
    tokens, and a Time-Frequency Transformer that fuses both (Wang et al., ICONIP 2023). `docs/ARCHITECTURE.md` shows
    the tensor shapes; `docs/SEARCH.md` why each part is built the way it is.

    Args:
        num_mel_bins (`int`, *optional*, defaults to 64):
            Mel bands per frame of the input log-mel spectrogram (the feature extractor's `feature_size`).
        num_prosody_features (`int`, *optional*, defaults to 14):
            Prosody contours per frame after the mel bands (the feature extractor's with `prosody=True`; 0: log-mel
            only, as in a saved config without the field). Two strided convolutions along time bring them to the
            time tokens' steps, where they are added to the time tokens; they need the time branch.
        functionals_head (`bool`, *optional*):
            A second classification head: a linear layer on the clip's functionals of its prosody contours (mean,
            standard deviation and percentiles of each, voicing and loudness-peak timing; `prosody_tft.
            contour_functionals`), standardised by a BatchNorm without affine parameters. Its logits, times
            `functionals_weight`, are added to the Transformer head's; in training each head has its own loss.
            Defaults to `True` with prosody contours and `False` without (and in a saved config without the field);
            `True` needs the contours.
        functionals_weight (`float`, *optional*, defaults to 1.0):
            The functionals head's weight in the model's logits: `transformer + functionals_weight * functionals`
            (finite, >= 0). Inference only: each head trains on its own loss, so the weight can be changed on a
            trained model.
            `run_train.py` sets 2 for a model trained with speaker-adaptive normalisation (chosen on the validation
            speakers of CASIA and RAVDESS, `docs/SEARCH.md` HW7), 0 after refitting the head of a model with
            `speaker_embedding_scale` (RW1), and 0.5 after refitting a single-clip model's (`--refit_head`, RG1).
        functionals_lr_scale (`float`, *optional*, defaults to 10.0):
            The functionals head's weights are stored divided by this and multiplied back in the forward pass, so
            that Adam moves them this many times as fast as the rest of the model (a learning-rate multiplier that
            lives in the model, the same in every training path).
        speaker_embedding_shift (`bool`, *optional*, defaults to `False`):
            Speaker adaptation of the utterance embedding (in the spirit of AdaBN): once a speaker's mean embedding
            is set from their unlabelled clips ([`TFTForAudioClassification.set_speaker_embeddings`]), each
            embedding is moved by `embedding_mean - speaker_mean` before the Transformer head, where
            `embedding_mean`, a buffer saved with the weights, is the training clips' mean (set after training).
            Inference only; with no speaker set, nothing moves. `run_train.py` sets it for a model trained with
            speaker-adaptive normalisation (search ES1, `docs/SEARCH.md`).
        speaker_embedding_scale (`bool`, *optional*, defaults to `False`):
            With `speaker_embedding_shift`: the speaker's embeddings are standardised over their own clips too, and
            mapped to `embedding_mean + embedding_std * (embedding - speaker_mean) / (speaker_std + 1e-6)`, where
            `embedding_std`, a buffer saved with the weights, is the training speakers' within-speaker spread (the
            root mean of their variances). The Transformer head is refitted after training on the training clips
            mapped the same way and then scores alone, `functionals_weight` 0 (searches RH1 and RW1; `run_train.py
            --speaker_embedding_scale`, the RAVDESS speaker-adaptive recipe). With no speaker set, nothing moves.
        speaker_head_supports (`int`, *optional*):
            With `speaker_embedding_shift`: both heads are also adjusted to the speaker by T3A (test-time classifier
            adjustment, Iwasawa & Matsuo, NeurIPS 2021) from their clips: in each head, class j's weight row becomes
            a prototype, its direction plus the unit vectors of the head's inputs around their training mean
            (`embedding - embedding_mean`; the standardised functionals) of the speaker's `speaker_head_supports`
            clips that the adapted model predicts as j with the lowest entropy, scaled to the row's norm (the row's
            own where none is predicted as j). Inference only; `run_train.py --speaker_head_supports`, 20 in the
            CASIA recipe (searches TA1, TA2). `None`: the heads as trained.
        max_frames (`int`, *optional*, defaults to 300):
            Frames of a training crop (10 ms hop: 300 frames = 3 s). The model itself takes inputs of any length.
        frames_per_time_token (`int`, *optional*, defaults to 4):
            Frames per time token (4 = 40 ms): the conv2d stem halves time and frequency log2 of it times, so it must
            be a power of 2.
        bins_per_frequency_token (`int`, *optional*, defaults to 4):
            Adjacent mel bands per frequency token; must divide `num_mel_bins`.
        time_conv_channels (`int`, *optional*, defaults to 32):
            Channels of the conv2d stem (3x3 convolutions with stride 2 over frames and mel bands) of the time tokens.
        position_kernel_size (`int`, *optional*, defaults to 15):
            Time tokens seen by the depthwise convolution that adds relative positions to the time tokens (odd;
            15 tokens = 0.6 s), as wav2vec 2.0's positional convolution.
        frequency_conv_channels (`int`, *optional*, defaults to 32):
            Channels of the two convolutions along time, shared by all bands, that make the frequency tokens.
        frequency_conv_kernel_size (`int`, *optional*, defaults to 5):
            Frames seen by each band convolution (odd).
        hidden_size (`int`, *optional*, defaults to 192):
            Width of every token and Transformer layer.
        num_attention_heads (`int`, *optional*, defaults to 4):
            Attention heads per layer; must divide `hidden_size`.
        intermediate_size (`int`, *optional*, defaults to 768):
            Width of the feed-forward block.
        num_time_layers (`int`, *optional*, defaults to 2):
            Layers of the Time Transformer.
        num_frequency_layers (`int`, *optional*, defaults to 2):
            Layers of the Frequency Transformer.
        num_fusion_layers (`int`, *optional*, defaults to 2):
            Layers of the Time-Frequency Transformer (self-attention over both streams' tokens together).
        use_time_branch (`bool`, *optional*, defaults to `True`):
            Ablation switch: build the time tokens and the Time Transformer.
        use_frequency_branch (`bool`, *optional*, defaults to `True`):
            Ablation switch: build the frequency tokens and the Frequency Transformer.
        use_fusion (`bool`, *optional*, defaults to `True`):
            Ablation switch: build the Time-Frequency Transformer (needs both branches); without it the streams'
            tokens are pooled together as they leave their branches.
        hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Activation of the feed-forward blocks and the convolutions.
        hidden_dropout_prob (`float`, *optional*, defaults to 0.1):
            Dropout on embeddings and residual branches.
        activation_dropout (`float`, *optional*, defaults to 0.0):
            Dropout on the activations inside each feed-forward block (0.1 before 0.7.0: its masks cost ~10 % of a CPU
            training step for no validation gain, search AD0; `None`, and in configs saved before the option existed:
            `hidden_dropout_prob`).
        attention_probs_dropout_prob (`float`, *optional*, defaults to 0.0):
            Dropout on attention probabilities.
        classifier_dropout (`float`, *optional*, defaults to 0.1):
            Dropout before the classification layer.
        layer_norm_eps (`float`, *optional*, defaults to 1e-6):
            Epsilon of every LayerNorm.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the truncated-normal weight initialisation.
        inference_window_frames (`int`, *optional*):
            With a value, [`TFTForAudioClassification`] scores inputs longer than this many frames in windows: one
            every `inference_hop_frames` frames, the last moved back to end at the clip's end, and the clip's logits
            are the log of the mean of the windows' softmax probabilities, weighted by their real frames. `None`
            (default): every clip in one piece.
        inference_hop_frames (`int`, *optional*):
            Frames between consecutive inference windows, in [1, window]; defaults to half the window.

    Example:

    ```python
    >>> from modeling_tft import TFTConfig, TFTForAudioClassification
    >>> model = TFTForAudioClassification(TFTConfig(num_labels=6))
    ```
    """

    model_type = "tft"

    def __init__(
        self,
        num_mel_bins: int = 64,
        num_prosody_features: int = 14,
        functionals_head: bool | None = None,
        functionals_lr_scale: float = 10.0,
        functionals_weight: float = 1.0,
        speaker_embedding_shift: bool = False,
        speaker_embedding_scale: bool = False,
        speaker_head_supports: int | None = None,
        max_frames: int = 300,
        frames_per_time_token: int = 4,
        bins_per_frequency_token: int = 4,
        time_conv_channels: int = 32,
        position_kernel_size: int = 15,
        frequency_conv_channels: int = 32,
        frequency_conv_kernel_size: int = 5,
        hidden_size: int = 192,
        num_attention_heads: int = 4,
        intermediate_size: int = 768,
        num_time_layers: int = 2,
        num_frequency_layers: int = 2,
        num_fusion_layers: int = 2,
        use_time_branch: bool = True,
        use_frequency_branch: bool = True,
        use_fusion: bool = True,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        activation_dropout: float | None = 0.0,
        attention_probs_dropout_prob: float = 0.0,
        classifier_dropout: float = 0.1,
        layer_norm_eps: float = 1e-6,
        initializer_range: float = 0.02,
        inference_window_frames: int | None = None,
        inference_hop_frames: int | None = None,
        **kwargs,
    ) -> None:
        _drop_former_fields(kwargs)
        self.num_mel_bins = num_mel_bins
        self.num_prosody_features = num_prosody_features
        self.functionals_head = bool(num_prosody_features) if functionals_head is None else functionals_head
        self.functionals_lr_scale = functionals_lr_scale
        self.functionals_weight = functionals_weight
        self.speaker_embedding_shift = speaker_embedding_shift
        self.speaker_embedding_scale = speaker_embedding_scale
        self.speaker_head_supports = speaker_head_supports
        self.max_frames = max_frames
        self.frames_per_time_token = frames_per_time_token
        self.bins_per_frequency_token = bins_per_frequency_token
        self.time_conv_channels = time_conv_channels
        self.position_kernel_size = position_kernel_size
        self.frequency_conv_channels = frequency_conv_channels
        self.frequency_conv_kernel_size = frequency_conv_kernel_size
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.num_time_layers = num_time_layers
        self.num_frequency_layers = num_frequency_layers
        self.num_fusion_layers = num_fusion_layers
        self.use_time_branch = use_time_branch
        self.use_frequency_branch = use_frequency_branch
        self.use_fusion = use_fusion
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.activation_dropout = hidden_dropout_prob if activation_dropout is None else activation_dropout
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.classifier_dropout = classifier_dropout
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.inference_window_frames = inference_window_frames
        self.inference_hop_frames = inference_hop_frames
        super().__init__(**kwargs)
        self._validate()

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs) -> TFTConfig:
        """As `PretrainedConfig.from_dict`; a former-format config (it has design fields) without `time_embedding`
        was saved before that option existed, with linear time tokens: a design this package does not build. A
        config without `num_prosody_features` was saved before prosody contours existed: log-mel only; one without
        `functionals_head` before that head existed; one without `activation_dropout` before that option existed
        (`hidden_dropout_prob` served)."""
        if any(name in config_dict for name in FORMER_DESIGN_FIELDS) and "time_embedding" not in config_dict:
            config_dict = {**config_dict, "time_embedding": "linear"}
        before = {"num_prosody_features": 0, "functionals_head": False, "activation_dropout": None}  # older configs
        return super().from_dict({**before, **config_dict}, **kwargs)

    @property
    def window_frames(self) -> int | None:
        """Frames per inference window; `None`: clips are scored whole."""
        return None if self.inference_window_frames is None else int(self.inference_window_frames)

    @property
    def hop_frames(self) -> int | None:
        """Frames between inference windows (default half the window); `None` without windows."""
        if self.window_frames is None:
            return None
        hop = self.inference_hop_frames
        return int(hop) if hop is not None else max(1, self.window_frames // 2)

    @property
    def num_input_features(self) -> int:
        """Values per input frame: the mel bands, then the prosody contours."""
        return self.num_mel_bins + self.num_prosody_features

    @property
    def num_frequency_tokens(self) -> int:
        """Frequency tokens per input: one per `bins_per_frequency_token` mel bands."""
        return self.num_mel_bins // self.bins_per_frequency_token

    def _validate(self) -> None:
        positive = (
            "num_mel_bins", "max_frames", "frames_per_time_token", "bins_per_frequency_token", "time_conv_channels",
            "position_kernel_size", "frequency_conv_channels", "frequency_conv_kernel_size", "hidden_size",
            "num_attention_heads", "intermediate_size",
        )  # fmt: skip
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {getattr(self, name)}.")
        for name in ("num_prosody_features", "num_time_layers", "num_frequency_layers", "num_fusion_layers"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"`{name}` must be >= 0, got {getattr(self, name)}.")
        for name in ("position_kernel_size", "frequency_conv_kernel_size"):
            if int(getattr(self, name)) % 2 == 0:
                raise ValueError(f"`{name}` must be odd (a centred convolution), got {getattr(self, name)}.")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"`hidden_size` ({self.hidden_size}) must be a multiple of `num_attention_heads` "
                f"({self.num_attention_heads})."
            )
        if self.num_mel_bins % self.bins_per_frequency_token:
            raise ValueError(
                f"`bins_per_frequency_token` ({self.bins_per_frequency_token}) must divide `num_mel_bins` "
                f"({self.num_mel_bins})."
            )
        stride = self.frames_per_time_token
        if stride < 2 or stride & (stride - 1):
            raise ValueError(
                f"`frames_per_time_token` must be a power of 2 (at least 2): the conv2d stem halves time once per "
                f"convolution; got {stride}."
            )
        if self.num_prosody_features and not self.use_time_branch:
            raise ValueError(
                f"The prosody contours (num_prosody_features={self.num_prosody_features}) join the time tokens and "
                "need `use_time_branch=True`; set `num_prosody_features=0` for a frequency-only model."
            )
        if self.functionals_head and not self.num_prosody_features:
            raise ValueError(
                "The functionals head (functionals_head=True) reads the prosody contours; set `functionals_head=False` "
                "for a model without them (num_prosody_features=0)."
            )
        if not float(self.functionals_lr_scale) > 0:
            raise ValueError(f"`functionals_lr_scale` must be positive, got {self.functionals_lr_scale}.")
        if not 0 <= float(self.functionals_weight) < float("inf"):
            raise ValueError(f"`functionals_weight` must be finite and >= 0, got {self.functionals_weight}.")
        if self.speaker_embedding_scale and not self.speaker_embedding_shift:
            raise ValueError("`speaker_embedding_scale=True` standardises the speaker's embeddings around the training "
                             "mean and needs `speaker_embedding_shift=True`.")  # fmt: skip
        if self.speaker_head_supports is not None:
            if not self.speaker_embedding_shift:
                raise ValueError("`speaker_head_supports` adjusts the head to a speaker's embeddings around the "
                                 "training mean and needs `speaker_embedding_shift=True`.")  # fmt: skip
            supports = self.speaker_head_supports
            if isinstance(supports, bool) or not isinstance(supports, int) or supports < 1:
                raise ValueError(f"`speaker_head_supports` must be a positive integer or None, got {supports!r}.")
        if not (self.use_time_branch or self.use_frequency_branch):
            raise ValueError("At least one of `use_time_branch` and `use_frequency_branch` must be True.")
        if self.use_fusion and not (self.use_time_branch and self.use_frequency_branch):
            raise ValueError(
                "`use_fusion=True` fuses the time and frequency branches and needs both; set `use_fusion=False` for "
                f"a single-branch ablation (use_time_branch={self.use_time_branch}, "
                f"use_frequency_branch={self.use_frequency_branch})."
            )
        for name in ("hidden_dropout_prob", "activation_dropout", "attention_probs_dropout_prob", "classifier_dropout"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {getattr(self, name)}.")
        window, hop = self.inference_window_frames, self.inference_hop_frames
        if window is not None and int(window) < 1:
            raise ValueError(f"`inference_window_frames` must be a positive integer or None, got {window}.")
        if hop is not None and (window is None or not 1 <= int(hop) <= int(window)):
            raise ValueError(f"`inference_hop_frames` ({hop}) must be in [1, inference_window_frames = {window}].")


def _drop_former_fields(kwargs: dict) -> None:
    """Remove the fields of configs saved before the redesign from `kwargs`; refuse a rejected design."""
    for name, adopted in FORMER_DESIGN_FIELDS.items():
        value = kwargs.pop(name, adopted)
        if value != adopted:
            raise ValueError(
                f"This config selects a design that tft-ser no longer builds ({name}={value!r} "
                f"instead of {adopted!r}; the search rejected it, docs/SEARCH.md). An export of it still loads with "
                f"the code it ships: `from_pretrained(path, trust_remote_code=True)`; to train it, check out tft-ser "
                f"commit {RESEARCH_COMMIT}."
            )
    dropped = {name: kwargs.pop(name) for name in FORMER_TRAINING_FIELDS if name in kwargs}
    changed = {name: value for name, value in dropped.items() if value != FORMER_TRAINING_FIELDS[name]}
    if changed:
        logger.warning(
            f"TFTConfig: ignoring former fields {changed}: they set initialisation or training options, not what the "
            "model computes (class weights and label smoothing are options of run_train.py now)."
        )


__all__ = ["TFTConfig"]

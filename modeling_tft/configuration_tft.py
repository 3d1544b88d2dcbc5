"""Configuration of the Time-Frequency Transformer (TFT) for speech emotion recognition."""

from __future__ import annotations

from transformers import PretrainedConfig

FUSION_TYPES = ("joint", "cross", "time_query")
POOLING_TYPES = ("mean", "attention", "statistics")
STREAM_POOLING_TYPES = ("separate", "joint")
FREQUENCY_POOLING_TYPES = ("tokens", "flatten")
SEGMENT_POOLING_TYPES = ("mean", "none")
TIME_EMBEDDINGS = ("linear", "conv2d")
TIME_POSITION_EMBEDDINGS = ("absolute", "convolutional")
FREQUENCY_EMBEDDINGS = ("trajectory", "conv_statistics", "conv2d_statistics", "conv_segments", "shared_stem")
CONV_INITS = ("normal", "kaiming")
POSITION_CONV_INITS = ("normal", "wav2vec2")


class TFTConfig(PretrainedConfig):
    r"""
    Configuration of a [`TFTModel`]: a Time Transformer over frame tokens, a Frequency Transformer over
    mel-band tokens, and a Time-Frequency Transformer that fuses both (Wang et al., ICONIP 2023).
    See `docs/ARCHITECTURE.md` for the tensor shapes and which choices are the paper's.

    Args:
        num_mel_bins (`int`, *optional*, defaults to 64):
            Mel bands per frame of the input log-mel spectrogram (must match the feature extractor).
        max_frames (`int`, *optional*, defaults to 300):
            Frames of the training crop (10 ms hop: 300 frames = 3 s). Only the fixed-length components
            (`time_position_embedding="absolute"`, `frequency_embedding="trajectory"`) are tied to it: with one of
            them, longer inputs raise; without, the model takes inputs of any length.
        frames_per_time_token (`int`, *optional*, defaults to 4):
            Consecutive frames grouped into one time token (4 frames = 40 ms).
        bins_per_frequency_token (`int`, *optional*, defaults to 4):
            Adjacent mel bands grouped into one frequency token; must divide `num_mel_bins`.
        time_embedding (`str`, *optional*, defaults to `"conv2d"`):
            How a time token is made from its `frames_per_time_token` frames. `"linear"`: one `Linear` over the
            frames' flattened mel bands. `"conv2d"`: a stack of 3x3 convolutions over (frames, mel bands), each with
            stride 2 in both axes (log2 of `frames_per_time_token` of them, as in Conformer's subsampling), whose
            output at each token step (channels x reduced bands) is projected to `hidden_size`: local, shift-tolerant
            patterns along frequency as well as time.
        time_conv_channels (`int`, *optional*, defaults to 32):
            Channels of the `"conv2d"` time embedding.
        time_conv_residual_layers (`int`, *optional*, defaults to 0):
            Residual 3x3 convolutions (x + GELU(conv(x))) after the `"conv2d"` subsampling, at its output
            resolution: a deeper local feature extractor before the Time Transformer (no effect on CASIA's
            validation speakers: search CR2).
        time_conv_deltas (`int`, *optional*, defaults to 0):
            Time derivatives of the log-mel spectrogram stacked with it as input channels of the `"conv2d"` stem:
            0 none, 1 the deltas, 2 the deltas and delta-deltas (torchaudio's `compute_deltas`, 5-frame regression,
            each clip's edges replicated), the static + delta + delta-delta input of 3-D CNN emotion models (on par
            or below on CASIA's validation speakers: search DL1).
        time_position_embedding (`str`, *optional*, defaults to `"convolutional"`):
            `"absolute"`: a learned table of `max_frames / frames_per_time_token` positions. `"convolutional"`: a
            depthwise convolution over neighbouring time tokens (`position_kernel_size`), added as in wav2vec 2.0:
            relative, so inputs of any length work.
        position_kernel_size (`int`, *optional*, defaults to 15):
            Time tokens seen by the convolutional position embedding (odd; 15 tokens = 0.6 s).
        position_conv_init (`str`, *optional*, defaults to `"wav2vec2"`):
            Initialisation of the `"convolutional"` position convolution when training from scratch: `"wav2vec2"`
            (normal with std 2 / sqrt(kernel size), as wav2vec 2.0's positional convolution) or `"normal"`
            (transformers' normal(`initializer_range`), which starts the position term near zero; the default
            until 2026-12-03). Weights loaded from a checkpoint are never re-initialised.
        frequency_embedding (`str`, *optional*, defaults to `"conv_statistics"`):
            How a frequency token is made from its `bins_per_frequency_token` mel bands. `"trajectory"`: one
            `Linear` over the bands' whole `max_frames`-frame trajectory (tied to absolute time, fixed length).
            `"conv_statistics"`: a small convolution along time shared by all bands, then the mean and standard
            deviation of its channels over the clip's frames (shift-invariant, any length). `"conv_segments"`: the
            same convolution, pooled over each `frequency_segment_frames`-frame segment instead of the whole clip
            (band x segment patches); the Frequency Transformer attends across bands inside each segment (axial)
            and each band's tokens are then averaged over the clip's segments (level with `"conv_statistics"` on
            CASIA's validation speakers at 1.3x its training step: search SG1). `"shared_stem"`: no convolution of
            its own; each reduced band of the conv2d time stem (`time_embedding="conv2d"`, with
            `bins_per_frequency_token` equal to `frames_per_time_token`) becomes a token from the mean and standard
            deviation of the stem's channels over the clip, so both streams read one feature map along its two axes
            (on CASIA's validation speakers +0.96 points over `"conv_statistics"` over 6 seeds, under the +1.0 that
            its adoption needed: search SS1).
        frequency_conv_channels (`int`, *optional*, defaults to 32):
            Channels of the band convolution (`"conv_statistics"`, `"conv_segments"`).
        frequency_conv_kernel_size (`int`, *optional*, defaults to 5):
            Frames seen by each of the two band convolution layers (`"conv_statistics"`, `"conv_segments"`; odd).
        frequency_band_statistics (`bool`, *optional*, defaults to `False`):
            With `"conv_statistics"` band tokens: also give each token its bins' own mean and standard deviation over
            the clip's real frames (the per-band statistics the logistic-regression floor reads), concatenated with
            the convolution statistics before the projection. Off by default: -0.5 points on CASIA's validation
            speakers (search BS1).
        frequency_segment_frames (`int`, *optional*, defaults to 50):
            Frames per time segment of the `"conv_segments"` band tokens (even: the first convolution strides 2).
        frequency_segment_pooling (`str`, *optional*, defaults to `"mean"`):
            What leaves a `"conv_segments"` Frequency Transformer: `"mean"`, each band's tokens averaged over the
            clip's segments (one token per band); `"none"`, every band x segment token (segment-major, padded
            segments masked), so the fusion and the pooling see band patterns where they occur in time (-2.4
            points on CASIA's validation speakers: search SG3).
        frequency_conv_init (`str`, *optional*, defaults to `"normal"`):
            Initialisation of the `"conv_statistics"` band convolutions when training from scratch: `"normal"`
            (transformers' normal(`initializer_range`), as every `Linear`) or `"kaiming"` (He, as the conv2d
            tokenisers). Weights loaded from a checkpoint are never re-initialised.
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
            Layers of the Time-Frequency (fusion) Transformer.
        fusion_type (`str`, *optional*, defaults to `"joint"`):
            `"joint"`: self-attention over the concatenated time and frequency tokens (with learned type
            embeddings). `"cross"`: each stream cross-attends to the other, then its own feed-forward.
            `"time_query"`: only the time tokens are queries; they attend to the time and frequency tokens together
            (with type embeddings), so the band tokens inform the time tokens and leave the fusion unchanged.
        fusion_gate (`bool`, *optional*, defaults to `False`):
            A learned per-channel gate on the Time-Frequency Transformer, initialised at zero: each stream becomes
            `x + gate * (fusion(x) - x)`, so training starts from the no-fusion model and opens the fusion only
            where it helps.
        pooling (`str`, *optional*, defaults to `"attention"`):
            `"mean"` (masked mean), `"attention"` (learned attentive pooling) or `"statistics"` (masked mean and
            standard deviation, concatenated and projected back to `hidden_size`, as in x-vectors) over each
            stream's tokens; how the streams are combined is `stream_pooling`.
        stream_pooling (`str`, *optional*, defaults to `"joint"`):
            `"separate"`: each stream (time, frequency) is pooled on its own and the utterance vector is the mean
            of the pooled streams. `"joint"`: one pooling over the tokens of both streams together (with
            `pooling="attention"` the weights of all tokens share one softmax, so the model chooses how much each
            stream counts). The same for a single-branch model.
        frequency_pooling (`str`, *optional*, defaults to `"tokens"`):
            `"tokens"`: the frequency tokens are pooled like the time tokens (`stream_pooling`), which forgets which
            band is which. `"flatten"`: each frequency token is projected to `frequency_flatten_size` values and
            the band-ordered concatenation is projected to `hidden_size`, keeping every band's place; that vector
            is averaged with the pooled time tokens (or is the utterance vector of a frequency-only model).
        frequency_flatten_size (`int`, *optional*, defaults to 8):
            Values per frequency token kept by `frequency_pooling="flatten"`.
        instance_normalization (`bool`, *optional*, defaults to `False`):
            Standardise each clip's features per mel band over its own frames before both branches (instance
            normalisation, as in IBN-Net: the clip's level and spectral tilt leave every local token) and give
            what was removed back as one *statistics token*: the clip's per-band mean and standard deviation,
            projected to `hidden_size`, placed before the time tokens (before the band tokens in a frequency-only
            model). Speaker and channel offsets then enter the model once instead of in every token.
        use_time_branch (`bool`, *optional*, defaults to `True`):
            Ablation switch: build the time tokens and Time Transformer.
        use_frequency_branch (`bool`, *optional*, defaults to `True`):
            Ablation switch: build the frequency tokens and Frequency Transformer.
        use_fusion (`bool`, *optional*, defaults to `True`):
            Ablation switch: build the Time-Frequency Transformer (needs both branches). Without it the
            pooled branch outputs are averaged.
        hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Activation of the feed-forward block.
        hidden_dropout_prob (`float`, *optional*, defaults to 0.1):
            Dropout on embeddings and residual branches.
        activation_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the activations inside each feed-forward block (as in wav2vec 2.0). `None` (configs saved
            before this option existed) means `hidden_dropout_prob`, which was used there. On the CPU the random
            masks of this, the widest tensor, are a large share of a training step.
        attention_probs_dropout_prob (`float`, *optional*, defaults to 0.0):
            Dropout on attention probabilities (training only).
        drop_path_rate (`float`, *optional*, defaults to 0.0):
            Stochastic depth (Huang et al., 2016; as in DeiT): during training each residual branch of a layer is
            dropped for a whole clip with a probability that rises linearly with the layer's depth, from 0 at the
            first branch layer to `drop_path_rate` at the last fusion layer (`TFTConfig.layer_drop_path_rates`).
        classifier_dropout (`float`, *optional*, defaults to 0.1):
            Dropout before the classification layer.
        layer_norm_eps (`float`, *optional*, defaults to 1e-6):
            Epsilon of every LayerNorm.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the truncated-normal weight init.
        class_weights (`list[float]`, *optional*):
            Per-class weights of the cross-entropy loss (one per label), e.g. inverse class frequency.
        label_smoothing (`float`, *optional*, defaults to 0.0):
            Label smoothing of the cross-entropy loss, in [0, 1).
        branch_loss_weight (`float`, *optional*, defaults to 0.0):
            Weight of the branch losses (deep supervision, as the auxiliary heads of Inception or the unimodal
            losses of Gradient-Blending, Wang et al., CVPR 2020): with both branches, each branch's tokens before the
            fusion are mean-pooled and classified by a head of their own (LayerNorm + Linear), and in training mode
            the loss adds `branch_loss_weight` times the mean of the branches' cross-entropies, so that neither
            branch is left to the other. The logits are the main head's alone. A single-branch model has no such
            heads. Off by default: 0.5 and 1.0 were on par on CASIA's validation speakers (search BL1, BL2).
        speaker_adversarial_weight (`float`, *optional*, defaults to 0.0):
            Speaker-adversarial training (domain-adversarial, Ganin et al., JMLR 2016): with a weight > 0 and
            `num_speakers` >= 2, a speaker head (LayerNorm, Linear, GELU, Linear) classifies the pooled utterance
            vector into the training speakers behind a gradient reversal layer, so in training mode the head learns
            the speakers while the backbone receives `-speaker_adversarial_weight` times its gradient and unlearns
            them. Needs `speaker_labels` in the training batches; inference never uses the head. Off by default: on
            par on CASIA's validation speakers (search SA1, SA2).
        num_speakers (`int`, *optional*, defaults to 0):
            Training speakers of the speaker head (`run_train.py` sets it to each fold's training speakers).
        inference_window_frames (`int`, *optional*):
            Frames per window when [`TFTForAudioClassification`] scores an input longer than this (10 ms frames:
            300 = 3 s). Defaults to `max_frames` for a fixed-length model (`fixed_length`) and to no windowing (the
            whole clip at once) otherwise; at most `max_frames` for a fixed-length model. A longer clip is cut into
            windows every `inference_hop_frames` frames, the last one moved back to end at the clip's end, and its
            logits are the log of the mean of the windows' softmax probabilities (so `pipeline` scores are the mean
            window probabilities). A clip within one window is scored whole, as without windowing.
        inference_hop_frames (`int`, *optional*):
            Frames between the starts of consecutive inference windows, in [1, window]; defaults to half the window
            (windows overlap by half).

    Example:

    ```python
    >>> from modeling_tft import TFTConfig, TFTForAudioClassification
    >>> config = TFTConfig(num_labels=6)
    >>> model = TFTForAudioClassification(config)
    ```
    """

    model_type = "tft"

    def __init__(
        self,
        num_mel_bins: int = 64,
        max_frames: int = 300,
        frames_per_time_token: int = 4,
        bins_per_frequency_token: int = 4,
        time_embedding: str = "conv2d",
        time_conv_channels: int = 32,
        time_conv_residual_layers: int = 0,
        time_conv_deltas: int = 0,
        time_position_embedding: str = "convolutional",
        position_kernel_size: int = 15,
        position_conv_init: str = "wav2vec2",
        frequency_embedding: str = "conv_statistics",
        frequency_conv_channels: int = 32,
        frequency_conv_kernel_size: int = 5,
        frequency_conv_init: str = "normal",
        frequency_band_statistics: bool = False,
        frequency_segment_frames: int = 50,
        frequency_segment_pooling: str = "mean",
        hidden_size: int = 192,
        num_attention_heads: int = 4,
        intermediate_size: int = 768,
        num_time_layers: int = 2,
        num_frequency_layers: int = 2,
        num_fusion_layers: int = 2,
        fusion_type: str = "joint",
        fusion_gate: bool = False,
        pooling: str = "attention",
        stream_pooling: str = "joint",
        frequency_pooling: str = "tokens",
        frequency_flatten_size: int = 8,
        instance_normalization: bool = False,
        use_time_branch: bool = True,
        use_frequency_branch: bool = True,
        use_fusion: bool = True,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        activation_dropout: float | None = 0.1,
        attention_probs_dropout_prob: float = 0.0,
        drop_path_rate: float = 0.0,
        classifier_dropout: float = 0.1,
        layer_norm_eps: float = 1e-6,
        initializer_range: float = 0.02,
        class_weights: list[float] | None = None,
        label_smoothing: float = 0.0,
        branch_loss_weight: float = 0.0,
        speaker_adversarial_weight: float = 0.0,
        num_speakers: int = 0,
        inference_window_frames: int | None = None,
        inference_hop_frames: int | None = None,
        **kwargs,
    ) -> None:
        self.num_mel_bins = num_mel_bins
        self.max_frames = max_frames
        self.frames_per_time_token = frames_per_time_token
        self.bins_per_frequency_token = bins_per_frequency_token
        self.time_embedding = time_embedding
        self.time_conv_channels = time_conv_channels
        self.time_conv_residual_layers = time_conv_residual_layers
        self.time_conv_deltas = time_conv_deltas
        self.time_position_embedding = time_position_embedding
        self.position_kernel_size = position_kernel_size
        self.frequency_embedding = frequency_embedding
        self.frequency_conv_channels = frequency_conv_channels
        self.frequency_conv_kernel_size = frequency_conv_kernel_size
        self.frequency_conv_init = frequency_conv_init
        self.frequency_band_statistics = frequency_band_statistics
        self.frequency_segment_frames = frequency_segment_frames
        self.frequency_segment_pooling = frequency_segment_pooling
        self.position_conv_init = position_conv_init
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.num_time_layers = num_time_layers
        self.num_frequency_layers = num_frequency_layers
        self.num_fusion_layers = num_fusion_layers
        self.fusion_type = fusion_type
        self.fusion_gate = fusion_gate
        self.pooling = pooling
        self.stream_pooling = stream_pooling
        self.frequency_pooling = frequency_pooling
        self.frequency_flatten_size = frequency_flatten_size
        self.instance_normalization = instance_normalization
        self.use_time_branch = use_time_branch
        self.use_frequency_branch = use_frequency_branch
        self.use_fusion = use_fusion
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        # None (configs saved while it followed hidden_dropout_prob): the hidden dropout
        self.activation_dropout = hidden_dropout_prob if activation_dropout is None else activation_dropout
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.drop_path_rate = drop_path_rate
        self.classifier_dropout = classifier_dropout
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.class_weights = list(class_weights) if class_weights is not None else None
        self.label_smoothing = label_smoothing
        self.branch_loss_weight = branch_loss_weight
        self.speaker_adversarial_weight = speaker_adversarial_weight
        self.num_speakers = num_speakers
        self.inference_window_frames = inference_window_frames
        self.inference_hop_frames = inference_hop_frames
        super().__init__(**kwargs)
        self._validate()

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs) -> TFTConfig:
        """As `PretrainedConfig.from_dict`; a saved config without `time_embedding` (written before the option
        existed, 2026-12-02) had linear time tokens, so it loads as `time_embedding="linear"`."""
        if "time_embedding" not in config_dict:
            config_dict = {**config_dict, "time_embedding": "linear"}
        return super().from_dict(config_dict, **kwargs)

    @property
    def num_time_tokens(self) -> int:
        """Time tokens of an input of `max_frames` frames (the last group is zero-padded)."""
        return -(-self.max_frames // self.frames_per_time_token)

    @property
    def fixed_length(self) -> bool:
        """Whether a component in use is tied to `max_frames` (then inputs longer than that raise)."""
        absolute = self.use_time_branch and self.time_position_embedding == "absolute"
        return absolute or (self.use_frequency_branch and self.frequency_embedding == "trajectory")

    @property
    def window_frames(self) -> int | None:
        """Frames per inference window (`inference_window_frames` or its default); `None`: whole clips."""
        if self.inference_window_frames is not None:
            return int(self.inference_window_frames)
        return self.max_frames if self.fixed_length else None

    @property
    def hop_frames(self) -> int | None:
        """Frames between inference windows (`inference_hop_frames`, default half the window); `None`: no windows."""
        window = self.window_frames
        if window is None:
            return None
        return int(self.inference_hop_frames) if self.inference_hop_frames is not None else max(1, window // 2)

    @property
    def num_branch_layers(self) -> int:
        """Layers of the deeper branch in use: the depth at which the fusion layers start."""
        return max(self.num_time_layers * self.use_time_branch, self.num_frequency_layers * self.use_frequency_branch)

    def layer_drop_path_rates(self, first_depth: int, num_layers: int) -> list[float]:
        """Stochastic-depth rates of `num_layers` layers starting at depth `first_depth` (0: the first layer of a
        branch; the fusion layers start at `num_branch_layers`), linear from 0 to `drop_path_rate` at the last layer."""
        last = self.num_branch_layers + (self.num_fusion_layers if self.use_fusion else 0) - 1
        return [self.drop_path_rate * depth / max(1, last) for depth in range(first_depth, first_depth + num_layers)]

    @property
    def has_branch_heads(self) -> bool:
        """Whether the model classifies each branch on its own too (`branch_loss_weight` > 0 with both branches)."""
        return float(self.branch_loss_weight) > 0.0 and self.use_time_branch and self.use_frequency_branch

    @property
    def has_speaker_head(self) -> bool:
        """Whether the model has the speaker-adversarial head (`speaker_adversarial_weight` > 0)."""
        return float(self.speaker_adversarial_weight) > 0.0

    @property
    def num_frequency_tokens(self) -> int:
        """Frequency tokens per input (one per group of `bins_per_frequency_token` mel bands)."""
        return self.num_mel_bins // self.bins_per_frequency_token

    def _validate(self) -> None:
        positive = (
            "num_mel_bins",
            "max_frames",
            "frames_per_time_token",
            "bins_per_frequency_token",
            "hidden_size",
            "num_attention_heads",
            "intermediate_size",
            "position_kernel_size",
            "frequency_conv_channels",
            "frequency_conv_kernel_size",
            "frequency_flatten_size",
            "frequency_segment_frames",
            "time_conv_channels",
        )
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {getattr(self, name)}.")
        for name in ("num_time_layers", "num_frequency_layers", "num_fusion_layers", "time_conv_residual_layers"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"`{name}` must be >= 0, got {getattr(self, name)}.")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"`hidden_size` ({self.hidden_size}) must be a multiple of `num_attention_heads` "
                f"({self.num_attention_heads})."
            )
        if self.num_mel_bins % self.bins_per_frequency_token:
            raise ValueError(
                f"`bins_per_frequency_token` ({self.bins_per_frequency_token}) must divide "
                f"`num_mel_bins` ({self.num_mel_bins})."
            )
        choices = {
            "fusion_type": FUSION_TYPES,
            "pooling": POOLING_TYPES,
            "stream_pooling": STREAM_POOLING_TYPES,
            "frequency_pooling": FREQUENCY_POOLING_TYPES,
            "frequency_segment_pooling": SEGMENT_POOLING_TYPES,
            "time_embedding": TIME_EMBEDDINGS,
            "time_position_embedding": TIME_POSITION_EMBEDDINGS,
            "frequency_embedding": FREQUENCY_EMBEDDINGS,
            "frequency_conv_init": CONV_INITS,
            "position_conv_init": POSITION_CONV_INITS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"`{name}` must be one of {allowed}, got {getattr(self, name)!r}.")
        for name in ("position_kernel_size", "frequency_conv_kernel_size"):
            if int(getattr(self, name)) % 2 == 0:
                raise ValueError(f"`{name}` must be odd (centred convolution), got {getattr(self, name)}.")
        if int(self.frequency_segment_frames) % 2:
            raise ValueError(
                "`frequency_segment_frames` must be even (the band convolution strides 2 frames), got "
                f"{self.frequency_segment_frames}."
            )
        stride = self.frames_per_time_token
        if self.time_embedding == "conv2d" and (stride < 2 or stride & (stride - 1)):
            raise ValueError(
                "`time_embedding='conv2d'` reduces time by 2 per convolution, so `frames_per_time_token` must be a "
                f"power of 2 (at least 2), got {stride}."
            )
        if (
            self.use_frequency_branch
            and self.frequency_embedding == "shared_stem"
            and (self.time_embedding != "conv2d" or self.bins_per_frequency_token != stride)
        ):
            raise ValueError(
                "`frequency_embedding='shared_stem'` reads its band tokens off the conv2d time stem, which reduces "
                "mel bins as it reduces frames: it needs `time_embedding='conv2d'` and `bins_per_frequency_token` "
                f"equal to `frames_per_time_token`, got {self.time_embedding!r}, {self.bins_per_frequency_token} and "
                f"{stride}."
            )
        if self.time_conv_deltas not in (0, 1, 2):
            raise ValueError(f"`time_conv_deltas` must be 0, 1 or 2, got {self.time_conv_deltas}.")
        if self.time_conv_deltas and self.time_embedding != "conv2d":
            raise ValueError(
                "`time_conv_deltas` are input channels of the conv2d stem: it needs `time_embedding='conv2d'`."
            )
        if not (self.use_time_branch or self.use_frequency_branch):
            raise ValueError("At least one of `use_time_branch` and `use_frequency_branch` must be True.")
        if self.use_fusion and not (self.use_time_branch and self.use_frequency_branch):
            raise ValueError(
                "`use_fusion=True` fuses the time and frequency branches and needs both; set "
                f"`use_fusion=False` for a single-branch ablation (use_time_branch={self.use_time_branch}, "
                f"use_frequency_branch={self.use_frequency_branch})."
            )
        if self.frequency_band_statistics and self.frequency_embedding != "conv_statistics":
            raise ValueError(
                "`frequency_band_statistics=True` adds to the `'conv_statistics'` band tokens, got "
                f"`frequency_embedding={self.frequency_embedding!r}`."
            )
        segment_tokens = self.frequency_embedding == "conv_segments" and self.frequency_segment_pooling == "none"
        if segment_tokens and self.frequency_pooling == "flatten":
            raise ValueError(
                "`frequency_pooling='flatten'` needs one token per band; `frequency_segment_pooling='none'` keeps one "
                "per band and segment."
            )
        if self.instance_normalization and self.frequency_pooling == "flatten" and not self.use_time_branch:
            raise ValueError(
                "`instance_normalization=True` puts its statistics token in the frequency stream of a frequency-only "
                "model, which `frequency_pooling='flatten'` keeps in band order; use `frequency_pooling='tokens'`."
            )
        dropouts = ("hidden_dropout_prob", "activation_dropout", "attention_probs_dropout_prob", "classifier_dropout")
        for name in (*dropouts, "drop_path_rate"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {getattr(self, name)}.")
        if not 0.0 <= float(self.label_smoothing) < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1), got {self.label_smoothing}.")
        if float(self.branch_loss_weight) < 0.0:
            raise ValueError(f"`branch_loss_weight` must be >= 0, got {self.branch_loss_weight}.")
        if float(self.speaker_adversarial_weight) < 0.0:
            raise ValueError(f"`speaker_adversarial_weight` must be >= 0, got {self.speaker_adversarial_weight}.")
        if float(self.speaker_adversarial_weight) > 0.0 and int(self.num_speakers) < 2:
            raise ValueError(
                "`speaker_adversarial_weight` > 0 needs `num_speakers` >= 2 training speakers for the speaker head, "
                f"got {self.num_speakers} (run_train.py sets it from each fold's training speakers)."
            )
        if self.class_weights is not None:
            if len(self.class_weights) != self.num_labels:
                raise ValueError(
                    f"`class_weights` has {len(self.class_weights)} entries but the model has {self.num_labels} labels."
                )
            if any(w < 0 for w in self.class_weights):
                raise ValueError(f"`class_weights` must be non-negative, got {self.class_weights}.")
        self._validate_windows()

    def _validate_windows(self) -> None:
        window, hop = self.inference_window_frames, self.inference_hop_frames
        if window is not None and int(window) < 1:
            raise ValueError(f"`inference_window_frames` must be a positive integer, got {window}.")
        if window is not None and self.fixed_length and int(window) > self.max_frames:
            raise ValueError(
                f"`inference_window_frames` ({window}) must not exceed `max_frames` ({self.max_frames}) in a "
                "fixed-length model (`time_position_embedding='absolute'` or `frequency_embedding='trajectory'`)."
            )
        if hop is not None and not 1 <= int(hop) <= (self.window_frames or int(hop)):
            raise ValueError(
                f"`inference_hop_frames` ({hop}) must be in [1, inference window = {self.window_frames} frames]."
            )


__all__ = ["TFTConfig"]

"""PyTorch Time-Frequency Transformer (TFT) for speech emotion recognition (Wang et al., ICONIP 2023)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPooling, ModelOutput, SequenceClassifierOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils.generic import can_return_tuple
from transformers.utils.output_capturing import OutputRecorder, capture_outputs

from .configuration_tft import TFTConfig
from .prosody_tft import NUM_FUNCTIONALS, PROSODY_CHANNELS, contour_functionals

MAX_WINDOWS_PER_CALL = 256  # inference windows per backbone call: bounds memory on recordings of hours
SPEAKER_STD_EPS = 1e-6  # added to a speaker's embedding spread before dividing by it (speaker_embedding_scale)
MIN_SPEAKER_EMBEDDINGS = 2  # a speaker's embeddings needed to standardise over them (speaker_embedding_scale)


@dataclass
class TFTModelOutput(BaseModelOutputWithPooling):
    """
    Output of [`TFTModel`].

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch, time_tokens + frequency_tokens, hidden_size)`):
            Final tokens: the time tokens (with the time branch) followed by the frequency tokens.
        pooler_output (`torch.FloatTensor` of shape `(batch, hidden_size)`):
            The utterance embedding: attentive pooling over the real tokens of both streams. It is what the
            classification head reads, and what to use as an utterance-level feature.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            With `output_hidden_states=True`: the time stream (embeddings, then each Time Transformer layer), the
            frequency stream (likewise), then each fusion layer's output (both streams' tokens, time first).
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            With `output_attentions=True` and `attn_implementation="eager"`: each layer's attention weights
            `(batch, heads, queries, keys)`, in the order of `hidden_states`.
        token_mask (`torch.BoolTensor` of shape `(batch, time_tokens + frequency_tokens)`):
            Which tokens of `last_hidden_state` hold audio (padded time tokens are `False`).
    """

    token_mask: torch.BoolTensor | None = None


@dataclass
class TFTSequenceClassifierOutput(SequenceClassifierOutput):
    """
    Output of [`TFTForAudioClassification`]: `SequenceClassifierOutput`, plus

    Args:
        head_logits (`tuple(torch.FloatTensor)`, *optional*):
            In training, with the functionals head: the Transformer head's and the functionals head's logits
            `(batch, num_labels)`, whose sum is `logits`; each is trained on its own loss. `None` otherwise.
    """

    head_logits: tuple[torch.FloatTensor, ...] | None = None


class TFTDropout(nn.Dropout):
    """`nn.Dropout` whose CPU training mask keeps the units where a standard normal draw exceeds the normal's
    `p`-quantile: the same Bernoulli(1 - p) mask from another random stream, about half the cost of torch's CPU
    `bernoulli_` (search DM1). Other devices use `nn.Dropout` itself."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if not self.training or not 0 < self.p < 1 or hidden_states.device.type != "cpu":
            return super().forward(hidden_states)
        threshold = NormalDist().inv_cdf(self.p)  # from `p` at each call, so a changed `p` takes effect
        scaled_mask = torch.randn_like(hidden_states).gt_(threshold).mul_(1.0 / (1.0 - self.p))
        return hidden_states * scaled_mask


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference attention, softmax in float32; returns the output `(batch, queries, heads, head_dim)` and weights."""
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling  # (batch, heads, queries, keys)
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = weights.softmax(dim=-1, dtype=torch.float32).to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


class TFTAttention(nn.Module):
    """Multi-head self-attention with a fused key-value projection, through transformers' attention interface."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.config = config
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.is_causal = False
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key_value = nn.Linear(config.hidden_size, 2 * config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, length, _ = hidden_states.shape
        query = self.query(hidden_states).view(batch, length, -1, self.head_dim).transpose(1, 2)
        key, value = self.key_value(hidden_states).view(batch, length, 2, -1, self.head_dim).permute(2, 0, 3, 1, 4)
        # query, key, value: (batch, heads, tokens, head_dim)
        attention: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        dropout = self.config.attention_probs_dropout_prob if self.training else 0.0
        attended, weights = attention(
            self, query, key, value, attention_mask, dropout=dropout, scaling=self.scaling, **kwargs
        )
        return self.output(attended.reshape(batch, length, -1)), weights


class TFTMLP(nn.Module):
    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = ACT2FN[config.hidden_act]
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = TFTDropout(config.activation_dropout)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.act(self.fc1(hidden_states))))


class TFTLayer(GradientCheckpointingLayer):
    """Pre-norm Transformer layer."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.norm_attention = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = TFTAttention(config)
        self.norm_mlp = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = TFTMLP(config)
        self.dropout = TFTDropout(config.hidden_dropout_prob)

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs
    ) -> torch.Tensor:
        attended, _ = self.attention(self.norm_attention(hidden_states), attention_mask, **kwargs)
        hidden_states = hidden_states + self.dropout(attended)
        return hidden_states + self.dropout(self.mlp(self.norm_mlp(hidden_states)))


class TFTEncoder(nn.Module):
    """A stack of layers over one token sequence; `token_mask` `(batch, tokens)` marks the real tokens."""

    def __init__(self, config: TFTConfig, num_layers: int) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList([TFTLayer(config) for _ in range(num_layers)])

    def forward(self, hidden_states: torch.Tensor, token_mask: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden_states, attention_mask=token_mask)
        for layer in self.layers:
            hidden_states = layer(hidden_states, mask, **kwargs)
        return hidden_states


def masked_statistics(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mean and standard deviation of `values` `(batch, steps, channels)` over the steps where `mask`
    `(batch, steps, 1)` is set, concatenated: `(batch, 2 * channels)`."""
    mask = mask.to(values.dtype)
    count = mask.sum(1).clamp(min=1.0)
    mean = (values * mask).sum(1) / count
    var = (((values - mean[:, None]) * mask) ** 2).sum(1) / count
    return torch.cat([mean, torch.sqrt(var + eps)], dim=-1)


class TFTConv1d(nn.Conv1d):
    """`nn.Conv1d` over `(batch, steps, channels)`, run as a conv2d on a channels-last view of it: oneDNN's fast path
    on CPU, with no transposed copies. Same parameters and outputs as `nn.Conv1d` on `(batch, channels, steps)`; zero
    padding given as a number."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.padding_mode != "zeros" or isinstance(self.padding, str):
            raise ValueError(
                f"TFTConv1d pads with zeros by a number of steps; got padding={self.padding!r}, "
                f"padding_mode={self.padding_mode!r}."
            )

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """`(batch, steps, in_channels)` -> `(batch, output steps, out_channels)`."""
        output = nn.functional.conv2d(
            hidden_states.transpose(1, 2).unsqueeze(2),  # (batch, channels, 1, steps), channels-last memory
            self.weight.unsqueeze(2),
            self.bias,
            (1, self.stride[0]),
            (0, self.padding[0]),
            (1, self.dilation[0]),
            self.groups,
        )
        return output.squeeze(2).transpose(1, 2)  # views both ways: no zero-filled gradient copies


class TFTConvSubsampling(nn.Module):
    """The time tokens' stem: 3x3 convolutions over (frames, mel bands), each with stride 2 in both axes and a GELU
    (log2 of `frames_per_time_token` of them, as Conformer's subsampling). Padded frames are zeroed after every
    convolution (output step i is centred on input step 2i), so a clip's tokens do not depend on its batch. The maps
    are kept in channels-last memory, oneDNN's fast path on CPU, and the GELU and masks act on its contiguous
    `(batch, steps, bands, channels)` view."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        channels, num_layers = config.time_conv_channels, config.frames_per_time_token.bit_length() - 1
        self.convolutions = nn.ModuleList(
            nn.Conv2d(1 if i == 0 else channels, channels, 3, stride=2, padding=1) for i in range(num_layers)
        )
        self.act = ACT2FN[config.hidden_act]
        self.channels = channels
        self.output_size = channels * -(-config.num_mel_bins // 2**num_layers)  # channels x reduced bands

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(batch, frames, mel)` -> token inputs `(batch, tokens, reduced bands * channels)`, ordered (band, channel),
        and the token mask."""
        hidden = features[:, None].contiguous(memory_format=torch.channels_last)  # (batch, 1, frames, mel)
        mask = frame_mask
        for convolution in self.convolutions:
            mask = mask[:, ::2]
            hidden = convolution(hidden).permute(0, 2, 3, 1)  # (batch, steps, bands, channels), contiguous
            hidden = self.act(hidden) * mask[:, :, None, None].to(hidden.dtype)
            hidden = hidden.permute(0, 3, 1, 2)  # (batch, channels, steps, bands), channels-last memory
        return hidden.permute(0, 2, 3, 1).flatten(2), mask


class TFTPositionConvolution(TFTConv1d):
    """The depthwise convolution of the time positions (a class of its own for `_init_weights`)."""


class TFTProsodyEmbeddings(nn.Module):
    """The prosody contours at the time tokens' steps: 1-d convolutions along time (kernel 3, stride 2, GELU; as
    many as the conv2d stem has), projected to `hidden_size`. Padded frames are zeroed after every convolution."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        channels = 2 * config.time_conv_channels
        self.convolutions = nn.ModuleList(
            TFTConv1d(config.num_prosody_features if i == 0 else channels, channels, 3, stride=2, padding=1)
            for i in range(config.frames_per_time_token.bit_length() - 1)
        )
        self.act = ACT2FN[config.hidden_act]
        self.projection = nn.Linear(channels, config.hidden_size)

    def forward(self, contours: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """`(batch, frames, num_prosody_features)` -> `(batch, time_tokens, hidden)`."""
        hidden, mask = contours, frame_mask
        for convolution in self.convolutions:
            mask = mask[:, ::2]
            hidden = self.act(convolution(hidden)) * mask[..., None].to(hidden.dtype)
        return self.projection(hidden)


class TFTTimeEmbeddings(nn.Module):
    """Time tokens: the conv2d stem's output at each token step, projected to `hidden_size`, plus the prosody
    contours' embedding (with `num_prosody_features`), plus relative positions from a depthwise convolution over
    neighbouring tokens (as wav2vec 2.0; padded tokens are zeroed first)."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.subsampling = TFTConvSubsampling(config)
        self.projection = nn.Linear(self.subsampling.output_size, config.hidden_size)
        self.num_mel_bins = config.num_mel_bins
        self.prosody = TFTProsodyEmbeddings(config) if config.num_prosody_features else None
        kernel = config.position_kernel_size
        self.position_conv = TFTPositionConvolution(
            config.hidden_size, config.hidden_size, kernel, padding=kernel // 2, groups=config.hidden_size
        )
        self.dropout = TFTDropout(config.hidden_dropout_prob)

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(batch, frames, num_input_features)` -> time tokens `(batch, tokens, hidden)` and their mask."""
        tokens, token_mask = self.subsampling(features[..., : self.num_mel_bins], frame_mask)
        # the projection's inputs are stored (channel, band)-ordered, the stem's tokens come (band, channel)-ordered
        weight = self.projection.weight.unflatten(1, (self.subsampling.channels, -1)).transpose(1, 2).flatten(1)
        embeddings = nn.functional.linear(tokens, weight, self.projection.bias)  # (batch, tokens, hidden)
        if self.prosody is not None:
            embeddings = embeddings + self.prosody(features[..., self.num_mel_bins :], frame_mask)
        embeddings = embeddings * token_mask[..., None].to(embeddings.dtype)
        positions = self.position_conv(embeddings)  # (batch, tokens, hidden)
        return self.dropout(embeddings + nn.functional.gelu(positions)), token_mask


class TFTFrequencyEmbeddings(nn.Module):
    """Frequency tokens from local patterns inside each band: two convolutions along time (the first with stride 2),
    shared by all bands, then the mean and standard deviation of their channels over the clip's real frames, plus a
    learned embedding per band. Shift-invariant and length-free; padded frames are zeroed after the first convolution
    and left out of the statistics."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.bins_per_token = config.bins_per_frequency_token
        channels, kernel = config.frequency_conv_channels, config.frequency_conv_kernel_size
        self.conv1 = TFTConv1d(config.bins_per_frequency_token, channels, kernel, stride=2, padding=kernel // 2)
        self.conv2 = TFTConv1d(channels, channels, kernel, padding=kernel // 2)
        self.act = ACT2FN[config.hidden_act]
        self.projection = nn.Linear(2 * channels, config.hidden_size)
        self.position_embeddings = nn.Parameter(torch.zeros(1, config.num_frequency_tokens, config.hidden_size))
        self.dropout = TFTDropout(config.hidden_dropout_prob)

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        batch, frames, mel = features.shape
        num_bands = mel // self.bins_per_token
        bands = features.view(batch, frames, num_bands, self.bins_per_token).transpose(1, 2)
        bands = bands.reshape(batch * num_bands, frames, self.bins_per_token)  # (batch * bands, frames, bins)
        # output step i of the strided convolution is centred on frame 2i
        mask = frame_mask[:, None, ::2, None].expand(batch, num_bands, -1, 1).reshape(batch * num_bands, -1, 1)
        hidden = self.act(self.conv1(bands)) * mask.to(features.dtype)
        hidden = self.act(self.conv2(hidden))  # (batch * bands, steps, channels)
        statistics = masked_statistics(hidden, mask).view(batch, num_bands, -1)  # (batch, bands, 2 * channels)
        return self.dropout(self.projection(statistics) + self.position_embeddings)


class TFTFusion(nn.Module):
    """The Time-Frequency Transformer: self-attention over the time and frequency tokens together, each stream
    marked by a learned type embedding."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.type_embeddings = nn.Parameter(torch.zeros(2, config.hidden_size))  # time, frequency
        self.encoder = TFTEncoder(config, config.num_fusion_layers)

    def forward(self, time: torch.Tensor, frequency: torch.Tensor, token_mask: torch.Tensor, **kwargs) -> torch.Tensor:
        tokens = torch.cat([time + self.type_embeddings[0], frequency + self.type_embeddings[1]], dim=1)
        return self.encoder(tokens, token_mask, **kwargs)  # (batch, time_tokens + frequency_tokens, hidden)


class TFTPooler(nn.Module):
    """Attentive pooling: a softmax over the real tokens of a learned score per token weights their mean."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.score = nn.Linear(config.hidden_size, 1, bias=False)  # a bias would shift every score alike

    def forward(self, tokens: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(tokens).squeeze(-1).float()  # float32: the score may be bf16 under autocast
        weights = scores.masked_fill(~token_mask, torch.finfo(scores.dtype).min).softmax(dim=-1).to(tokens.dtype)
        return torch.einsum("bn,bnd->bd", weights, tokens)  # (batch, hidden)


class TFTScaledLinear(nn.Linear):
    """A linear layer whose weights are stored divided by `scale` and multiplied back in `forward`: Adam moves them
    `scale` times as fast as the rest of the model (`_init_weights` divides their initial values by `scale`)."""

    def __init__(self, in_features: int, out_features: int, scale: float) -> None:
        super().__init__(in_features, out_features)
        self.scale = scale

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(hidden_states, self.weight * self.scale, self.bias * self.scale)


class TFTFunctionalsHead(nn.Module):
    """The functionals head: [`contour_functionals`] of the clip's contours, standardised by a BatchNorm without
    affine parameters (running statistics of the training clips), dropout and a [`TFTScaledLinear`] with
    `config.functionals_lr_scale`."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        if config.num_prosody_features != len(PROSODY_CHANNELS):
            raise ValueError(
                f"The functionals head reads the feature extractor's {len(PROSODY_CHANNELS)} contours, but the config "
                f"has num_prosody_features={config.num_prosody_features}."
            )
        self.norm = nn.BatchNorm1d(NUM_FUNCTIONALS, affine=False)
        self.dropout = TFTDropout(config.classifier_dropout)
        self.classifier = TFTScaledLinear(NUM_FUNCTIONALS, config.num_labels, config.functionals_lr_scale)

    def forward(self, contours: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """`(batch, frames, num_prosody_features)` -> logits `(batch, num_labels)`."""
        return self.classifier(self.dropout(self.standardised(contours, frame_mask)))

    def standardised(self, contours: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """The head's input: the clips' functionals after the BatchNorm `(batch, NUM_FUNCTIONALS)`."""
        functionals = contour_functionals(contours, frame_mask)
        if self.training and len(functionals) == 1:  # one clip has no batch statistics: the running ones
            norm = self.norm
            return nn.functional.batch_norm(functionals, norm.running_mean, norm.running_var, eps=norm.eps)
        return self.norm(functionals)


class TFTPreTrainedModel(PreTrainedModel):
    config_class = TFTConfig
    config: TFTConfig
    base_model_prefix = "tft"
    main_input_name = "input_features"
    input_modalities = ("audio",)
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _no_split_modules = ["TFTLayer"]
    _can_record_outputs = {
        "hidden_states": [
            OutputRecorder(TFTTimeEmbeddings, index=0, capture_initial_hidden_state=False),
            OutputRecorder(TFTFrequencyEmbeddings, capture_initial_hidden_state=False),
            OutputRecorder(TFTLayer, capture_initial_hidden_state=False),
        ],
        "attentions": OutputRecorder(TFTAttention, index=1),
    }

    def __init__(self, config: TFTConfig, *inputs, **kwargs) -> None:
        super().__init__(config, *inputs, **kwargs)
        config._validate()  # again: `from_pretrained(path, **overrides)` sets its overrides after the config's __init__

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, TFTScaledLinear):  # effective weights normal(initializer_range), as a Linear's
            init.normal_(module.weight, std=self.config.initializer_range / module.scale)
            init.zeros_(module.bias)
            return
        super()._init_weights(module)
        if isinstance(module, TFTPositionConvolution):  # as wav2vec 2.0's: std 2 / sqrt(fan-in), depthwise
            init.normal_(module.weight, std=2.0 / module.kernel_size[0] ** 0.5)
        elif isinstance(module, nn.Conv2d):  # the conv2d stem: He init, as wav2vec 2.0's feature encoder
            init.kaiming_normal_(module.weight)
        elif isinstance(module, TFTFrequencyEmbeddings):
            init.trunc_normal_(module.position_embeddings, std=self.config.initializer_range)
        elif isinstance(module, TFTFusion):
            init.trunc_normal_(module.type_embeddings, std=self.config.initializer_range)


class TFTModel(TFTPreTrainedModel):
    """The TFT backbone: Time Transformer, Frequency Transformer and Time-Frequency Transformer."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__(config)
        if config.use_time_branch:
            self.time_embeddings = TFTTimeEmbeddings(config)
            self.time_encoder = TFTEncoder(config, config.num_time_layers)
        if config.use_frequency_branch:
            self.frequency_embeddings = TFTFrequencyEmbeddings(config)
            self.frequency_encoder = TFTEncoder(config, config.num_frequency_layers)
        self.fusion = TFTFusion(config) if config.use_fusion else None
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pooler = TFTPooler(config)
        self.post_init()

    @capture_outputs(tie_last_hidden_states=False)
    def forward(
        self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs
    ) -> TFTModelOutput:
        r"""
        input_features (`torch.FloatTensor` of shape `(batch, frames, num_input_features)`):
            Log-mel features (and prosody contours) from [`TFTFeatureExtractor`], of any length (encoded in one piece:
            [`TFTForAudioClassification`] is what cuts long inputs into inference windows).
        attention_mask (`torch.LongTensor` of shape `(batch, frames)`, *optional*):
            1 for real frames, 0 for padding (at the end). Padded frames never influence the output.
        """
        frame_mask = self.frame_mask(input_features, attention_mask)
        features = input_features * frame_mask[..., None].to(input_features.dtype)  # (batch, frames, mel)
        streams, masks = [], []
        if self.config.use_time_branch:
            time, time_mask = self.time_embeddings(features, frame_mask)  # (batch, time_tokens, hidden)
            streams.append(self.time_encoder(time, time_mask, **kwargs))
            masks.append(time_mask)
        if self.config.use_frequency_branch:
            mel = features[..., : self.config.num_mel_bins]
            frequency = self.frequency_embeddings(mel, frame_mask)  # (batch, frequency_tokens, hidden)
            streams.append(self.frequency_encoder(frequency, None, **kwargs))
            masks.append(frame_mask.new_ones(frequency.shape[:2]))
        token_mask = torch.cat(masks, dim=1)
        tokens = self.fusion(*streams, token_mask, **kwargs) if self.fusion is not None else torch.cat(streams, 1)
        tokens = self.layernorm(tokens)
        return TFTModelOutput(
            last_hidden_state=tokens, pooler_output=self.pooler(tokens, token_mask), token_mask=token_mask
        )

    def frame_mask(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Check the input's shape and return the `(batch, frames)` boolean mask of real frames."""
        expected = self.config.num_input_features
        if input_features.dim() != 3 or input_features.shape[-1] != expected:
            contents = f"{self.config.num_mel_bins} mel bands + {self.config.num_prosody_features} prosody contours"
            raise ValueError(
                f"`input_features` must have shape (batch, frames, {expected}) ({contents}: a TFTFeatureExtractor "
                f"with feature_size={self.config.num_mel_bins}, prosody={bool(self.config.num_prosody_features)}), "
                f"got {tuple(input_features.shape)}."
            )
        if attention_mask is None:
            return torch.ones(input_features.shape[:2], dtype=torch.bool, device=input_features.device)
        if attention_mask.shape != input_features.shape[:2]:
            raise ValueError(
                f"`attention_mask` has shape {tuple(attention_mask.shape)}, expected {tuple(input_features.shape[:2])}."
            )
        frame_mask = attention_mask.bool()
        if not torch.compiler.is_compiling() and not frame_mask[:, 0].all():
            raise ValueError("Every clip needs at least its first frame unmasked (padding goes at the end).")
        return frame_mask


def window_starts(num_frames: torch.Tensor, window: int, hop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """
    First frame of each inference window of clips of `num_frames` real frames `(batch,)`: one every `hop` frames,
    the last moved back to end exactly at the clip's end; a clip of at most `window` frames is one window at 0.
    Returns `starts` and `valid`, both `(batch, max_windows)`; windows past a clip's count are invalid (start 0).
    """
    excess = (num_frames - window).clamp(min=0)  # frames past the first window
    count = torch.where(excess > 0, -(-excess // hop) + 1, torch.ones_like(excess))  # windows per clip
    index = torch.arange(int(count.max()), device=num_frames.device)[None, :]  # (1, max_windows)
    valid = index < count[:, None]
    starts = torch.where(index < count[:, None] - 1, index * hop, excess[:, None])  # the last: aligned to the end
    return starts * valid, valid


def combine_window_logits(window_logits: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """
    The whole-clip rule: the log of the weighted mean of the windows' softmax probabilities.

    `window_logits` `(batch, windows, labels)` and `weights` `(batch, windows)` (non-negative, e.g. each window's
    real frames; 0 for an absent window) give `(batch, labels)` log-probabilities, in float32 or wider.
    """
    dtype = torch.promote_types(window_logits.dtype, torch.float32)
    log_probabilities = window_logits.to(dtype).log_softmax(-1)
    log_weights = weights.to(dtype).log()  # an absent window: -inf, so it adds nothing
    combined = torch.logsumexp(log_probabilities + log_weights[..., None], dim=1)  # (batch, labels)
    return combined - torch.logsumexp(log_weights, dim=1, keepdim=True)


def t3a_head(
    weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, supports: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """T3A's adjusted linear head: class j's prototype is the direction of `weight` row w_j plus the unit vectors of
    `x - mean` of its supports (`supports[j]`: 1 for each row of `x` that supports j), scaled to |w_j|; returns the
    weight c and bias `bias + (w - c) . mean` of the logits `(x - mean) . c_j + mean . w_j + b_j`."""
    centred = x - mean
    units = centred / centred.norm(dim=-1, keepdim=True).clamp_min(SPEAKER_STD_EPS)
    norms = weight.norm(dim=-1, keepdim=True)
    prototypes = weight / norms + supports.to(units) @ units
    prototypes = prototypes * norms / prototypes.norm(dim=-1, keepdim=True)
    return prototypes, bias + (weight - prototypes) @ mean


class TFTForAudioClassification(TFTPreTrainedModel):
    """
    TFT with a classification head (dropout + linear) on the utterance embedding (`pooler_output`).

    With `config.functionals_head`, a second head's logits on the clip's prosody functionals ([`TFTFunctionalsHead`]),
    times `config.functionals_weight`, are added to the Transformer head's ([`combine_heads`]).

    With `config.inference_window_frames`, inputs longer than it are scored in overlapping windows (every
    `config.hop_frames` frames, the last moved back to end at the clip's end, all windows of the batch through the
    backbone in batches of `MAX_WINDOWS_PER_CALL`); each window is scored as a clip of its own (by both heads), and
    a clip's logits are the log of the mean of its windows' softmax probabilities, weighted by each window's real
    frames ([`combine_window_logits`]).
    """

    def __init__(self, config: TFTConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.tft = TFTModel(config)
        self.dropout = TFTDropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.functionals = TFTFunctionalsHead(config) if config.functionals_head else None
        if config.speaker_embedding_shift:  # the training clips' mean utterance embedding, set after training
            self.register_buffer("embedding_mean", torch.zeros(config.hidden_size))
        if config.speaker_embedding_scale:  # the training speakers' within-speaker spread, set after training
            self.register_buffer("embedding_std", torch.ones(config.hidden_size))
        # a speaker's mean (and spread) of their utterance embeddings, and with config.speaker_head_supports each
        # head's weight and bias adjusted to them: set_speaker_embeddings
        self.register_buffer("speaker_embedding_mean", None, persistent=False)
        self.register_buffer("speaker_embedding_std", None, persistent=False)
        self.register_buffer("speaker_classifier_weight", None, persistent=False)
        self.register_buffer("speaker_classifier_bias", None, persistent=False)
        self.register_buffer("speaker_functionals_weight", None, persistent=False)
        self.register_buffer("speaker_functionals_bias", None, persistent=False)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> TFTSequenceClassifierOutput:
        r"""
        input_features (`torch.FloatTensor` of shape `(batch, frames, num_input_features)`):
            Log-mel features (and prosody contours) from [`TFTFeatureExtractor`], of any length.
        labels (`torch.LongTensor` of shape `(batch,)`, *optional*):
            Class indices in `[0, num_labels)`; the loss is the cross-entropy of `self.loss_function` on `logits`
            (training through `run_train.py` puts a loss on each of `head_logits` instead).
        """
        head_logits = None
        if self._in_windows(input_features):
            self._check_no_layer_outputs(kwargs, input_features.shape[1])
            logits, hidden_states, attentions = self._windowed_logits(input_features, attention_mask), None, None
        else:
            outputs = self.tft(input_features, attention_mask=attention_mask, **kwargs)
            frame_mask = None if self.functionals is None else self.tft.frame_mask(input_features, attention_mask)
            heads = self.head_logits(outputs.pooler_output, input_features, frame_mask)
            logits = self.combine_heads(heads)
            head_logits = heads if self.training and len(heads) > 1 else None
            hidden_states, attentions = outputs.hidden_states, outputs.attentions
        loss = self.loss_function(labels, logits, self.config, **kwargs) if labels is not None else None
        return TFTSequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=hidden_states, attentions=attentions, head_logits=head_logits
        )

    def head_logits(
        self, pooled: torch.Tensor, input_features: torch.Tensor, frame_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, ...]:
        """The Transformer head's logits of the clips' `pooled` embeddings and, with the functionals head, its logits
        of their `input_features` (real frames: `frame_mask`); the model's logits combine them ([`combine_heads`]).
        Both heads are those adjusted to the speaker where one is set (`config.speaker_head_supports`)."""
        logits = self.transformer_logits(pooled)
        if self.functionals is None:
            return (logits,)
        standardised = self.functionals.standardised(input_features[..., self.config.num_mel_bins :], frame_mask)
        return logits, self.functionals_logits(standardised).to(logits.dtype)

    def transformer_logits(self, pooled: torch.Tensor) -> torch.Tensor:
        """The Transformer head's logits of the clips' `pooled` embeddings (adapted to the speaker where one is set:
        [`speaker_shifted`], and with `config.speaker_head_supports` the head adjusted to the speaker)."""
        hidden = self.dropout(self.speaker_shifted(pooled))
        if self.speaker_classifier_weight is None:
            return self.classifier(hidden)
        weight, bias = (t.to(hidden.dtype) for t in (self.speaker_classifier_weight, self.speaker_classifier_bias))
        return nn.functional.linear(hidden, weight, bias)

    def functionals_logits(self, standardised: torch.Tensor) -> torch.Tensor:
        """The functionals head's logits of the clips' standardised functionals ([`functionals_inputs`]; adjusted to
        the speaker where one is set with `config.speaker_head_supports`)."""
        if self.functionals is None:
            raise ValueError("This model has no functionals head (`config.functionals_head` is False).")
        hidden = self.functionals.dropout(standardised)
        if self.speaker_functionals_weight is None:
            return self.functionals.classifier(hidden)
        weight, bias = (t.to(hidden.dtype) for t in (self.speaker_functionals_weight, self.speaker_functionals_bias))
        return nn.functional.linear(hidden, weight, bias)

    def _in_windows(self, input_features: torch.Tensor) -> bool:
        """Whether inputs this long are scored in inference windows (`config.window_frames`)."""
        window = self.config.window_frames
        return window is not None and input_features.shape[1] > window

    def speaker_shifted(self, pooled: torch.Tensor) -> torch.Tensor:
        """`pooled` moved by the training clips' mean embedding minus the speaker's (`config.speaker_embedding_shift`),
        and with `config.speaker_embedding_scale` standardised over the speaker's clips and scaled to the training
        speakers' spread; unchanged while no speaker is set."""
        if self.speaker_embedding_mean is None:
            return pooled
        if self.speaker_embedding_std is None:
            return pooled + (self.embedding_mean - self.speaker_embedding_mean).to(pooled.dtype)
        scale = self.embedding_std / (self.speaker_embedding_std + SPEAKER_STD_EPS)
        return ((pooled - self.speaker_embedding_mean.to(pooled.dtype)) * scale + self.embedding_mean).to(pooled.dtype)

    @torch.no_grad()
    def utterance_embeddings(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """The utterance embeddings `(embeddings, hidden_size)` the Transformer head scores: one per clip, or one
        per inference window of a clip longer than `config.window_frames` ([`windows_per_clip`])."""
        if not self._in_windows(input_features):
            return self.tft(input_features, attention_mask=attention_mask).pooler_output
        windows, masks, _, _ = self._windows(input_features, attention_mask)
        return self._window_embeddings(windows, masks)

    @torch.no_grad()
    def functionals_inputs(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """The functionals head's input, the standardised functionals `(embeddings, NUM_FUNCTIONALS)` of the clips,
        or inference windows, of [`utterance_embeddings`], in the same order; `None` for a model without the head."""
        if self.functionals is None:
            return None
        if not self._in_windows(input_features):
            features, masks = input_features, self.tft.frame_mask(input_features, attention_mask)
        else:
            features, masks, _, _ = self._windows(input_features, attention_mask)
        return self.functionals.standardised(features[..., self.config.num_mel_bins :], masks)

    def windows_per_clip(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """How many of the batch's [`utterance_embeddings`] each clip has `(batch,)`, in order."""
        if not self._in_windows(input_features):
            return torch.ones(len(input_features), dtype=torch.long, device=input_features.device)
        return self._windows(input_features, attention_mask)[2].sum(1)

    def set_training_embeddings(self, embeddings: torch.Tensor, speakers: Sequence | None = None) -> None:
        """Record the training clips' mean utterance embedding from their `utterance_embeddings`, and with
        `config.speaker_embedding_scale` the root mean of the training speakers' variances (`speakers`: each
        embedding's speaker)."""
        self._check_speaker_embedding_shift()
        embeddings = embeddings.float()
        self.embedding_mean.copy_(embeddings.mean(0))
        if not self.config.speaker_embedding_scale:
            return
        if speakers is None or len(speakers) != len(embeddings):
            raise ValueError("`config.speaker_embedding_scale` needs each training embedding's speaker (`speakers`).")
        index = {speaker: i for i, speaker in enumerate(dict.fromkeys(speakers))}
        codes = torch.tensor([index[speaker] for speaker in speakers], device=embeddings.device)
        variances = [embeddings[codes == code].var(0, unbiased=False) for code in range(len(index))]
        self.embedding_std.copy_(torch.stack(variances).mean(0).sqrt())

    def set_speaker_embeddings(
        self, embeddings: torch.Tensor | None, functionals_inputs: torch.Tensor | None = None
    ) -> None:
        """Adapt to one speaker from `embeddings`, the `utterance_embeddings` of their unlabelled clips (with the
        feature extractor adapted to the same clips): their mean, with `config.speaker_embedding_scale` their
        spread (at least `MIN_SPEAKER_EMBEDDINGS` embeddings), and with `config.speaker_head_supports` each head
        adjusted to them ([`speaker_head`]), which for a model with the functionals head needs
        `functionals_inputs`, the [`functionals_inputs`] of the same clips; `None`: unadapted again."""
        self.speaker_classifier_weight = self.speaker_classifier_bias = None
        self.speaker_functionals_weight = self.speaker_functionals_bias = None
        if embeddings is None:
            self.speaker_embedding_mean = self.speaker_embedding_std = None
            return
        self._check_speaker_embedding_shift()
        embeddings = embeddings.float().to(self.embedding_mean.device)
        if self.config.speaker_embedding_scale and len(embeddings) < MIN_SPEAKER_EMBEDDINGS:
            raise ValueError(
                f"`config.speaker_embedding_scale` standardises the speaker's embeddings over their clips and needs at "
                f"least {MIN_SPEAKER_EMBEDDINGS} of them, got {len(embeddings)}."
            )
        self.speaker_embedding_mean = embeddings.mean(0)
        self.speaker_embedding_std = embeddings.std(0, unbiased=False) if self.config.speaker_embedding_scale else None
        if getattr(self.config, "speaker_head_supports", None) is not None:
            transformer, functionals = self.speaker_head(embeddings, functionals_inputs)
            self.speaker_classifier_weight, self.speaker_classifier_bias = transformer
            if functionals is not None:
                self.speaker_functionals_weight, self.speaker_functionals_bias = functionals

    @torch.no_grad()
    def speaker_head(
        self, embeddings: torch.Tensor, functionals_inputs: torch.Tensor | None
    ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor] | None]:
        """T3A (`config.speaker_head_supports`, searches TA1 and TA2): each head's weight and bias adjusted to the
        speaker whose `embeddings` are set. The model adapted to the speaker predicts each embedding (with the
        functionals head, from both heads: `functionals_inputs`, one row per embedding); class j's supports are
        the `speaker_head_supports` embeddings predicted as j with the lowest entropy, and each head's prototypes
        come from them ([`t3a_head`]): in the Transformer head from the embeddings as the head sees them, around
        `embedding_mean`; in the functionals head from the standardised functionals, around 0 (their training
        mean). Returns the Transformer head's (weight, bias) and the functionals head's (None without one)."""
        if self.functionals is not None and (functionals_inputs is None or len(functionals_inputs) != len(embeddings)):
            raise ValueError(
                "`config.speaker_head_supports` adjusts both heads: pass the functionals head's inputs of the same "
                f"clips, one row per embedding (`functionals_inputs`, {len(embeddings)} rows; "
                "`model.functionals_inputs(**inputs)`)."
            )
        x = self.speaker_shifted(embeddings).double()
        weight, bias = self.classifier.weight.double(), self.classifier.bias.double()
        logits = x @ weight.T + bias
        if self.functionals is not None:
            functionals_inputs = functionals_inputs.to(weight.device)
            logits = self.combine_heads((logits, self.functionals.classifier(functionals_inputs).to(logits)))
        probabilities = logits.softmax(-1)
        entropy = -(probabilities * (probabilities + 1e-12).log()).sum(-1)
        order = entropy.argsort(stable=True)  # most confident first
        predicted = nn.functional.one_hot(logits.argmax(-1)[order], len(weight))  # (embeddings, labels)
        rank = (predicted.cumsum(0) * predicted).sum(-1) - 1  # among those predicted as the same class
        supports = (predicted * (rank < self.config.speaker_head_supports)[:, None]).T  # (labels, embeddings)
        dtype = self.classifier.weight.dtype
        transformer = t3a_head(weight, bias, x[order], self.embedding_mean.double(), supports)
        if self.functionals is None:
            return tuple(t.to(dtype) for t in transformer), None
        linear, z = self.functionals.classifier, functionals_inputs.double()[order]
        scaled = (linear.weight * linear.scale).double(), (linear.bias * linear.scale).double()
        functionals = t3a_head(*scaled, z, z.new_zeros(z.shape[-1]), supports)
        return tuple(t.to(dtype) for t in transformer), tuple(t.to(dtype) for t in functionals)

    def set_speaker_embedding_mean(self, embeddings: torch.Tensor | None) -> None:
        """Deprecated name (0.8.0) of [`set_speaker_embeddings`]."""
        warnings.warn("`set_speaker_embedding_mean` is renamed `set_speaker_embeddings`.", FutureWarning, stacklevel=2)
        self.set_speaker_embeddings(embeddings)

    def _check_speaker_embedding_shift(self) -> None:
        if not self.config.speaker_embedding_shift:
            raise ValueError("This model has no training embedding mean (`config.speaker_embedding_shift` is False): "
                             "its embeddings cannot be shifted to a speaker.")  # fmt: skip

    def combine_heads(self, heads: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The model's logits from [`head_logits`]: the Transformer head's plus `config.functionals_weight` times
        the functionals head's."""
        if len(heads) == 1:
            return heads[0]
        transformer, functionals = heads
        return transformer + self.config.functionals_weight * functionals

    def _windowed_logits(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Logits `(batch, labels)` of inputs longer than the inference window, by the rule of the class docstring."""
        windows, masks, valid, window_masks = self._windows(input_features, attention_mask)
        pooled = self._window_embeddings(windows, masks)
        # (windows of the batch, labels): each window scored as a clip
        logits = self.combine_heads(self.head_logits(pooled, windows, masks))
        per_clip = logits.new_zeros(*valid.shape, logits.shape[-1]).index_put(valid.nonzero(as_tuple=True), logits)
        combined = combine_window_logits(per_clip, window_masks.sum(-1)).to(logits.dtype)  # weighted by real frames
        one_window = valid.sum(1, keepdim=True) == 1  # such a clip keeps its own logits
        return torch.where(one_window, per_clip[:, 0], combined)

    def _windows(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """The inference windows of the batch's clips `(windows of the batch, window, features)`, their frame masks,
        and which of each clip's window slots hold one `(batch, windows)`, with every slot's mask."""
        window, hop = self.config.window_frames, self.config.hop_frames
        frame_mask = self.tft.frame_mask(input_features, attention_mask)  # (batch, frames)
        starts, valid = window_starts(frame_mask.sum(1), window, hop)  # (batch, windows)
        frames = starts[..., None] + torch.arange(window, device=starts.device)  # (batch, windows, window)
        rows = torch.arange(len(frames), device=starts.device)[:, None, None]
        window_masks = frame_mask[rows, frames] & valid[..., None]  # (batch, windows, window)
        return input_features[rows, frames][valid], window_masks[valid], valid, window_masks

    def _window_embeddings(self, windows: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """The windows' utterance embeddings, `MAX_WINDOWS_PER_CALL` windows per pass of the backbone."""
        chunks = zip(windows.split(MAX_WINDOWS_PER_CALL), masks.split(MAX_WINDOWS_PER_CALL), strict=True)
        return torch.cat([self.tft(chunk, attention_mask=mask).pooler_output for chunk, mask in chunks])

    def _check_no_layer_outputs(self, kwargs: dict, frames: int) -> None:
        names = ("output_attentions", "output_hidden_states")
        requested = [name for name in names if kwargs.get(name, getattr(self.config, name, False))]
        if requested:
            raise ValueError(
                f"{' and '.join(requested)} describe one pass of the backbone, but an input of {frames} frames is "
                f"scored in windows of config.window_frames={self.config.window_frames}; call `model.tft` on one "
                "window (at most that many frames) for its hidden states and attentions."
            )


@dataclass
class TFTMaskedSpectrogramModelingOutput(ModelOutput):
    """
    Output of [`TFTForMaskedSpectrogramModeling`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            Mean squared error of the reconstruction over the masked real frames (with `mask_time_indices`).
        reconstruction (`torch.FloatTensor` of shape `(batch, frames, num_mel_bins)`):
            The log-mel features predicted from the time tokens, every frame (masked or not).
        masked_frames (`torch.BoolTensor` of shape `(batch, frames)`, *optional*):
            The frames that were masked (hidden from the model) and scored.
    """

    loss: torch.FloatTensor | None = None
    reconstruction: torch.FloatTensor | None = None
    masked_frames: torch.BoolTensor | None = None


class TFTForMaskedSpectrogramModeling(TFTPreTrainedModel):
    """
    TFT with a reconstruction head for self-supervised pre-training on unlabelled speech, the generative objective
    of SSAST (Gong et al., 2022) with SimMIM's input masking: spans of time tokens (`mask_time_indices`) are hidden
    by zeroing their frames in the normalised input, and a linear head predicts each time token's
    `frames_per_time_token` frames from its final hidden state; the loss is the mean squared error over the masked
    real frames. Fine-tune with `TFTForAudioClassification.from_pretrained` on a folder saved from `model.tft`.
    """

    def __init__(self, config: TFTConfig) -> None:
        super().__init__(config)
        if not config.use_time_branch:
            raise ValueError("Masked spectrogram modelling reconstructs frames from the time tokens: it needs "
                             "`use_time_branch=True`.")  # fmt: skip
        self.tft = TFTModel(config)
        self.decoder = nn.Linear(config.hidden_size, config.frames_per_time_token * config.num_mel_bins)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        mask_time_indices: torch.Tensor | None = None,
        **kwargs,
    ) -> TFTMaskedSpectrogramModelingOutput:
        r"""
        input_features (`torch.FloatTensor` of shape `(batch, frames, num_input_features)`):
            Normalised features from [`TFTFeatureExtractor`] (0 is the mean: masked frames are set to it); the mel
            bands are reconstructed.
        mask_time_indices (`torch.BoolTensor` of shape `(batch, time_tokens)`, *optional*):
            Time tokens to hide and reconstruct, `time_tokens = ceil(frames / config.frames_per_time_token)`, e.g.
            from `transformers.models.wav2vec2.modeling_wav2vec2._compute_mask_indices`. Without it nothing is
            masked and no loss is returned.
        """
        batch, frames, _ = input_features.shape
        per_token = self.config.frames_per_time_token
        num_tokens = -(-frames // per_token)  # the time tokens of `frames` frames
        masked_frames = target = None
        if mask_time_indices is not None:
            if mask_time_indices.shape != (batch, num_tokens):
                raise ValueError(
                    f"`mask_time_indices` has shape {tuple(mask_time_indices.shape)}, expected {(batch, num_tokens)} "
                    f"(one entry per {per_token} frames)."
                )
            masked_frames = mask_time_indices.bool().repeat_interleave(per_token, dim=1)[:, :frames]
            if attention_mask is not None:
                masked_frames = masked_frames & attention_mask.bool()
            target = input_features[..., : self.config.num_mel_bins]
            input_features = input_features.masked_fill(masked_frames[..., None], 0.0)
        outputs = self.tft(input_features, attention_mask=attention_mask, **kwargs)
        time_tokens = outputs.last_hidden_state[:, :num_tokens]  # the time stream comes first
        reconstruction = self.decoder(time_tokens).reshape(batch, -1, self.config.num_mel_bins)[:, :frames]
        loss = None
        if masked_frames is not None:
            error = (reconstruction.float() - target.float()).pow(2).mean(-1)  # (batch, frames)
            loss = (error * masked_frames).sum() / masked_frames.sum().clamp(min=1)
        return TFTMaskedSpectrogramModelingOutput(loss=loss, reconstruction=reconstruction, masked_frames=masked_frames)


__all__ = [
    "TFTForAudioClassification",
    "TFTForMaskedSpectrogramModeling",
    "TFTMaskedSpectrogramModelingOutput",
    "TFTModel",
    "TFTModelOutput",
    "TFTPreTrainedModel",
    "combine_window_logits",
    "window_starts",
]

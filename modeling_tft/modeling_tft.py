"""PyTorch Time-Frequency Transformer (TFT) for speech emotion recognition (Wang et al., ICONIP 2023)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchaudio
from torch import nn
from transformers import PreTrainedModel
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import ModelOutput, SequenceClassifierOutput

from .configuration_tft import TFTConfig

try:  # transformers >= 5: init functions that skip weights already loaded from a checkpoint
    from transformers import initialization as init
except ImportError:  # pragma: no cover
    from torch.nn import init


@dataclass
class TFTModelOutput(ModelOutput):
    """
    Output of [`TFTModel`].

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch, time_tokens + frequency_tokens, hidden_size)`):
            Final tokens: the time tokens (if the time branch is on) followed by the frequency tokens; with
            `instance_normalization` the statistics token comes first.
        pooler_output (`torch.FloatTensor` of shape `(batch, hidden_size)`):
            Utterance representation: the mean of each stream's pooled tokens, or (`stream_pooling="joint"`) one
            pooling over the tokens of both streams.
        token_mask (`torch.BoolTensor` of shape `(batch, time_tokens + frequency_tokens)`):
            Which tokens of `last_hidden_state` hold audio (padded time tokens are `False`).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            With `output_hidden_states=True`: the time stream (embeddings, then each Time Transformer layer),
            the frequency stream (likewise; `"conv_segments"` band tokens averaged over the clip's segments), then
            each fusion layer's output (concatenated streams).
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            With `output_attentions=True`: each layer's attention weights `(batch, heads, queries, keys)`, in the
            order of `hidden_states` (a cross-fusion layer gives time→frequency, then frequency→time; a time-query
            layer gives time→both streams; a `"conv_segments"` Frequency Transformer layer gives its band x band
            weights averaged over the clip's segments).
        branch_pooler_outputs (`tuple(torch.FloatTensor)`, *optional*):
            With `config.has_branch_heads`: the time and the frequency branch's tokens before the fusion, each
            mean-pooled to `(batch, hidden_size)`, for the branch heads of [`TFTForAudioClassification`].
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    token_mask: torch.BoolTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    branch_pooler_outputs: tuple[torch.FloatTensor, ...] | None = None


def eager_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, key_mask: torch.Tensor | None, dropout: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference attention with the softmax in float32; returns the output and the weights."""
    scores = torch.matmul(query, key.transpose(-1, -2)) * query.shape[-1] ** -0.5  # (batch, heads, q, k)
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask, torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1, dtype=torch.float32).to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout)
    return torch.matmul(weights, value), weights


class TFTAttention(nn.Module):
    """Multi-head attention of a stream over itself (self-attention) or over another stream (`context`)."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key_value = nn.Linear(config.hidden_size, 2 * config.hidden_size)  # fused key and value projection
        self.output = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(
        self,
        hidden_states: torch.Tensor,
        context: torch.Tensor,
        key_mask: torch.Tensor | None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, num_queries, _ = hidden_states.shape
        query = self.query(hidden_states).view(batch, num_queries, self.num_heads, -1).transpose(1, 2)
        key, value = self.key_value(context).view(batch, context.shape[1], 2, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        # query: (batch, heads, queries, head_dim); key, value: (batch, heads, keys, head_dim)
        mask = key_mask[:, None, None, :] if key_mask is not None else None  # (batch, 1, 1, keys)
        dropout = self.config.attention_probs_dropout_prob if self.training else 0.0
        if output_attentions or self.config._attn_implementation == "eager":
            attended, weights = eager_attention(query, key, value, mask, dropout)
        else:
            attended = nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout)
            weights = None
        attended = attended.transpose(1, 2).reshape(batch, num_queries, -1)  # (batch, queries, hidden)
        return self.output(attended), weights


class GradientReversal(torch.autograd.Function):
    """Identity forward; the backward multiplies the gradient by `-scale` (domain-adversarial training)."""

    @staticmethod
    def forward(ctx, hidden_states: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return hidden_states.view_as(hidden_states)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad_output, None


def drop_path(hidden_states: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero a residual branch for whole samples with probability `rate` (training only), scaling
    the kept ones by `1 / (1 - rate)`."""
    if rate == 0.0 or not training:
        return hidden_states
    keep = hidden_states.new_empty(hidden_states.shape[0], *(1,) * (hidden_states.dim() - 1)).bernoulli_(1.0 - rate)
    return hidden_states * keep / (1.0 - rate)


class TFTMLP(nn.Module):
    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = ACT2FN[config.hidden_act]
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.activation_dropout)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.act(self.fc1(hidden_states))))


class TFTLayer(GradientCheckpointingLayer):
    """Pre-norm Transformer layer; with `cross_attention=True` its queries attend to another stream."""

    def __init__(self, config: TFTConfig, cross_attention: bool = False, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.drop_path_rate = drop_path_rate
        self.norm_attention = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.norm_context = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if cross_attention else None
        self.attention = TFTAttention(config)
        self.norm_mlp = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = TFTMLP(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_mask: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        normed = self.norm_attention(hidden_states)
        keys = self.norm_context(context) if self.norm_context is not None else normed
        attended, weights = self.attention(normed, keys, key_mask, output_attentions)
        hidden_states = hidden_states + drop_path(self.dropout(attended), self.drop_path_rate, self.training)
        mlp = self.dropout(self.mlp(self.norm_mlp(hidden_states)))
        hidden_states = hidden_states + drop_path(mlp, self.drop_path_rate, self.training)
        return hidden_states, weights


class TFTEncoder(nn.Module):
    """A stack of self-attention layers over one token sequence."""

    def __init__(self, config: TFTConfig, num_layers: int, first_depth: int = 0) -> None:
        super().__init__()
        rates = config.layer_drop_path_rates(first_depth, num_layers)
        self.layers = nn.ModuleList([TFTLayer(config, drop_path_rate=rate) for rate in rates])

    def forward(
        self, hidden_states: torch.Tensor, key_mask: torch.Tensor | None, collector: TFTCollector
    ) -> torch.Tensor:
        for layer in self.layers:
            hidden_states, weights = layer(hidden_states, key_mask, output_attentions=collector.attentions is not None)
            collector.add(hidden_states, weights)
        return hidden_states


class TFTCollector:
    """Collects per-layer hidden states and attention weights when the caller asks for them."""

    def __init__(self, output_hidden_states: bool, output_attentions: bool) -> None:
        self.hidden_states: list[torch.Tensor] | None = [] if output_hidden_states else None
        self.attentions: list[torch.Tensor] | None = [] if output_attentions else None

    def add(self, hidden_states: torch.Tensor | None, *weights: torch.Tensor | None) -> None:
        if self.hidden_states is not None and hidden_states is not None:
            self.hidden_states.append(hidden_states)
        if self.attentions is not None:
            self.attentions.extend(w for w in weights if w is not None)


def masked_mean(tokens: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
    """Mean `(batch, ...)` of `tokens` `(batch, tokens, ...)` over the tokens where `token_mask` is set."""
    weights = token_mask.to(tokens.dtype) / token_mask.sum(1, keepdim=True).to(tokens.dtype)
    return torch.einsum("bn,bn...->b...", weights, tokens)


def masked_statistics(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mean and standard deviation over the last axis of `values` where `mask` is set, concatenated."""
    mask = mask.to(values.dtype)
    count = mask.sum(-1).clamp(min=1.0)
    mean = (values * mask).sum(-1) / count
    var = (((values - mean[..., None]) * mask) ** 2).sum(-1) / count
    return torch.cat([mean, torch.sqrt(var + eps)], dim=-1)


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
    real frames; 0 for an absent window) give `(batch, labels)` log-probabilities, in float32 or wider: their
    softmax is the weighted mean of the window probabilities.
    """
    dtype = torch.promote_types(window_logits.dtype, torch.float32)
    log_probabilities = window_logits.to(dtype).log_softmax(-1)
    log_weights = weights.to(dtype).log()  # an absent window: -inf, so it adds nothing
    combined = torch.logsumexp(log_probabilities + log_weights[..., None], dim=1)  # (batch, labels)
    return combined - torch.logsumexp(log_weights, dim=1, keepdim=True)


MAX_WINDOWS_PER_CALL = 256  # inference windows per backbone call: bounds memory on recordings of hours


class TFTConvSubsampling(nn.Module):
    """The `"conv2d"` time tokeniser: 3x3 convolutions over (frames, mel bands), each with stride 2 in both axes
    (log2 of `frames_per_time_token` of them, as Conformer's subsampling), GELU after each, then
    `time_conv_residual_layers` residual 3x3 convolutions at that resolution (x + GELU(conv(x))). With
    `time_conv_deltas`, the spectrogram's deltas (and delta-deltas) are further input channels.

    Padded frames are zeroed after every convolution (output step i is centred on input step 2i), so a clip's
    tokens do not depend on the padding of its batch.
    """

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        channels, bins = config.time_conv_channels, config.num_mel_bins
        num_layers = config.frames_per_time_token.bit_length() - 1  # log2: the config checks it is a power of 2
        self.deltas = config.time_conv_deltas
        self.convolutions = nn.ModuleList(
            nn.Conv2d(1 + self.deltas if i == 0 else channels, channels, 3, stride=2, padding=1)
            for i in range(num_layers)
        )
        self.residual_convolutions = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1) for _ in range(config.time_conv_residual_layers)
        )
        self.act = ACT2FN[config.hidden_act]
        for _ in range(num_layers):
            bins = -(-bins // 2)
        self.output_size = channels * bins

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(batch, frames, mel)` -> token inputs `(batch, tokens, channels * reduced bands)` and the token mask."""
        hidden, mask = self._channels(features, frame_mask), frame_mask  # (batch, 1 + deltas, frames, mel)
        for convolution in self.convolutions:
            mask = mask[:, ::2]
            hidden = self.act(convolution(hidden)) * mask[:, None, :, None].to(hidden.dtype)
        for convolution in self.residual_convolutions:  # same resolution: x + GELU(conv(x)), padding zeroed again
            hidden = hidden + self.act(convolution(hidden)) * mask[:, None, :, None].to(hidden.dtype)
        return hidden.transpose(1, 2).flatten(2), mask  # (batch, tokens, channels * bands)

    def _channels(self, features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """The stem's input `(batch, 1 + deltas, frames, mel)`: the features, then their derivatives over time, each
        clip's last real frame repeated into its padding before each derivative (as `compute_deltas` repeats a lone
        clip's edges)."""
        if not self.deltas:
            return features[:, None]
        last = frame_mask.sum(1, keepdim=True).clamp(min=1) - 1  # (batch, 1)
        index = torch.arange(features.shape[1], device=features.device)[None].clamp(max=last)  # (batch, frames)
        index = index[..., None].expand_as(features)  # each padded frame reads its clip's last real frame
        channels, current = [features], features
        for _ in range(self.deltas):
            current = torchaudio.functional.compute_deltas(current.gather(1, index).transpose(1, 2)).transpose(1, 2)
            channels.append(current * frame_mask[..., None].to(features.dtype))
        return torch.stack(channels, 1)


class TFTPositionConvolution(nn.Conv1d):
    """The depthwise convolution of the `"convolutional"` time positions (its own class for `_init_weights`)."""


class TFTTimeEmbeddings(nn.Module):
    """Frame tokens: each group of `frames_per_time_token` frames (all mel bands) becomes one token, by one `Linear`
    over the group (`"linear"`) or through convolutions over time and frequency (`"conv2d"`, `TFTConvSubsampling`).

    Position information is a learned absolute table (`"absolute"`, fixed length) or a depthwise convolution
    over neighbouring tokens added to them (`"convolutional"`, any length; padded tokens are zeroed first, so a
    clip's tokens do not depend on padding).
    """

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.frames_per_token = config.frames_per_time_token
        self.subsampling = TFTConvSubsampling(config) if config.time_embedding == "conv2d" else None
        linear_size = config.frames_per_time_token * config.num_mel_bins  # the flattened frames of a token
        token_size = self.subsampling.output_size if self.subsampling else linear_size
        self.projection = nn.Linear(token_size, config.hidden_size)
        if config.time_position_embedding == "absolute":
            self.position_embeddings = nn.Parameter(torch.zeros(1, config.num_time_tokens, config.hidden_size))
            self.position_conv = None
        else:
            self.position_embeddings = None
            kernel = config.position_kernel_size
            self.position_conv = TFTPositionConvolution(
                config.hidden_size, config.hidden_size, kernel, padding=kernel // 2, groups=config.hidden_size
            )
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        features: torch.Tensor,
        frame_mask: torch.Tensor,
        stem: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`stem`: the conv2d subsampling's output for these features, when the caller has already computed it."""
        if self.subsampling is not None:
            # (batch, tokens, channels * bands)
            tokens, token_mask = stem if stem is not None else self.subsampling(features, frame_mask)
        else:
            batch, frames, mel = features.shape
            pad = -frames % self.frames_per_token
            features = nn.functional.pad(features, (0, 0, 0, pad))  # (batch, tokens * frames_per_token, mel)
            tokens = features.reshape(batch, -1, self.frames_per_token * mel)  # (batch, tokens, frames_per_token * mel)
            token_mask = frame_mask[:, :: self.frames_per_token]  # a token holds audio if its first frame does
        embeddings = self.projection(tokens)
        if self.position_conv is None:
            embeddings = embeddings + self.position_embeddings[:, : tokens.shape[1]]
        else:
            embeddings = embeddings * token_mask[..., None].to(embeddings.dtype)
            positions = self.position_conv(embeddings.transpose(1, 2)).transpose(1, 2)  # (batch, tokens, hidden)
            embeddings = embeddings + nn.functional.gelu(positions)
        return self.dropout(embeddings), token_mask


class TFTFrequencyEmbeddings(nn.Module):
    """Band tokens: the trajectory over all `max_frames` frames of `bins_per_frequency_token` mel bands."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.max_frames = config.max_frames
        self.bins_per_token = config.bins_per_frequency_token
        self.projection = nn.Linear(config.bins_per_frequency_token * config.max_frames, config.hidden_size)
        self.position_embeddings = nn.Parameter(torch.zeros(1, config.num_frequency_tokens, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        batch, frames, mel = features.shape
        features = nn.functional.pad(features, (0, 0, 0, self.max_frames - frames))  # (batch, max_frames, mel)
        bands = features.view(batch, self.max_frames, mel // self.bins_per_token, self.bins_per_token)
        bands = bands.permute(0, 2, 3, 1).reshape(batch, mel // self.bins_per_token, -1)  # (batch, tokens, bins*T)
        return self.dropout(self.projection(bands) + self.position_embeddings)


class TFTConvStatisticsFrequencyEmbeddings(nn.Module):
    """Band tokens from local patterns inside each band: two convolutions along time (the first with stride 2,
    20 ms), shared by all bands, then the mean and standard deviation of their channels over the clip's real
    frames (statistics pooling).

    Shift-invariant and length-free; padded frames are zeroed after every convolution, so they never leak in.
    """

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.bins_per_token = config.bins_per_frequency_token
        channels, kernel = config.frequency_conv_channels, config.frequency_conv_kernel_size
        self.conv1 = nn.Conv1d(config.bins_per_frequency_token, channels, kernel, stride=2, padding=kernel // 2)
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding=kernel // 2)
        self.act = ACT2FN[config.hidden_act]
        self.band_statistics = config.frequency_band_statistics
        raw = 2 * config.bins_per_frequency_token if self.band_statistics else 0  # each bin's mean and std
        self.projection = nn.Linear(2 * channels + raw, config.hidden_size)
        self.position_embeddings = nn.Parameter(torch.zeros(1, config.num_frequency_tokens, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        batch, frames, mel = features.shape
        num_bands = mel // self.bins_per_token
        bands, hidden, mask = self._convolve(features, frame_mask)
        statistics = masked_statistics(hidden, mask).view(batch, num_bands, -1)  # (batch, bands, 2 * channels)
        if self.band_statistics:  # the bins' own mean and std over the real frames, as the statistics floor reads
            raw = masked_statistics(bands, frame_mask[:, None, None].expand(batch, num_bands, 1, frames).flatten(0, 1))
            statistics = torch.cat([statistics, raw.view(batch, num_bands, -1)], dim=-1)
        return self.dropout(self.projection(statistics) + self.position_embeddings)

    def _convolve(
        self, features: torch.Tensor, frame_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The bands `(batch * bands, bins, frames)`, the convolutions' output `(batch * bands, channels, steps)`
        (zero at padded steps) and the mask of real steps `(batch * bands, 1, steps)`."""
        batch, frames, mel = features.shape
        num_bands = mel // self.bins_per_token
        bands = features.view(batch, frames, num_bands, self.bins_per_token).permute(0, 2, 3, 1)
        bands = bands.reshape(batch * num_bands, self.bins_per_token, frames)
        mask = frame_mask[:, None, None, ::2].expand(batch, num_bands, 1, -1).reshape(batch * num_bands, 1, -1)
        mask = mask.to(features.dtype)  # output step i of the strided convolution is centred on frame 2i
        hidden = self.act(self.conv1(bands)) * mask
        return bands, self.act(self.conv2(hidden)) * mask, mask


class TFTConvSegmentsFrequencyEmbeddings(TFTConvStatisticsFrequencyEmbeddings):
    """Band x time-segment patch tokens: the band convolutions of `TFTConvStatisticsFrequencyEmbeddings`, with the
    statistics pooling done inside each `frequency_segment_frames`-frame segment, so one token per band and segment.

    Returns the tokens `(batch, segments, bands, hidden)` and the mask of segments holding audio `(batch, segments)`.
    """

    def __init__(self, config: TFTConfig) -> None:
        super().__init__(config)
        self.segment_frames = config.frequency_segment_frames

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, _, mel = features.shape
        num_bands, segment_steps = mel // self.bins_per_token, self.segment_frames // 2
        _, hidden, mask = self._convolve(features, frame_mask)
        num_segments = -(-hidden.shape[-1] // segment_steps)
        pad = num_segments * segment_steps - hidden.shape[-1]
        # (batch * bands, segments, channels or 1, steps per segment): statistics over each segment's real steps
        hidden, mask = (
            nn.functional.pad(x, (0, pad)).unflatten(-1, (num_segments, -1)).transpose(1, 2) for x in (hidden, mask)
        )
        statistics = masked_statistics(hidden, mask).view(batch, num_bands, num_segments, -1).transpose(1, 2)
        tokens = self.projection(statistics) + self.position_embeddings[:, None]  # band positions, every segment
        return self.dropout(tokens), frame_mask[:, :: self.segment_frames]  # segment k: from frame k * segment_frames


class TFTSharedStemFrequencyEmbeddings(nn.Module):
    """Band tokens read off the time branch's conv2d stem (`TFTConvSubsampling`): each of its reduced bands (one per
    `bins_per_frequency_token` mel bins) becomes a token from the mean and standard deviation of its channels over
    the clip's real token steps. The two streams then look at one feature map along its two axes, and the
    frequency stream adds no convolution of its own. A frequency-only model (`use_time_branch=False`) owns the stem.
    """

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.subsampling = None if config.use_time_branch else TFTConvSubsampling(config)
        self.channels = config.time_conv_channels
        self.projection = nn.Linear(2 * config.time_conv_channels, config.hidden_size)
        self.position_embeddings = nn.Parameter(torch.zeros(1, config.num_frequency_tokens, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, stem: torch.Tensor, stem_mask: torch.Tensor) -> torch.Tensor:
        """The stem's output `(batch, steps, channels * bands)` and its step mask -> `(batch, bands, hidden)`."""
        hidden = stem.unflatten(2, (self.channels, -1)).permute(0, 3, 2, 1)  # (batch, bands, channels, steps)
        statistics = masked_statistics(hidden, stem_mask[:, None, None])  # (batch, bands, 2 * channels)
        return self.dropout(self.projection(statistics) + self.position_embeddings)


class TFTConv2dStatisticsFrequencyEmbeddings(nn.Module):
    """Band tokens from local time-frequency patterns: as `TFTConvStatisticsFrequencyEmbeddings`, but both
    convolutions also span the neighbouring bands (kernel `(frequency_conv_kernel_size, 2 * bins - 1)` in frames x
    mel bins; the first strides 2 frames and `bins_per_frequency_token` bins, so its output has one row per band
    token), then the mean and standard deviation of each band row's channels over the clip's real frames."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        bins, channels = config.bins_per_frequency_token, config.frequency_conv_channels
        kernel = config.frequency_conv_kernel_size
        span = 2 * bins - 1  # the band's own bins and its neighbours' nearest
        self.conv1 = nn.Conv2d(1, channels, (kernel, span), stride=(2, bins), padding=(kernel // 2, bins - 1))
        self.conv2 = nn.Conv2d(channels, channels, (kernel, 3), padding=(kernel // 2, 1))
        self.act = ACT2FN[config.hidden_act]
        self.projection = nn.Linear(2 * channels, config.hidden_size)
        self.position_embeddings = nn.Parameter(torch.zeros(1, config.num_frequency_tokens, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        mask = frame_mask[:, None, ::2, None].to(features.dtype)  # (batch, 1, steps, 1): step i is centred on frame 2i
        hidden = self.act(self.conv1(features[:, None])) * mask  # (batch, channels, steps, bands)
        hidden = self.act(self.conv2(hidden)) * mask
        step_mask = frame_mask[:, None, None, ::2]  # (batch, 1, 1, steps)
        statistics = masked_statistics(hidden.permute(0, 3, 1, 2), step_mask)  # (batch, bands, 2 * channels)
        return self.dropout(self.projection(statistics) + self.position_embeddings)


FREQUENCY_EMBEDDING_CLASSES = {
    "trajectory": TFTFrequencyEmbeddings,
    "conv_statistics": TFTConvStatisticsFrequencyEmbeddings,
    "conv2d_statistics": TFTConv2dStatisticsFrequencyEmbeddings,
    "conv_segments": TFTConvSegmentsFrequencyEmbeddings,
    "shared_stem": TFTSharedStemFrequencyEmbeddings,
}


class TFTStatisticsEmbedding(nn.Module):
    """The statistics token of `instance_normalization`: the clip's per-band mean and standard deviation (of the
    features as they come in), projected to one token."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.projection = nn.Linear(2 * config.num_mel_bins, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The features standardised per clip and band over the real frames (padding stays zero), and the
        statistics token `(batch, 1, hidden)`."""
        statistics = masked_statistics(features.transpose(1, 2), frame_mask[:, None])  # (batch, 2 * mel)
        mean, std = statistics[:, None].chunk(2, dim=-1)  # (batch, 1, mel) each
        normalized = (features - mean) / std * frame_mask[..., None].to(features.dtype)
        return normalized, self.dropout(self.projection(statistics))[:, None]


class TFTCrossFusionLayer(nn.Module):
    """Time tokens attend to frequency tokens and frequency tokens to time tokens, each with its own MLP."""

    def __init__(self, config: TFTConfig, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.time = TFTLayer(config, cross_attention=True, drop_path_rate=drop_path_rate)
        self.frequency = TFTLayer(config, cross_attention=True, drop_path_rate=drop_path_rate)

    def forward(
        self, time: torch.Tensor, frequency: torch.Tensor, masks: tuple[torch.Tensor, ...], collector: TFTCollector
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One cross layer; `masks` are the time and the frequency tokens' masks."""
        time_mask, frequency_mask = masks
        output_attentions = collector.attentions is not None
        new_time, time_weights = self.time(time, frequency_mask, frequency, output_attentions)
        new_frequency, frequency_weights = self.frequency(frequency, time_mask, time, output_attentions)
        collector.add(torch.cat([new_time, new_frequency], dim=1), time_weights, frequency_weights)
        return new_time, new_frequency


class TFTFusion(nn.Module):
    """The Time-Frequency Transformer: mines correlations between the time and frequency token streams."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.fusion_type = config.fusion_type
        first_depth = config.num_branch_layers  # the fusion follows both branches
        rates = config.layer_drop_path_rates(first_depth, config.num_fusion_layers)
        self.type_embeddings = None  # time, frequency: where both streams share a key sequence
        if config.fusion_type != "cross":
            self.type_embeddings = nn.Parameter(torch.zeros(2, config.hidden_size))
        if config.fusion_type == "joint":
            self.encoder = TFTEncoder(config, config.num_fusion_layers, first_depth)
        elif config.fusion_type == "time_query":
            layers = [TFTLayer(config, cross_attention=True, drop_path_rate=rate) for rate in rates]
            self.layers = nn.ModuleList(layers)
        else:
            self.layers = nn.ModuleList([TFTCrossFusionLayer(config, rate) for rate in rates])
        # time, frequency; zero at initialisation (`_init_weights`): the fused streams start as the input streams
        self.gate = nn.Parameter(torch.zeros(2, config.hidden_size)) if config.fusion_gate else None

    def forward(
        self,
        time: torch.Tensor,
        frequency: torch.Tensor,
        time_mask: torch.Tensor,
        frequency_mask: torch.Tensor,
        collector: TFTCollector,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        fused_time, fused_frequency = self._fuse(time, frequency, (time_mask, frequency_mask), collector)
        if self.gate is None:
            return fused_time, fused_frequency
        return time + self.gate[0] * (fused_time - time), frequency + self.gate[1] * (fused_frequency - frequency)

    def _fuse(
        self, time: torch.Tensor, frequency: torch.Tensor, masks: tuple[torch.Tensor, ...], collector: TFTCollector
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.fusion_type == "cross":
            for layer in self.layers:
                time, frequency = layer(time, frequency, masks, collector)
            return time, frequency
        time_mask, frequency_mask = masks
        if self.fusion_type == "time_query":  # the time tokens query both streams; the band tokens pass unchanged
            key_mask, bands = torch.cat([time_mask, frequency_mask], dim=1), frequency + self.type_embeddings[1]
            time = time + self.type_embeddings[0]
            for layer in self.layers:
                context = torch.cat([time, bands], dim=1)
                time, weights = layer(time, key_mask, context, output_attentions=collector.attentions is not None)
                collector.add(torch.cat([time, frequency], dim=1), weights)
            return time, frequency
        tokens = torch.cat([time + self.type_embeddings[0], frequency + self.type_embeddings[1]], dim=1)
        tokens = self.encoder(tokens, torch.cat([time_mask, frequency_mask], dim=1), collector)
        return tokens.split([time.shape[1], frequency.shape[1]], dim=1)


class TFTPooler(nn.Module):
    """Pools one token stream into a vector: masked mean, attentive pooling (softmax of a learned score per
    token), or statistics pooling (masked mean and standard deviation, projected back to `hidden_size`)."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.pooling = config.pooling
        # no bias: the softmax over tokens ignores a shift shared by every score
        self.score = nn.Linear(config.hidden_size, 1, bias=False) if config.pooling == "attention" else None
        statistics = config.pooling == "statistics"
        self.projection = nn.Linear(2 * config.hidden_size, config.hidden_size) if statistics else None

    def forward(self, tokens: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "statistics":
            return self.projection(masked_statistics(tokens.transpose(1, 2), token_mask[:, None]))  # (batch, hidden)
        if self.pooling == "mean":
            return masked_mean(tokens, token_mask)
        scores = self.score(tokens).squeeze(-1).float()  # float32: the score may be bf16 under autocast
        weights = scores.masked_fill(~token_mask, torch.finfo(scores.dtype).min).softmax(dim=-1).to(tokens.dtype)
        return torch.einsum("bn,bnd->bd", weights, tokens)  # (batch, hidden)


class TFTBandFlatten(nn.Module):
    """The frequency stream as one vector that keeps each band's place: every band token is reduced to
    `frequency_flatten_size` values, and their band-ordered concatenation is projected to `hidden_size`."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.reduce = nn.Linear(config.hidden_size, config.frequency_flatten_size)
        self.projection = nn.Linear(config.num_frequency_tokens * config.frequency_flatten_size, config.hidden_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.projection(self.reduce(tokens).flatten(1))  # (batch, bands, hidden) -> (batch, hidden)


class TFTPreTrainedModel(PreTrainedModel):
    config_class = TFTConfig
    config: TFTConfig
    base_model_prefix = "tft"
    main_input_name = "input_features"
    input_modalities = "audio"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _no_split_modules = ["TFTLayer"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        embeddings = (TFTTimeEmbeddings, *FREQUENCY_EMBEDDING_CLASSES.values())  # each has `position_embeddings`
        if isinstance(module, TFTConvStatisticsFrequencyEmbeddings) and self.config.frequency_conv_init == "kaiming":
            for convolution in (module.conv1, module.conv2):  # children are initialised first: this replaces it
                init.kaiming_normal_(convolution.weight)
        if isinstance(module, TFTPositionConvolution) and self.config.position_conv_init == "wav2vec2":
            init.normal_(module.weight, std=2.0 / module.kernel_size[0] ** 0.5)  # 2 / sqrt(fan-in), depthwise
        if isinstance(module, embeddings) and module.position_embeddings is not None:
            init.trunc_normal_(module.position_embeddings, std=self.config.initializer_range)
        elif isinstance(module, nn.Conv2d):  # the conv2d tokenisers: He init, as wav2vec 2.0's feature encoder
            init.kaiming_normal_(module.weight)
        elif isinstance(module, TFTFusion):
            if module.type_embeddings is not None:
                init.trunc_normal_(module.type_embeddings, std=self.config.initializer_range)
            if module.gate is not None:
                init.zeros_(module.gate)


class TFTModel(TFTPreTrainedModel):
    """The TFT backbone: Time Transformer, Frequency Transformer and Time-Frequency Transformer."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__(config)
        if config.use_time_branch:
            self.time_embeddings = TFTTimeEmbeddings(config)
            self.time_encoder = TFTEncoder(config, config.num_time_layers)
        if config.use_frequency_branch:
            self.frequency_embeddings = FREQUENCY_EMBEDDING_CLASSES[config.frequency_embedding](config)
            self.frequency_encoder = TFTEncoder(config, config.num_frequency_layers)
        self.statistics_embedding = TFTStatisticsEmbedding(config) if config.instance_normalization else None
        self.fusion = TFTFusion(config) if config.use_fusion else None
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        flatten = config.use_frequency_branch and config.frequency_pooling == "flatten"
        self.band_flatten = TFTBandFlatten(config) if flatten else None
        self.pooler = TFTPooler(config) if config.use_time_branch or not flatten else None  # pools the tokens
        self.post_init()

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> TFTModelOutput | tuple[torch.Tensor, ...]:
        r"""
        input_features (`torch.FloatTensor` of shape `(batch, frames, num_mel_bins)`):
            Log-mel features from [`TFTFeatureExtractor`]; any length, or at most `config.max_frames` frames
            with a fixed-length component (`config.fixed_length`). The backbone encodes its input in one piece:
            [`TFTForAudioClassification`] is what cuts longer inputs into inference windows.
        attention_mask (`torch.LongTensor` of shape `(batch, frames)`, *optional*):
            1 for real frames, 0 for padding (at the end). Padded frames never influence the output.
        """
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        frame_mask = self._frame_mask(input_features, attention_mask)
        if self.config.fixed_length and input_features.shape[1] > self.config.max_frames:
            raise ValueError(
                f"`input_features` has {input_features.shape[1]} frames, more than config.max_frames="
                f"{self.config.max_frames}, which a fixed-length backbone takes at most; TFTForAudioClassification "
                "scores longer inputs in windows (config.inference_window_frames)."
            )
        features = input_features * frame_mask[..., None].to(input_features.dtype)  # (batch, frames, mel)
        collector = TFTCollector(output_hidden_states, output_attentions)
        statistics = None
        if self.statistics_embedding is not None:
            features, statistics = self.statistics_embedding(features, frame_mask)  # statistics: (batch, 1, hidden)

        stem = None
        if self.config.use_frequency_branch and self.config.frequency_embedding == "shared_stem":
            owner = self.time_embeddings if self.config.use_time_branch else self.frequency_embeddings
            stem = owner.subsampling(features, frame_mask)  # both streams read this one feature map
        streams, masks = [], []
        if self.config.use_time_branch:
            time, time_mask = self.time_embeddings(features, frame_mask, stem)  # (batch, time_tokens, hidden)
            if statistics is not None:
                time = torch.cat([statistics, time], 1)
                time_mask = torch.cat([time_mask.new_ones(time_mask.shape[0], 1), time_mask], 1)
            collector.add(time)
            streams.append(self.time_encoder(time, time_mask, collector))
            masks.append(time_mask)
        if self.config.use_frequency_branch:
            frequency, frequency_mask = self._frequency_stream(features, frame_mask, statistics, collector, stem)
            streams.append(frequency)  # (batch, frequency_tokens, hidden)
            masks.append(frequency_mask)
        branch_pooled = None
        if self.config.has_branch_heads:  # each branch's own utterance vector, before the fusion mixes them
            branch_pooled = tuple(masked_mean(stream, mask) for stream, mask in zip(streams, masks, strict=True))
        if self.fusion is not None:
            streams = list(self.fusion(streams[0], streams[1], masks[0], masks[1], collector))

        streams = [self.layernorm(stream) for stream in streams]
        tokens, token_mask = torch.cat(streams, dim=1), torch.cat(masks, dim=1)
        pooled = self._pool(streams, masks, tokens, token_mask)
        output = TFTModelOutput(
            last_hidden_state=tokens,
            pooler_output=pooled,
            token_mask=token_mask,
            hidden_states=tuple(collector.hidden_states) if output_hidden_states else None,
            attentions=tuple(collector.attentions) if output_attentions else None,
            branch_pooler_outputs=branch_pooled,
        )
        return output if return_dict else output.to_tuple()

    def _frequency_stream(
        self,
        features: torch.Tensor,
        frame_mask: torch.Tensor,
        statistics: torch.Tensor | None,
        collector: TFTCollector,
        stem: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The Frequency Transformer's tokens `(batch, frequency_tokens, hidden)` and which of them hold audio; the
        statistics token (if any) leads them in a frequency-only model. `stem`: the conv2d stem's output, which
        `"shared_stem"` band tokens are read from."""
        statistics = statistics if not self.config.use_time_branch else None
        if self.config.frequency_embedding != "conv_segments":
            inputs = stem if stem is not None else (features, frame_mask)
            frequency = self.frequency_embeddings(*inputs)  # (batch, frequency_tokens, hidden)
            if statistics is not None:
                frequency = torch.cat([statistics, frequency], 1)
            collector.add(frequency)
            return self.frequency_encoder(frequency, None, collector), frame_mask.new_ones(frequency.shape[:2])
        # axial: attention across the bands of each segment, then each band averaged over the clip's real segments
        tokens, segment_mask = self.frequency_embeddings(features, frame_mask)  # (batch, segments, bands, hidden)
        batch, num_segments = segment_mask.shape
        if statistics is not None:
            tokens = torch.cat([statistics[:, None].expand(-1, num_segments, -1, -1), tokens], 2)
        segments = TFTCollector(collector.hidden_states is not None, collector.attentions is not None)
        segments.add(tokens.flatten(0, 1))
        encoded = self.frequency_encoder(tokens.flatten(0, 1), None, segments)

        def segment_mean(values: torch.Tensor) -> torch.Tensor:  # (batch * segments, ...) -> (batch, ...)
            return masked_mean(values.unflatten(0, (batch, num_segments)), segment_mask)

        def stream(values: torch.Tensor) -> torch.Tensor:  # (batch * segments, bands, hidden) -> the stream's tokens
            if self.config.frequency_segment_pooling == "mean":
                return segment_mean(values)
            return values.unflatten(0, (batch, num_segments)).flatten(1, 2)  # every band x segment, segment-major

        for hidden_states in segments.hidden_states or ():
            collector.add(stream(hidden_states))
        for attention in segments.attentions or ():
            collector.add(None, segment_mean(attention))
        if self.config.frequency_segment_pooling == "mean":
            token_mask = frame_mask.new_ones(batch, encoded.shape[1])
        else:
            token_mask = segment_mask[:, :, None].expand(-1, -1, encoded.shape[1]).flatten(1)
        return stream(encoded), token_mask

    def _pool(
        self, streams: list[torch.Tensor], masks: list[torch.Tensor], tokens: torch.Tensor, token_mask: torch.Tensor
    ) -> torch.Tensor:
        """The utterance vector `(batch, hidden)` from the normalised streams (time first, then frequency) and their
        concatenation `tokens`."""
        band_vector = None
        if self.band_flatten is not None:  # the frequency stream (the last) keeps its band order
            band_vector, streams, masks = self.band_flatten(streams[-1]), streams[:-1], masks[:-1]
            if not streams:
                return band_vector
            tokens, token_mask = streams[0], masks[0]  # the time stream is what the pooler still sees
        if self.config.stream_pooling == "joint":
            pooled = self.pooler(tokens, token_mask)  # one pooling over the tokens of every stream
        else:
            pooled = torch.stack([self.pooler(s, m) for s, m in zip(streams, masks, strict=True)]).mean(0)
        return pooled if band_vector is None else (pooled + band_vector) / 2

    def _frame_mask(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Validate the input's shape and return a `(batch, frames)` boolean mask of real frames."""
        if input_features.dim() != 3 or input_features.shape[-1] != self.config.num_mel_bins:
            raise ValueError(
                f"`input_features` must have shape (batch, frames, {self.config.num_mel_bins}), got "
                f"{tuple(input_features.shape)}."
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


class TFTForAudioClassification(TFTPreTrainedModel):
    """
    TFT with a classification head (dropout + linear) on the pooled utterance representation.

    Inputs longer than `config.window_frames` (`inference_window_frames`: by default `max_frames` for a fixed-length
    model, none for a length-free one) are scored in overlapping windows: every `config.hop_frames` frames (default
    half a window), the last moved back to end at the clip's end, all windows of the batch through the backbone
    in batches of `MAX_WINDOWS_PER_CALL`. A clip's logits are then the log of the mean of its windows' softmax
    probabilities, weighted by each window's real frames ([`combine_window_logits`]): `pipeline` reports the mean
    window probabilities. A clip within one window gives the backbone's logits of the whole clip, as without
    windowing; the training crops (`max_frames`) never reach the windowed path.
    """

    def __init__(self, config: TFTConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.tft = TFTModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.branch_classifiers = None  # the heads of the branch losses (`config.branch_loss_weight`)
        if config.has_branch_heads:
            self.branch_classifiers = nn.ModuleList(
                nn.Sequential(
                    nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps),
                    nn.Linear(config.hidden_size, config.num_labels),
                )
                for _ in range(2)
            )
        self.speaker_classifier = None  # the speaker-adversarial head (`config.speaker_adversarial_weight`)
        if config.has_speaker_head:
            self.speaker_classifier = nn.Sequential(
                nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps),
                nn.Linear(config.hidden_size, config.hidden_size),
                ACT2FN[config.hidden_act],
                nn.Linear(config.hidden_size, config.num_speakers),
            )
        self.post_init()

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        speaker_labels: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput | tuple[torch.Tensor, ...]:
        r"""
        input_features (`torch.FloatTensor` of shape `(batch, frames, num_mel_bins)`):
            Log-mel features from [`TFTFeatureExtractor`] of any length; inputs longer than `config.window_frames`
            are scored in windows (see the class docstring).
        labels (`torch.LongTensor` of shape `(batch,)`, or `torch.FloatTensor` `(batch, num_labels)`, *optional*):
            Class indices in `[0, num_labels)`, or class probabilities (e.g. from mixup); the loss is cross-entropy
            with `config.class_weights` and `config.label_smoothing`.
        speaker_labels (`torch.LongTensor` `(batch,)` or `torch.FloatTensor` `(batch, num_speakers)`, *optional*):
            Training speakers' indices (or mixup's speaker probabilities) for the speaker-adversarial loss
            (`config.speaker_adversarial_weight`); used in training mode only, with `labels`.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        window = self.config.window_frames
        if window is not None and input_features.shape[1] > window:
            self._check_no_layer_outputs(output_attentions, output_hidden_states, input_features.shape[1])
            logits, hidden_states, attentions = self._windowed_logits(input_features, attention_mask), None, None
            branch_pooled = pooled = None
        else:
            outputs = self.tft(
                input_features,
                attention_mask=attention_mask,
                output_attentions=output_attentions,
                output_hidden_states=output_hidden_states,
                return_dict=True,
            )
            pooled = outputs.pooler_output
            logits = self.classifier(self.dropout(pooled))
            hidden_states, attentions = outputs.hidden_states, outputs.attentions
            branch_pooled = outputs.branch_pooler_outputs
        loss = self.loss(logits, labels) if labels is not None else None
        if loss is not None and self.training and branch_pooled is not None:  # the branch losses (deep supervision)
            branch_losses = [
                self.loss(head(self.dropout(pooled)), labels)
                for head, pooled in zip(self.branch_classifiers, branch_pooled, strict=True)
            ]
            loss = loss + self.config.branch_loss_weight * torch.stack(branch_losses).mean()
        adversarial = self.speaker_classifier is not None and speaker_labels is not None and pooled is not None
        if loss is not None and self.training and adversarial:  # the head learns speakers, the backbone unlearns them
            reversed_pooled = GradientReversal.apply(pooled, float(self.config.speaker_adversarial_weight))
            speaker_logits = self.speaker_classifier(reversed_pooled).float()
            target = speaker_labels.float() if speaker_labels.is_floating_point() else speaker_labels.view(-1)
            loss = loss + nn.functional.cross_entropy(speaker_logits, target)
        output = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states, attentions=attentions)
        return output if return_dict else output.to_tuple()

    def _windowed_logits(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Logits `(batch, labels)` of inputs longer than the inference window, by the rule of the class docstring."""
        window, hop = self.config.window_frames, self.config.hop_frames
        frame_mask = self.tft._frame_mask(input_features, attention_mask)  # (batch, frames)
        starts, valid = window_starts(frame_mask.sum(1), window, hop)  # (batch, windows)
        frames = starts[..., None] + torch.arange(window, device=starts.device)  # (batch, windows, window)
        rows = torch.arange(len(frames), device=starts.device)[:, None, None]
        window_masks = frame_mask[rows, frames] & valid[..., None]  # (batch, windows, window)
        windows, masks = input_features[rows, frames][valid], window_masks[valid]  # (windows of the batch, window, …)
        chunks = zip(windows.split(MAX_WINDOWS_PER_CALL), masks.split(MAX_WINDOWS_PER_CALL), strict=True)
        pooled = torch.cat([self.tft(chunk, attention_mask=mask).pooler_output for chunk, mask in chunks])
        logits = self.classifier(self.dropout(pooled))  # (windows of the batch, labels)
        per_clip = logits.new_zeros(*valid.shape, logits.shape[-1]).index_put(valid.nonzero(as_tuple=True), logits)
        combined = combine_window_logits(per_clip, window_masks.sum(-1)).to(logits.dtype)  # weighted by real frames
        one_window = valid.sum(1, keepdim=True) == 1  # such a clip keeps its own logits
        return torch.where(one_window, per_clip[:, 0], combined)

    def _check_no_layer_outputs(self, output_attentions: bool | None, output_hidden_states: bool | None, frames: int):
        asked = {"output_attentions": output_attentions, "output_hidden_states": output_hidden_states}
        asked = {name: value if value is not None else getattr(self.config, name) for name, value in asked.items()}
        requested = [name for name, value in asked.items() if value]
        if requested:
            raise ValueError(
                f"{' and '.join(requested)} describe one pass of the backbone, but an input of {frames} frames is "
                f"scored in windows of config.window_frames={self.config.window_frames}; call `model.tft` on one "
                "window (at most that many frames) for its hidden states and attentions."
            )

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy with the configured class weights and label smoothing."""
        return classification_loss(logits, labels, self.config)


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
    by zeroing their frames in the (normalised) input, so the conv2d stem and the band tokens see the zeros too, and a
    linear head predicts each time token's `frames_per_time_token` frames from its final hidden state. The loss is the
    mean squared error over the masked real frames.

    Fine-tune the backbone with `TFTForAudioClassification.from_pretrained(folder)` on a folder saved from
    `model.tft` (the reconstruction head is not part of it; the classification head starts new).
    """

    def __init__(self, config: TFTConfig) -> None:
        super().__init__(config)
        if not config.use_time_branch or config.instance_normalization:
            raise ValueError(
                "Masked spectrogram modelling reconstructs frames from the time tokens: it needs "
                "`use_time_branch=True` and `instance_normalization=False`."
            )
        self.tft = TFTModel(config)
        self.decoder = nn.Linear(config.hidden_size, config.frames_per_time_token * config.num_mel_bins)
        self.post_init()

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        mask_time_indices: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> TFTMaskedSpectrogramModelingOutput | tuple[torch.Tensor, ...]:
        r"""
        input_features (`torch.FloatTensor` of shape `(batch, frames, num_mel_bins)`):
            Normalised log-mel features from [`TFTFeatureExtractor`] (0 is the mean: masked frames are set to it).
        mask_time_indices (`torch.BoolTensor` of shape `(batch, time_tokens)`, *optional*):
            Time tokens to hide and reconstruct, `time_tokens = ceil(frames / config.frames_per_time_token)`, e.g.
            from `transformers.models.wav2vec2.modeling_wav2vec2._compute_mask_indices`. Without it nothing is
            masked and no loss is returned.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        batch, frames, _ = input_features.shape
        per_token = self.config.frames_per_time_token
        num_tokens = -(-frames // per_token)  # the time tokens of `frames` frames
        masked_frames = None
        if mask_time_indices is not None:
            if mask_time_indices.shape != (batch, num_tokens):
                raise ValueError(
                    f"`mask_time_indices` has shape {tuple(mask_time_indices.shape)}, expected {(batch, num_tokens)} "
                    f"(one entry per {per_token} frames)."
                )
            masked_frames = mask_time_indices.bool().repeat_interleave(per_token, dim=1)[:, :frames]
            if attention_mask is not None:
                masked_frames = masked_frames & attention_mask.bool()
            input_features, target = input_features.masked_fill(masked_frames[..., None], 0.0), input_features
        outputs = self.tft(input_features, attention_mask=attention_mask, return_dict=True)
        time_tokens = outputs.last_hidden_state[:, :num_tokens]  # the time stream comes first
        reconstruction = self.decoder(time_tokens).reshape(batch, -1, self.config.num_mel_bins)[:, :frames]
        loss = None
        if masked_frames is not None:
            error = (reconstruction.float() - target.float()).pow(2).mean(-1)  # (batch, frames)
            loss = (error * masked_frames).sum() / masked_frames.sum().clamp(min=1)
        output = TFTMaskedSpectrogramModelingOutput(
            loss=loss, reconstruction=reconstruction, masked_frames=masked_frames
        )
        return output if return_dict else output.to_tuple()


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, config) -> torch.Tensor:
    """Cross-entropy in float32 with `config.class_weights` and `config.label_smoothing` (when the config has them)."""
    class_weights = getattr(config, "class_weights", None)
    weight = None
    if class_weights is not None:
        if len(class_weights) != config.num_labels:
            raise ValueError(
                f"config.class_weights has {len(class_weights)} entries for {config.num_labels} labels; "
                "set new class weights when changing the label set."
            )
        weight = torch.tensor(class_weights, dtype=torch.float32, device=logits.device)
    target = labels.float() if labels.is_floating_point() else labels.view(-1)  # probabilities or class indices
    return nn.functional.cross_entropy(
        logits.float(), target, weight=weight, label_smoothing=getattr(config, "label_smoothing", 0.0)
    )


__all__ = [
    "TFTForAudioClassification",
    "TFTForMaskedSpectrogramModeling",
    "TFTMaskedSpectrogramModelingOutput",
    "TFTModel",
    "TFTModelOutput",
    "TFTPreTrainedModel",
    "classification_loss",
    "combine_window_logits",
    "window_starts",
]

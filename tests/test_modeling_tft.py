import copy

import pytest
import torch
import torchaudio
from conftest import tiny_config_kwargs
from transformers import AutoModelForAudioClassification

from modeling_tft import TFTConfig, TFTForAudioClassification, TFTModel
from modeling_tft.modeling_tft import TFTCollector, TFTConvSubsampling, window_starts

FIRST_DESIGN = {"time_embedding": "linear", "time_position_embedding": "absolute", "frequency_embedding": "trajectory"}
ABLATIONS = {
    "full_joint": {},
    "first_design": FIRST_DESIGN,
    "first_design_cross": {**FIRST_DESIGN, "fusion_type": "cross"},
    "full_cross": {"fusion_type": "cross"},
    "time_query": {"fusion_type": "time_query"},
    "band_statistics": {"frequency_band_statistics": True},
    "mean_pooling": {"pooling": "mean"},
    "statistics_pooling": {"pooling": "statistics"},
    "separate_stream_pooling": {"stream_pooling": "separate"},
    "joint_stream_mean_pooling": {"stream_pooling": "joint", "pooling": "mean"},
    "band_flatten": {"frequency_pooling": "flatten"},
    "band_flatten_separate": {"frequency_pooling": "flatten", "stream_pooling": "separate"},
    "band_flatten_frequency_only": {"frequency_pooling": "flatten", "use_time_branch": False, "use_fusion": False},
    "fusion_gate": {"fusion_gate": True},
    "branch_losses": {"branch_loss_weight": 0.5},
    "instance_normalization": {"instance_normalization": True},
    "instance_normalization_cross": {"instance_normalization": True, "fusion_type": "cross"},
    "instance_normalization_frequency_only": {
        "instance_normalization": True,
        "use_time_branch": False,
        "use_fusion": False,
    },
    "drop_path": {"drop_path_rate": 0.2},
    "drop_path_cross": {"drop_path_rate": 0.2, "fusion_type": "cross"},
    "time_only": {"use_frequency_branch": False, "use_fusion": False},
    "frequency_only": {"use_time_branch": False, "use_fusion": False},
    "no_fusion": {"use_fusion": False},
    "length_free": {"time_position_embedding": "convolutional", "frequency_embedding": "conv_statistics"},
    "length_free_cross": {
        "time_position_embedding": "convolutional",
        "frequency_embedding": "conv_statistics",
        "fusion_type": "cross",
    },
    "conv_frequency_only": {"frequency_embedding": "conv_statistics", "use_time_branch": False, "use_fusion": False},
    "conv_time_only": {"time_position_embedding": "convolutional", "use_frequency_branch": False, "use_fusion": False},
    "linear_time": {"time_embedding": "linear"},  # the J1 design's time tokens (the default before CV5)
    "linear_time_only": {"time_embedding": "linear", "use_frequency_branch": False, "use_fusion": False},
    "conv2d_time": {"time_embedding": "conv2d"},
    "conv2d_time_only": {"time_embedding": "conv2d", "use_frequency_branch": False, "use_fusion": False},
    "conv2d_time_absolute": {"time_embedding": "conv2d", "time_position_embedding": "absolute"},
    "conv2d_both": {"time_embedding": "conv2d", "frequency_embedding": "conv2d_statistics"},
    "conv2d_frequency_only": {
        "frequency_embedding": "conv2d_statistics",
        "use_time_branch": False,
        "use_fusion": False,
    },
    "conv2d_frequency_bins4": {"frequency_embedding": "conv2d_statistics", "bins_per_frequency_token": 4},
    "band_segments": {"frequency_embedding": "conv_segments", "frequency_segment_frames": 16},
    "band_segments_frequency_only": {
        "frequency_embedding": "conv_segments",
        "frequency_segment_frames": 16,
        "use_time_branch": False,
        "use_fusion": False,
    },
    "band_segment_tokens": {
        "frequency_embedding": "conv_segments",
        "frequency_segment_frames": 16,
        "frequency_segment_pooling": "none",
    },
    "band_segment_tokens_cross": {
        "frequency_embedding": "conv_segments",
        "frequency_segment_frames": 16,
        "frequency_segment_pooling": "none",
        "fusion_type": "cross",
    },
    "band_segment_tokens_time_query": {
        "frequency_embedding": "conv_segments",
        "frequency_segment_frames": 16,
        "frequency_segment_pooling": "none",
        "fusion_type": "time_query",
    },
    "band_segment_tokens_frequency_only": {
        "frequency_embedding": "conv_segments",
        "frequency_segment_frames": 16,
        "frequency_segment_pooling": "none",
        "use_time_branch": False,
        "use_fusion": False,
    },
    "band_segments_instance_normalization_frequency_only": {
        "frequency_embedding": "conv_segments",
        "frequency_segment_frames": 16,
        "instance_normalization": True,
        "use_time_branch": False,
        "use_fusion": False,
    },
    "conv2d_residual": {"time_conv_residual_layers": 2},
    "conv2d_deltas": {"time_conv_deltas": 2},
    "shared_stem": {"frequency_embedding": "shared_stem", "bins_per_frequency_token": 4},
    "shared_stem_frequency_only": {
        "frequency_embedding": "shared_stem",
        "bins_per_frequency_token": 4,
        "use_time_branch": False,
        "use_fusion": False,
    },
}
LENGTH_FREE = ABLATIONS["length_free"]


class TFTModelTester:
    """Tiny configs and inputs; expected token counts derived from the config."""

    batch_size = 3

    def __init__(self, **overrides) -> None:
        self.config = TFTConfig(**tiny_config_kwargs(**overrides))

    def inputs(self, frames: tuple[int, ...] = (60, 37, 9)) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(0)
        features = torch.randn(len(frames), max(frames), self.config.num_mel_bins, generator=generator)
        mask = (torch.arange(max(frames))[None, :] < torch.tensor(frames)[:, None]).long()
        return {"input_features": features * mask[..., None], "attention_mask": mask}

    def num_tokens(self) -> int:
        time = self.config.num_time_tokens if self.config.use_time_branch else 0
        frequency = self.config.num_frequency_tokens if self.config.use_frequency_branch else 0
        if self.config.frequency_embedding == "conv_segments" and self.config.frequency_segment_pooling == "none":
            frequency *= -(-self.config.max_frames // self.config.frequency_segment_frames)  # per band and segment
        return time + frequency + int(self.config.instance_normalization)  # the statistics token


@pytest.mark.parametrize("name", ABLATIONS)
def test_every_variant_builds_and_runs(name):
    tester = TFTModelTester(**ABLATIONS[name])
    model = TFTModel(tester.config).eval()
    output = model(**tester.inputs())
    assert output.last_hidden_state.shape == (3, tester.num_tokens(), 32)
    assert output.pooler_output.shape == (3, 32)
    assert output.token_mask.shape == (3, tester.num_tokens())
    logits = TFTForAudioClassification(tester.config).eval()(**tester.inputs()).logits
    assert logits.shape == (3, 3) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name", ABLATIONS)
def test_padding_does_not_change_logits(name):
    tester = TFTModelTester(**ABLATIONS[name])
    model = TFTForAudioClassification(tester.config).eval()
    batch = tester.inputs(frames=(60, 37, 9))
    batched_logits = model(**batch).logits
    for row, frames in enumerate((60, 37, 9)):
        alone = model(input_features=batch["input_features"][row : row + 1, :frames]).logits
        torch.testing.assert_close(alone, batched_logits[row : row + 1], atol=1e-5, rtol=1e-4)
    # garbage in padded frames is ignored too
    noisy = dict(batch, input_features=batch["input_features"] + 100 * (1 - batch["attention_mask"][..., None]))
    torch.testing.assert_close(model(**noisy).logits, batched_logits, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ABLATIONS)
def test_gradient_reaches_every_parameter(name):
    torch.manual_seed(0)  # drop_path variants drop whole branches at random: a fixed draw, not the suite's order
    tester = TFTModelTester(**ABLATIONS[name])
    model = TFTForAudioClassification(tester.config).train()
    if tester.config.fusion_gate:  # a closed gate (its initial value) passes no gradient to the fusion weights
        torch.nn.init.constant_(model.tft.fusion.gate, 0.5)
    model(**tester.inputs(), labels=torch.tensor([0, 1, 2])).loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert missing == []


@pytest.mark.parametrize("fusion_type", ["joint", "cross", "time_query"])
def test_eager_and_sdpa_agree_and_attentions_are_returned(fusion_type):
    tester = TFTModelTester(fusion_type=fusion_type)
    sdpa = TFTForAudioClassification(tester.config).eval()
    eager = AutoModelForAudioClassification.from_config(
        copy.deepcopy(tester.config), attn_implementation="eager"
    ).eval()
    eager.load_state_dict(sdpa.state_dict())
    assert sdpa.config._attn_implementation == "sdpa" and eager.config._attn_implementation == "eager"
    inputs = tester.inputs()
    torch.testing.assert_close(sdpa(**inputs).logits, eager(**inputs).logits, atol=1e-5, rtol=1e-4)
    output = sdpa(**inputs, output_attentions=True, output_hidden_states=True)
    expected_attentions = 2 + (2 if fusion_type == "cross" else 1)  # time, frequency, fusion layer(s)
    assert len(output.attentions) == expected_attentions
    assert output.attentions[0].shape == (3, 4, 15, 15)  # time tokens attend to time tokens
    assert len(output.hidden_states) == 2 + 2 + 1  # embeddings + layer per branch, then the fusion layer
    padded_keys = output.attentions[0][2, :, :, 3:]  # the 9-frame clip has 3 real time tokens
    assert torch.all(padded_keys == 0)
    if fusion_type == "time_query":  # time queries over both streams; the band tokens leave the fusion unchanged
        assert output.attentions[-1].shape == (3, 4, 15, 15 + 8)
        assert torch.all(output.attentions[-1][2, :, :, 3:15] == 0)
        torch.testing.assert_close(output.hidden_states[-1][:, 15:], output.hidden_states[3])


def test_stream_pooling_separate_and_joint():
    tester = TFTModelTester(pooling="mean", stream_pooling="separate")
    inputs = tester.inputs()
    separate_model = TFTModel(tester.config).eval()
    joint_model = TFTModel(TFTConfig(**{**tester.config.to_dict(), "stream_pooling": "joint"})).eval()
    assert joint_model.state_dict().keys() == separate_model.state_dict().keys()  # no parameter is added
    separate, joint = separate_model(**inputs), joint_model(**inputs)
    mask = joint.token_mask[..., None].float()
    torch.testing.assert_close(joint.pooler_output, (joint.last_hidden_state * mask).sum(1) / mask.sum(1))
    time_tokens = separate.token_mask.shape[1] - tester.config.num_frequency_tokens
    means = [
        (tokens * m[..., None]).sum(1) / m.sum(1, keepdim=True)
        for tokens, m in zip(
            separate.last_hidden_state.split([time_tokens, tester.config.num_frequency_tokens], 1),
            separate.token_mask.float().split([time_tokens, tester.config.num_frequency_tokens], 1),
            strict=True,
        )
    ]
    torch.testing.assert_close(separate.pooler_output, (means[0] + means[1]) / 2)
    with pytest.raises(ValueError, match="stream_pooling"):
        TFTConfig(stream_pooling="concat")


def test_band_flatten_keeps_band_order():
    tester = TFTModelTester(frequency_pooling="flatten", pooling="mean")
    model = TFTModel(tester.config).eval()
    output = model(**tester.inputs())
    bands = output.last_hidden_state[:, -tester.config.num_frequency_tokens :]
    band_vector = model.band_flatten(bands)
    time = output.last_hidden_state[:, : -tester.config.num_frequency_tokens]
    mask = output.token_mask[:, : time.shape[1], None].float()
    torch.testing.assert_close(output.pooler_output, ((time * mask).sum(1) / mask.sum(1) + band_vector) / 2)
    swapped = model.band_flatten(bands.flip(1))  # which band holds what changes the vector (mean pooling would not)
    assert not torch.allclose(swapped, band_vector)
    frequency_only = TFTModel(TFTConfig(**tiny_config_kwargs(frequency_pooling="flatten", use_time_branch=False,
                                                             use_fusion=False))).eval()  # fmt: skip
    output = frequency_only(**tester.inputs())
    torch.testing.assert_close(output.pooler_output, frequency_only.band_flatten(output.last_hidden_state))
    assert TFTModel(TFTConfig(**tiny_config_kwargs(frequency_pooling="flatten", use_frequency_branch=False,
                                                   use_fusion=False))).band_flatten is None  # fmt: skip
    with pytest.raises(ValueError, match="frequency_pooling"):
        TFTConfig(frequency_pooling="max")


@pytest.mark.parametrize("fusion_type", ["joint", "cross"])
def test_fusion_gate_starts_as_the_no_fusion_model_and_learns(fusion_type, tmp_path):
    tester = TFTModelTester(fusion_gate=True, fusion_type=fusion_type)
    gated = TFTForAudioClassification(tester.config).eval()
    assert torch.all(gated.tft.fusion.gate == 0)
    no_fusion = TFTForAudioClassification(TFTConfig(**{**tester.config.to_dict(), "use_fusion": False})).eval()
    kept = {k: v for k, v in gated.state_dict().items() if not k.startswith("tft.fusion.")}
    assert no_fusion.load_state_dict(kept, strict=True) is not None
    inputs = tester.inputs()
    torch.testing.assert_close(gated(**inputs).logits, no_fusion(**inputs).logits)
    gated.train()
    gated(**inputs, labels=torch.tensor([0, 1, 2])).loss.backward()
    assert torch.any(gated.tft.fusion.gate.grad != 0)  # the gate opens; then the fusion weights get gradients
    torch.nn.init.constant_(gated.tft.fusion.gate, 0.5)
    gated.save_pretrained(tmp_path)
    loaded = TFTForAudioClassification.from_pretrained(tmp_path)
    assert torch.all(loaded.tft.fusion.gate == 0.5)  # a trained gate is loaded, not re-initialised


@pytest.mark.parametrize("fusion_type", ["joint", "cross"])
def test_drop_path_rises_with_depth_and_acts_in_training_only(fusion_type):
    no_dropout = {"hidden_dropout_prob": 0.0, "activation_dropout": 0.0, "classifier_dropout": 0.0}
    tester = TFTModelTester(drop_path_rate=0.3, fusion_type=fusion_type, **no_dropout)
    model = TFTForAudioClassification(tester.config)
    tft = model.tft
    fusion = tft.fusion.encoder.layers if fusion_type == "joint" else [x.time for x in tft.fusion.layers]
    branch = [layer.drop_path_rate for layer in tft.time_encoder.layers]
    assert branch == [layer.drop_path_rate for layer in tft.frequency_encoder.layers]  # same depth, same rate
    rates = branch + [layer.drop_path_rate for layer in fusion]
    assert rates[0] == 0.0 and rates == sorted(rates) and rates[-1] == pytest.approx(0.3)
    reference = TFTForAudioClassification(TFTConfig(**{**tester.config.to_dict(), "drop_path_rate": 0.0}))
    reference.load_state_dict(model.state_dict(), strict=True)  # no parameter of its own
    inputs = tester.inputs()
    model.eval(), reference.eval()
    torch.testing.assert_close(model(**inputs).logits, reference(**inputs).logits)  # inference is unchanged
    model.train(), reference.train()
    torch.testing.assert_close(reference(**inputs).logits, reference(**inputs).logits)  # nothing else is random
    torch.manual_seed(0)
    dropped = torch.stack([model(**inputs).logits for _ in range(4)])
    assert not torch.allclose(dropped, reference(**inputs).logits.expand_as(dropped))  # branches are dropped
    with pytest.raises(ValueError, match="drop_path_rate"):
        TFTConfig(drop_path_rate=1.0)


@pytest.mark.parametrize("name", ["instance_normalization", "instance_normalization_frequency_only"])
def test_instance_normalization_moves_clip_offsets_into_the_statistics_token(name):
    tester = TFTModelTester(**ABLATIONS[name])
    model = TFTForAudioClassification(tester.config).eval()
    inputs = tester.inputs()
    mask = inputs["attention_mask"][..., None]
    shifted = {**inputs, "input_features": (inputs["input_features"] * 1.7 + torch.randn(16)) * mask}
    assert not torch.allclose(model(**inputs).logits, model(**shifted).logits)  # the token carries level and tilt
    torch.nn.init.zeros_(model.tft.statistics_embedding.projection.weight)
    torch.testing.assert_close(model(**inputs).logits, model(**shifted).logits)  # every other token is blind to them
    with pytest.raises(ValueError, match="instance_normalization"):
        TFTConfig(instance_normalization=True, frequency_pooling="flatten", use_time_branch=False, use_fusion=False)


def test_band_statistics_are_each_bins_mean_and_std_over_real_frames():
    tester = TFTModelTester(frequency_band_statistics=True)
    embeddings = TFTModel(tester.config).eval().frequency_embeddings
    captured = []
    embeddings.projection.register_forward_hook(lambda module, args, output: captured.append(args[0]))
    inputs = tester.inputs()
    embeddings(inputs["input_features"], inputs["attention_mask"].bool())
    raw = captured[0][..., -4:]  # (batch, 8 bands, 2 bins x (mean, std)) after the convolution statistics
    clip = inputs["input_features"][1, :37]  # the 37-frame clip's real frames
    torch.testing.assert_close(raw[1, :, :2], clip.mean(0).view(8, 2))
    torch.testing.assert_close(raw[1, :, 2:], clip.std(0, unbiased=False).view(8, 2), atol=1e-4, rtol=1e-4)


def test_band_segments_pool_each_segment_and_attend_across_bands_inside_it():
    tester = TFTModelTester(frequency_embedding="conv_segments", frequency_segment_frames=16)
    model = TFTModel(tester.config).eval()
    inputs = tester.inputs()  # clips of 60, 37 and 9 frames: 4, 3 and 1 segments of 16 frames
    tokens, segment_mask = model.frequency_embeddings(inputs["input_features"], inputs["attention_mask"].bool())
    assert tokens.shape == (3, 4, 8, 32)
    assert segment_mask.tolist() == [[True] * 4, [True, True, True, False], [True, False, False, False]]
    # a clip of one segment: the same tokens as whole-clip statistics pooling with the same weights
    clip_statistics = TFTModel(TFTConfig(**tiny_config_kwargs(frequency_embedding="conv_statistics")))
    clip_statistics.frequency_embeddings.load_state_dict(model.frequency_embeddings.state_dict())
    short = {name: value[2:, :9] for name, value in inputs.items()}
    expected = clip_statistics.eval().frequency_embeddings(short["input_features"], short["attention_mask"].bool())
    torch.testing.assert_close(tokens[2, 0], expected[0])
    output = model(**inputs, output_attentions=True, output_hidden_states=True)
    # per band: embeddings, then one layer, each averaged over the clip's segments; attention is band x band
    assert [h.shape for h in output.hidden_states[2:4]] == [(3, 8, 32)] * 2
    assert output.attentions[1].shape == (3, 4, 8, 8)  # (batch, heads, bands, bands): across bands only
    torch.testing.assert_close(output.attentions[1].sum(-1), torch.ones(3, 4, 8))
    # the stream is each band's mean over the clip's real segments: the 37-frame clip's padded fourth is left out
    clip = inputs["input_features"][1:2, :37]
    stream = model._frequency_stream(clip, torch.ones(1, 37, dtype=torch.bool), None, TFTCollector(False, False))
    encoded = model.frequency_encoder(tokens[1, :3], None, TFTCollector(False, False))  # (segments, bands, hidden)
    torch.testing.assert_close(stream[0][0], encoded.mean(0))
    with pytest.raises(ValueError, match="frequency_segment_frames"):
        TFTConfig(frequency_embedding="conv_segments", frequency_segment_frames=25)


def test_band_segment_tokens_reach_the_fusion_with_padded_segments_masked():
    tester = TFTModelTester(
        frequency_embedding="conv_segments", frequency_segment_frames=16, frequency_segment_pooling="none"
    )
    output = TFTModel(tester.config).eval()(**tester.inputs())  # clips of 60, 37 and 9 frames
    band_mask = output.token_mask[:, tester.config.num_time_tokens :].view(3, 4, 8)  # (batch, segments, bands)
    assert band_mask.all(-1).tolist() == band_mask.any(-1).tolist()  # a segment's bands are all real or all padding
    assert band_mask.all(-1).sum(1).tolist() == [4, 3, 1]
    with pytest.raises(ValueError, match="one token per band"):
        TFTConfig(frequency_embedding="conv_segments", frequency_segment_pooling="none", frequency_pooling="flatten")


def test_shared_stem_band_tokens_are_statistics_of_the_time_stem():
    tester = TFTModelTester(frequency_embedding="shared_stem", bins_per_frequency_token=4)
    model = TFTModel(tester.config).eval()
    assert not any(isinstance(m, torch.nn.Conv1d | torch.nn.Conv2d) for m in model.frequency_embeddings.modules())
    assert model.frequency_embeddings.position_embeddings.std() > 0.01  # band positions initialised as the others
    inputs = tester.inputs()  # clips of 60, 37 and 9 frames
    stem, stem_mask = model.time_embeddings.subsampling(inputs["input_features"], inputs["attention_mask"].bool())
    hidden = stem[1, : int(stem_mask[1].sum())].view(-1, 32, 4)  # the 37-frame clip: (real steps, channels, bands)
    statistics = torch.cat([hidden.mean(0), hidden.std(0, unbiased=False)]).T  # (bands, 2 * channels)
    embeddings = model.frequency_embeddings
    expected = embeddings.projection(statistics) + embeddings.position_embeddings[0]
    torch.testing.assert_close(embeddings(stem, stem_mask)[1], expected, atol=1e-4, rtol=1e-4)
    frequency_only = TFTModel(TFTConfig(**{**tiny_config_kwargs(), **ABLATIONS["shared_stem_frequency_only"]}))
    assert isinstance(frequency_only.frequency_embeddings.subsampling, TFTConvSubsampling)  # owns the stem
    with pytest.raises(ValueError, match="needs `time_embedding='conv2d'` and `bins_per_frequency_token`"):
        TFTConfig(frequency_embedding="shared_stem", bins_per_frequency_token=2)
    with pytest.raises(ValueError, match="needs `time_embedding='conv2d'`"):
        TFTConfig(frequency_embedding="shared_stem", time_embedding="linear")
    # without a frequency branch there is no band token to read off the stem, so any time tokens will do
    time_only = TFTConfig(
        frequency_embedding="shared_stem", time_embedding="linear", use_frequency_branch=False, use_fusion=False
    )
    assert not hasattr(TFTModel(time_only), "frequency_embeddings")


def test_conv2d_time_tokens_are_local_in_time_and_frequency():
    config = TFTConfig(**tiny_config_kwargs(time_embedding="conv2d"))  # 16 mel bins, 4 frames per token
    subsampling = TFTModel(config).eval().time_embeddings.subsampling
    features, mask = torch.randn(1, 60, 16), torch.ones(1, 60, dtype=torch.bool)
    changed = features.clone()
    changed[0, 30, 12] += 5.0  # one frame, one mel bin
    before, token_mask = subsampling(features, mask)
    after, _ = subsampling(changed, mask)
    assert before.shape == (1, 15, config.time_conv_channels * 4) and token_mask.shape == (1, 15)
    difference = (after - before).abs().view(1, 15, config.time_conv_channels, 4).amax(dim=2)[0]  # (tokens, bands)
    # 3x3 stride-2 layers: output i reads inputs 2i-1..2i+1; frame 30 -> step 15 -> tokens 7, 8; bin 12 -> 6 -> band 3
    assert set(difference.amax(1).nonzero().flatten().tolist()) == {7, 8}
    assert set(difference.amax(0).nonzero().flatten().tolist()) == {3}


@pytest.mark.parametrize("deltas", [1, 2])
def test_conv2d_stem_takes_deltas_of_each_clip_as_channels(deltas):
    config = TFTConfig(**tiny_config_kwargs(time_conv_deltas=deltas))
    subsampling = TFTModel(config).eval().time_embeddings.subsampling
    assert subsampling.convolutions[0].in_channels == 1 + deltas
    features, frames = torch.randn(2, 40, 16), (40, 23)
    mask = torch.arange(40)[None] < torch.tensor(frames)[:, None]
    channels = subsampling._channels(features * mask[..., None], mask)
    assert channels.shape == (2, 1 + deltas, 40, 16)
    for row, length in enumerate(frames):  # each clip's derivatives as torchaudio computes them on the clip alone
        expected = features[row, :length].T
        for order in range(1, deltas + 1):
            expected = torchaudio.functional.compute_deltas(expected)
            torch.testing.assert_close(channels[row, order, :length], expected.T)
        assert not channels[row, :, length:].any()
    with pytest.raises(ValueError, match="time_conv_deltas"):
        TFTConfig(time_conv_deltas=3)
    with pytest.raises(ValueError, match="conv2d"):
        TFTConfig(time_conv_deltas=1, time_embedding="linear")


def test_conv2d_stem_is_he_initialised():
    model = TFTForAudioClassification(TFTConfig(num_labels=4))
    for convolution in model.tft.time_embeddings.subsampling.convolutions:
        expected = (2.0 / convolution.weight[0].numel()) ** 0.5  # kaiming normal, fan in, ReLU gain
        assert abs(convolution.weight.std().item() / expected - 1) < 0.15
        assert not convolution.bias.any()


def test_band_convolution_init_option():
    def band_convolutions(init: str) -> list[torch.nn.Conv1d]:
        embeddings = TFTModel(TFTConfig(frequency_conv_init=init)).frequency_embeddings
        return [embeddings.conv1, embeddings.conv2]

    for convolution in band_convolutions("kaiming"):
        expected = (2.0 / convolution.weight[0].numel()) ** 0.5  # kaiming normal, fan in, ReLU gain
        assert abs(convolution.weight.std().item() / expected - 1) < 0.15
    for convolution in band_convolutions("normal"):  # the default: transformers' normal(initializer_range)
        assert abs(convolution.weight.std().item() / 0.02 - 1) < 0.15
    with pytest.raises(ValueError, match="frequency_conv_init"):
        TFTConfig(frequency_conv_init="xavier")


def test_position_convolution_init_option(tmp_path):
    def position_conv(init: str) -> torch.nn.Conv1d:
        return TFTModel(TFTConfig(position_conv_init=init)).time_embeddings.position_conv

    assert abs(position_conv("wav2vec2").weight.std().item() / (2 / 15**0.5) - 1) < 0.15  # wav2vec 2.0's std
    assert abs(position_conv("normal").weight.std().item() / 0.02 - 1) < 0.15
    with pytest.raises(ValueError, match="position_conv_init"):
        TFTConfig(position_conv_init="kaiming")
    model = TFTForAudioClassification(TFTConfig(num_labels=4, position_conv_init="wav2vec2"))
    model.save_pretrained(tmp_path)
    loaded = TFTForAudioClassification.from_pretrained(tmp_path)  # loaded weights are never re-initialised
    assert torch.equal(loaded.tft.time_embeddings.position_conv.weight, model.tft.time_embeddings.position_conv.weight)


def test_band_convolution_init_never_touches_loaded_weights(tmp_path):
    model = TFTForAudioClassification(TFTConfig(num_labels=4, frequency_conv_init="kaiming"))
    model.save_pretrained(tmp_path)
    loaded = TFTForAudioClassification.from_pretrained(tmp_path)
    for name in ("conv1", "conv2"):
        saved = getattr(model.tft.frequency_embeddings, name).weight
        assert torch.equal(getattr(loaded.tft.frequency_embeddings, name).weight, saved)


def test_activation_dropout_is_the_feed_forward_dropout():
    default = TFTModel(TFTConfig())
    assert {layer.mlp.dropout.p for layer in default.time_encoder.layers} == {0.1}
    TFTConfig().update_from_string("activation_dropout=0.0")  # settable with --config_overrides
    assert TFTConfig(hidden_dropout_prob=0.2, activation_dropout=None).activation_dropout == 0.2
    off = TFTModel(TFTModelTester(activation_dropout=0.0, hidden_dropout_prob=0.2).config)
    assert {layer.mlp.dropout.p for layer in off.time_encoder.layers} == {0.0}
    assert {layer.dropout.p for layer in off.time_encoder.layers} == {0.2}  # residual dropout is unchanged
    with pytest.raises(ValueError, match="activation_dropout"):
        TFTConfig(activation_dropout=1.0)


def test_loss_takes_class_probabilities():
    tester = TFTModelTester()
    model = TFTForAudioClassification(tester.config).eval()
    inputs, labels = tester.inputs(), torch.tensor([0, 1, 2])
    one_hot = torch.nn.functional.one_hot(labels, 3).float()
    torch.testing.assert_close(model(**inputs, labels=one_hot).loss, model(**inputs, labels=labels).loss)
    mixed = 0.7 * one_hot + 0.3 * one_hot[[1, 2, 0]]
    logits = model(**inputs).logits
    expected = 0.7 * torch.nn.functional.cross_entropy(logits, labels) + 0.3 * torch.nn.functional.cross_entropy(
        logits, labels[[1, 2, 0]]
    )
    torch.testing.assert_close(model(**inputs, labels=mixed).loss, expected)


def test_loss_class_weights_and_label_smoothing():
    tester = TFTModelTester()
    inputs, labels = tester.inputs(), torch.tensor([0, 1, 2])
    model = TFTForAudioClassification(tester.config).eval()
    logits = model(**inputs).logits
    torch.testing.assert_close(model(**inputs, labels=labels).loss, torch.nn.functional.cross_entropy(logits, labels))
    model.config.class_weights, model.config.label_smoothing = [1.0, 2.0, 3.0], 0.1
    expected = torch.nn.functional.cross_entropy(
        logits, labels, weight=torch.tensor([1.0, 2.0, 3.0]), label_smoothing=0.1
    )
    torch.testing.assert_close(model(**inputs, labels=labels).loss, expected)
    model.config.class_weights = [1.0, 2.0]
    with pytest.raises(ValueError, match="class_weights has 2 entries for 3 labels"):
        model(**inputs, labels=labels)


def test_branch_losses_train_only_and_main_logits():
    no_dropout = {"hidden_dropout_prob": 0.0, "activation_dropout": 0.0, "classifier_dropout": 0.0}
    tester = TFTModelTester(branch_loss_weight=0.5, **no_dropout)
    inputs, labels = tester.inputs(), torch.tensor([0, 1, 2])
    model = TFTForAudioClassification(tester.config).train()
    outputs = model.tft(**inputs)
    time, frequency = outputs.branch_pooler_outputs
    alone = model.tft(inputs["input_features"][1:2, :37])  # padding never reaches a branch's pooled tokens
    torch.testing.assert_close(alone.branch_pooler_outputs[0], time[1:2], atol=1e-5, rtol=1e-4)
    ce = torch.nn.functional.cross_entropy
    branch = (ce(model.branch_classifiers[0](time), labels) + ce(model.branch_classifiers[1](frequency), labels)) / 2
    expected = ce(model.classifier(outputs.pooler_output), labels) + 0.5 * branch
    torch.testing.assert_close(model(**inputs, labels=labels).loss, expected)
    model.eval()  # evaluation scores the main head alone
    torch.testing.assert_close(model(**inputs, labels=labels).loss, ce(model(**inputs).logits, labels))
    single = TFTForAudioClassification(
        TFTModelTester(branch_loss_weight=0.5, use_frequency_branch=False, use_fusion=False).config
    )
    assert single.branch_classifiers is None and single.tft(**inputs).branch_pooler_outputs is None


def test_speaker_adversarial_head_reverses_its_gradient_in_training_only():
    tester = TFTModelTester(speaker_adversarial_weight=0.5, num_speakers=3)
    model = TFTForAudioClassification(tester.config).train()  # the tiny config has no dropout
    inputs, labels, speakers = tester.inputs(), torch.tensor([0, 1, 2]), torch.tensor([2, 0, 1])

    def gradients(loss: torch.Tensor) -> dict[str, torch.Tensor]:
        model.zero_grad()
        loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    main = gradients(model(**inputs, labels=labels).loss)
    both = gradients(model(**inputs, labels=labels, speaker_labels=speakers).loss)
    pooled = model.tft(**inputs).pooler_output
    plain = gradients(torch.nn.functional.cross_entropy(model.speaker_classifier(pooled), speakers))
    for name, gradient in plain.items():  # the head learns the speakers; the backbone gets -0.5 x their gradient
        scale = 1.0 if name.startswith("speaker_classifier") else -0.5
        torch.testing.assert_close(both[name] - main.get(name, 0.0), scale * gradient, atol=1e-6, rtol=1e-4)
    assert not any(name.startswith("speaker_classifier") for name in main)
    model.eval()  # evaluation ignores speaker labels; the logits never depend on the head
    with torch.no_grad():
        evaluated = model(**inputs, labels=labels, speaker_labels=speakers)
        torch.testing.assert_close(evaluated.loss, model(**inputs, labels=labels).loss)
    assert TFTForAudioClassification(TFTModelTester().config).speaker_classifier is None


@pytest.mark.parametrize(
    "name", ["full_joint", "full_cross", "frequency_only", "time_only", "linear_time", "conv2d_frequency_only"]
)
def test_length_free_models_take_any_length(name):
    tester = TFTModelTester(**ABLATIONS[name])
    assert not tester.config.fixed_length
    model = TFTForAudioClassification(tester.config).eval()
    long = torch.randn(2, 10 * tester.config.max_frames + 3, tester.config.num_mel_bins)
    assert model(long).logits.shape == (2, 3)
    # band tokens are statistics over time: a clip repeated 4 times gives almost the logits of the clip once
    # (only the convolutions' edges differ)
    if tester.config.use_frequency_branch and not tester.config.use_time_branch:
        clip = torch.randn(1, 40, tester.config.num_mel_bins)
        once, twice = model(clip).logits, model(clip.repeat(1, 4, 1)).logits
        torch.testing.assert_close(once, twice, atol=0.05, rtol=0.05)


def test_fixed_length_components_are_named():
    assert not TFTConfig(**tiny_config_kwargs()).fixed_length
    assert TFTConfig(**tiny_config_kwargs(**FIRST_DESIGN)).fixed_length
    assert TFTConfig(**tiny_config_kwargs(time_position_embedding="absolute")).fixed_length
    frequency_only = {"use_time_branch": False, "use_fusion": False}
    assert not TFTConfig(**tiny_config_kwargs(time_position_embedding="absolute", **frequency_only)).fixed_length


def test_bad_shapes_raise():
    model = TFTModel(TFTModelTester(**FIRST_DESIGN).config)
    with pytest.raises(ValueError, match=r"shape \(batch, frames, 16\)"):
        model(torch.zeros(1, 10, 8))
    with pytest.raises(ValueError, match=r"more than config.max_frames=60"):
        model(torch.zeros(1, 61, 16))
    with pytest.raises(ValueError, match="`attention_mask` has shape"):
        model(torch.zeros(1, 10, 16), attention_mask=torch.ones(1, 9))


def test_window_starts_end_aligned():
    starts, valid = window_starts(torch.tensor([200, 60, 61, 9, 120]), window=60, hop=30)
    expected = [[0, 30, 60, 90, 120, 140], [0], [0, 1], [0], [0, 30, 60]]  # the last window ends at the clip's end
    assert [row[ok].tolist() for row, ok in zip(starts, valid, strict=True)] == expected


def windows_by_hand(model: TFTForAudioClassification, clip: torch.Tensor, starts: list[int]) -> torch.Tensor:
    """The whole-clip rule spelt out: log of the mean softmax of each window scored alone."""
    window = model.config.window_frames
    logits = torch.cat([model(clip[:, start : start + window]).logits for start in starts])
    return logits.softmax(-1).mean(0, keepdim=True).log()


@pytest.mark.parametrize("name", ["first_design", "first_design_cross", "time_only"])
def test_long_inputs_are_scored_in_windows(name):
    overrides = {**ABLATIONS[name], **({} if name.startswith("first") else {"time_position_embedding": "absolute"})}
    model = TFTForAudioClassification(TFTModelTester(**overrides).config).eval()
    assert model.config.fixed_length and model.config.window_frames == 60 and model.config.hop_frames == 30
    clip = torch.randn(1, 200, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model(clip).logits, windows_by_hand(model, clip, [0, 30, 60, 90, 120, 140]))
        assert not torch.allclose(model(clip).logits, model(clip[:, :60]).logits)  # not the first window alone
        model.config.inference_hop_frames = 50
        torch.testing.assert_close(model(clip).logits, windows_by_hand(model, clip, [0, 50, 100, 140]))


def test_length_free_model_windows_only_when_configured():
    tester = TFTModelTester()
    model = TFTForAudioClassification(tester.config).eval()
    clip = torch.randn(1, 200, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole = model(clip).logits
        model.config.inference_window_frames, model.config.inference_hop_frames = 80, 60
        torch.testing.assert_close(model(clip).logits, windows_by_hand(model, clip, [0, 60, 120]))
        assert not torch.allclose(model(clip).logits, whole)


@pytest.mark.parametrize("name", ["first_design", "full_joint"])
def test_clips_within_the_window_are_unchanged(name):
    """A clip of at most one window goes through exactly the backbone and head it went through before."""
    tester = TFTModelTester(**ABLATIONS[name])
    model = TFTForAudioClassification(tester.config).eval()
    model.config.inference_window_frames = 60
    inputs = tester.inputs(frames=(60, 37, 9))
    with torch.no_grad():
        expected = model.classifier(model.tft(**inputs).pooler_output)
        assert torch.equal(model(**inputs).logits, expected)
        one = inputs["input_features"][:1]
        assert torch.equal(model(one).logits, model.classifier(model.tft(one).pooler_output))


def test_padded_batch_of_long_and_short_clips_matches_each_clip_alone():
    tester = TFTModelTester(**FIRST_DESIGN)
    model = TFTForAudioClassification(tester.config).eval()
    frames = (200, 45, 131, 60)
    batch = tester.inputs(frames=frames)
    noisy = batch["input_features"] + 100 * (1 - batch["attention_mask"][..., None])  # padding is ignored
    with torch.no_grad():
        logits = model(input_features=noisy, attention_mask=batch["attention_mask"]).logits
        for row, length in enumerate(frames):
            alone = model(batch["input_features"][row : row + 1, :length]).logits
            torch.testing.assert_close(logits[row : row + 1], alone, atol=1e-5, rtol=1e-4)


def test_windowed_logits_train_and_refuse_layer_outputs():
    model = TFTForAudioClassification(TFTModelTester(**FIRST_DESIGN).config).train()
    long = torch.randn(2, 150, 16, generator=torch.Generator().manual_seed(2))
    loss = model(long, labels=torch.tensor([0, 2])).loss
    loss.backward()
    assert torch.isfinite(loss) and model.classifier.weight.grad is not None
    with pytest.raises(ValueError, match=r"scored in windows of config\.window_frames=60; call `model\.tft`"):
        model(long, output_attentions=True)
    model.config.output_hidden_states = True
    with pytest.raises(ValueError, match="output_hidden_states describe one pass"):
        model(long)
    assert model(long[:, :60]).hidden_states is not None  # one window: as before


def test_gradient_checkpointing_gives_same_gradients():
    tester = TFTModelTester()
    model = TFTForAudioClassification(tester.config).train()
    inputs, labels = tester.inputs(), torch.tensor([0, 1, 2])
    model(**inputs, labels=labels).loss.backward()
    reference = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    # transformers 5.24 renamed it activation checkpointing; 5.17 only has the old name
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable()
    assert any(layer.gradient_checkpointing for layer in model.modules() if hasattr(layer, "gradient_checkpointing"))
    model(**inputs, labels=labels).loss.backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, reference[name], atol=1e-6, rtol=1e-4, msg=name)


def test_bf16_autocast_runs_and_stays_close():
    tester = TFTModelTester()
    model = TFTForAudioClassification(tester.config).eval()
    inputs = tester.inputs()
    model.config.class_weights = [1.0, 2.0, 3.0]  # weighted loss under autocast too
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(**inputs, labels=torch.tensor([0, 1, 2]))
    assert low.logits.dtype == torch.bfloat16 and low.loss.dtype == torch.float32
    torch.testing.assert_close(low.logits.float(), model(**inputs).logits, atol=5e-2, rtol=5e-2)


def test_torch_compile_matches_eager_mode():
    tester = TFTModelTester()
    model = TFTForAudioClassification(tester.config).eval()
    inputs = tester.inputs()
    compiled = torch.compile(model, fullgraph=True)
    torch.testing.assert_close(compiled(**inputs).logits, model(**inputs).logits, atol=1e-5, rtol=1e-4)

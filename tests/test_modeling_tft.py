import pytest
import torch
from conftest import tiny_config_kwargs
from transformers import AutoModelForAudioClassification

from modeling_tft import TFTConfig, TFTForAudioClassification, TFTModel
from modeling_tft.modeling_tft import TFTConv1d, TFTDropout, TFTScaledLinear, window_starts
from modeling_tft.prosody_tft import NUM_FUNCTIONALS
from tft_ser.training.loss import ClassificationLoss, forward_with_loss

ABLATIONS = {  # the paper's three switches
    "full": {},
    "time_only": {"use_frequency_branch": False, "use_fusion": False},
    "frequency_only": {"use_time_branch": False, "use_fusion": False, "num_prosody_features": 0},
    "no_fusion": {"use_fusion": False},
}


class TFTModelTester:
    """Tiny configs and inputs; expected token counts derived from the config."""

    def __init__(self, **overrides) -> None:
        self.config = TFTConfig(**tiny_config_kwargs(**overrides))

    def inputs(self, frames: tuple[int, ...] = (60, 37, 9)) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(0)
        features = torch.randn(len(frames), max(frames), self.config.num_input_features, generator=generator)
        mask = (torch.arange(max(frames))[None, :] < torch.tensor(frames)[:, None]).long()
        return {"input_features": features * mask[..., None], "attention_mask": mask}

    def num_tokens(self, frames: int) -> int:
        time = -(-frames // self.config.frames_per_time_token) if self.config.use_time_branch else 0
        return time + (self.config.num_frequency_tokens if self.config.use_frequency_branch else 0)


@pytest.mark.parametrize("name", ABLATIONS)
def test_every_ablation_builds_and_runs(name):
    tester = TFTModelTester(**ABLATIONS[name])
    output = TFTModel(tester.config).eval()(**tester.inputs())
    assert output.last_hidden_state.shape == (3, tester.num_tokens(60), 32)
    assert output.pooler_output.shape == (3, 32)
    assert output.token_mask.shape == (3, tester.num_tokens(60))
    logits = TFTForAudioClassification(tester.config).eval()(**tester.inputs()).logits
    assert logits.shape == (3, 3) and torch.isfinite(logits).all()


def test_switches_build_only_their_parts():
    assert not hasattr(TFTModel(TFTModelTester(**ABLATIONS["time_only"]).config), "frequency_encoder")
    assert not hasattr(TFTModel(TFTModelTester(**ABLATIONS["frequency_only"]).config), "time_encoder")
    assert TFTModel(TFTModelTester(**ABLATIONS["no_fusion"]).config).fusion is None


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
    tester = TFTModelTester(**ABLATIONS[name])
    model = TFTForAudioClassification(tester.config).train()
    model(**tester.inputs(), labels=torch.tensor([0, 1, 2])).loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing


@pytest.mark.parametrize("implementation", ["sdpa"])  # flash and flex need a GPU (flex fails in inductor on CPU)
def test_attention_implementations_agree_with_eager(implementation):
    tester = TFTModelTester()
    inputs = tester.inputs()
    torch.manual_seed(0)
    eager = TFTForAudioClassification(tester.config).eval()
    other = TFTForAudioClassification(TFTModelTester().config).eval()
    other.load_state_dict(eager.state_dict())
    eager.set_attn_implementation("eager")
    other.set_attn_implementation(implementation)
    assert other.config._attn_implementation == implementation
    with torch.no_grad():
        torch.testing.assert_close(other(**inputs).logits, eager(**inputs).logits, atol=1e-5, rtol=1e-4)


def test_hidden_states_and_attentions_are_recorded_in_stream_order():
    tester = TFTModelTester()
    model = TFTModel(tester.config).eval()
    model.set_attn_implementation("eager")
    output = model(**tester.inputs(), output_hidden_states=True, output_attentions=True)
    time, bands = tester.num_tokens(60) - tester.config.num_frequency_tokens, tester.config.num_frequency_tokens
    # time embeddings + 1 layer, band embeddings + 1 layer, 1 fusion layer
    assert [h.shape[1] for h in output.hidden_states] == [time, time, bands, bands, time + bands]
    assert [a.shape[-2:] for a in output.attentions] == [(time, time), (bands, bands), (time + bands,) * 2]
    torch.testing.assert_close(output.attentions[0].sum(-1), torch.ones(3, 4, time))  # rows are distributions
    assert output.attentions[0][2, :, :, 3:].abs().max() == 0  # the 9-frame clip's padded time tokens get nothing
    assert model(**tester.inputs()).hidden_states is None


def test_any_length_and_band_tokens_are_statistics_over_time():
    tester = TFTModelTester(**ABLATIONS["frequency_only"])
    model = TFTForAudioClassification(tester.config).eval()
    long = torch.randn(2, 10 * tester.config.max_frames + 3, tester.config.num_input_features)
    assert model(long).logits.shape == (2, 3)
    # a clip repeated 4 times has the band statistics of the clip once, but for the convolutions' edges: they are
    # much closer to them than another clip's are
    statistics = []
    embeddings = model.tft.frequency_embeddings
    embeddings.projection.register_forward_hook(lambda module, inputs, output: statistics.append(inputs[0]))
    clip, other = torch.randn(2, 1, 40, tester.config.num_mel_bins, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        for features in (clip, clip.repeat(1, 4, 1), other):
            embeddings(features, torch.ones(features.shape[:2], dtype=torch.bool))
    once, repeated, different = statistics
    assert (once - repeated).norm() < 0.3 * (once - different).norm()


def test_bad_shapes_raise():
    model = TFTModel(TFTModelTester().config)
    expected = r"shape \(batch, frames, 30\) \(16 mel bands \+ 14 prosody contours: .*prosody=True\)"
    with pytest.raises(ValueError, match=expected):
        model(torch.zeros(1, 10, 16))  # log-mel only: an extractor with prosody=False
    with pytest.raises(ValueError, match="`attention_mask` has shape"):
        model(torch.zeros(1, 10, 30), attention_mask=torch.ones(1, 9))
    with pytest.raises(ValueError, match="first frame unmasked"):
        model(torch.zeros(1, 10, 30), attention_mask=torch.tensor([[0] + [1] * 9]))


def test_loss_is_the_cross_entropy():
    tester = TFTModelTester()
    model = TFTForAudioClassification(tester.config).eval()
    inputs, labels = tester.inputs(), torch.tensor([0, 1, 2])
    output = model(**inputs, labels=labels)
    torch.testing.assert_close(output.loss, torch.nn.functional.cross_entropy(output.logits, labels))
    assert model(**inputs, labels=labels, return_dict=False)[0] == output.loss


def test_functionals_head_adds_its_logits_and_trains_on_its_own_loss():
    tester = TFTModelTester()
    model = TFTForAudioClassification(tester.config)
    assert isinstance(model.functionals.classifier, TFTScaledLinear)
    inputs, labels = tester.inputs(), torch.tensor([0, 1, 2])
    output = model.train()(**inputs)
    transformer, functionals = output.head_logits
    torch.testing.assert_close(output.logits, transformer + functionals)
    torch.manual_seed(0)
    loss, _ = forward_with_loss(model, {**inputs, "labels": labels}, ClassificationLoss())
    torch.manual_seed(0)
    heads = model(**inputs).head_logits  # the same dropout masks
    cross_entropy = torch.nn.functional.cross_entropy
    torch.testing.assert_close(loss, cross_entropy(heads[0], labels) + cross_entropy(heads[1], labels))
    assert model.eval()(**inputs).head_logits is None  # evaluation scores the sum only
    one = {key: value[:1] for key, value in inputs.items()}  # e.g. the last batch of an epoch: no batch statistics
    torch.testing.assert_close(model.train()(**one).head_logits[1], model.eval().functionals(
        one["input_features"][..., tester.config.num_mel_bins :], one["attention_mask"].bool()))  # fmt: skip
    without = TFTForAudioClassification(TFTModelTester(functionals_head=False).config)
    assert without.functionals is None and without.train()(**inputs).head_logits is None


def test_functionals_weight_scales_the_functionals_head_in_the_logits_only():
    tester = TFTModelTester(functionals_weight=3.0)
    weighted = TFTForAudioClassification(tester.config)
    weighted.load_state_dict(TFTForAudioClassification(TFTModelTester().config).state_dict())  # no new weights
    inputs, labels = tester.inputs(), torch.tensor([0, 1, 2])
    torch.manual_seed(0)
    transformer, functionals = weighted.train()(**inputs).head_logits  # what each head's loss sees: unweighted
    torch.manual_seed(0)
    loss, _ = forward_with_loss(weighted, {**inputs, "labels": labels}, ClassificationLoss())
    cross_entropy = torch.nn.functional.cross_entropy
    torch.testing.assert_close(loss, cross_entropy(transformer, labels) + cross_entropy(functionals, labels))
    with torch.no_grad():
        weighted.eval()
        pooled = weighted.tft(**inputs).pooler_output
        transformer, functionals = weighted.head_logits(
            pooled, inputs["input_features"], inputs["attention_mask"].bool()
        )
        torch.testing.assert_close(weighted(**inputs).logits, transformer + 3.0 * functionals)


def test_speaker_embedding_shift_moves_embeddings_by_the_training_mean_minus_the_speakers(tmp_path):
    tester = TFTModelTester(speaker_embedding_shift=True, functionals_weight=2.0)
    model = TFTForAudioClassification(tester.config).eval()
    inputs = tester.inputs()
    with torch.no_grad():
        unadapted = model(**inputs).logits
        embeddings = model.utterance_embeddings(**inputs)
        torch.testing.assert_close(embeddings, model.tft(**inputs).pooler_output)
        model.set_training_embeddings(embeddings[:2])
        assert torch.equal(model(**inputs).logits, unadapted)  # no speaker set: nothing moves
        model.set_speaker_embeddings(embeddings[1:])
        shift = embeddings[:2].mean(0) - embeddings[1:].mean(0)
        adapted = model(**inputs).logits
        model.set_speaker_embeddings(None)
        by_hand = model.combine_heads(model.head_logits(embeddings + shift, inputs["input_features"],
                                                        inputs["attention_mask"].bool()))  # fmt: skip
        torch.testing.assert_close(adapted, by_hand)
        assert not torch.allclose(adapted, unadapted)
        assert torch.equal(model(**inputs).logits, unadapted)  # unadapted again
    model.save_pretrained(tmp_path)  # the training mean is saved with the weights; a speaker is not
    loaded = TFTForAudioClassification.from_pretrained(tmp_path)
    torch.testing.assert_close(loaded.embedding_mean, embeddings[:2].mean(0))
    assert loaded.speaker_embedding_mean is None and "speaker_embedding_mean" not in loaded.state_dict()
    plain = TFTForAudioClassification(TFTModelTester().config)
    assert "embedding_mean" not in plain.state_dict()
    with pytest.raises(ValueError, match="speaker_embedding_shift` is False"):
        plain.set_speaker_embeddings(embeddings)
    windowed = TFTForAudioClassification(TFTModelTester(inference_window_frames=60).config).eval()
    clip = torch.randn(1, 200, 30, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # a long clip: one embedding per inference window, as its windows are scored
        by_window = [windowed.tft(clip[:, start : start + 60]).pooler_output for start in (0, 30, 60, 90, 120, 140)]
        torch.testing.assert_close(windowed.utterance_embeddings(clip), torch.cat(by_window))
        assert windowed.windows_per_clip(clip).tolist() == [6]
        assert windowed.windows_per_clip(clip[:, :60]).tolist() == [1]


def test_speaker_head_supports_adjusts_the_head_to_the_speakers_most_confident_clips():
    model = TFTForAudioClassification(
        TFTModelTester(speaker_embedding_shift=True, speaker_head_supports=2, num_labels=2).config
    ).eval()
    dims = model.config.hidden_size

    def padded(rows: list[list[float]]) -> torch.Tensor:  # vectors in the first 3 of the hidden dimensions
        return torch.nn.functional.pad(torch.tensor(rows), (0, dims - 3))

    w, b, m = padded([[1.0, 0, 0], [0, 2.0, 0]]), torch.tensor([0.1, -0.2]), padded([[0.5, 0.5, 0]])[0]
    with torch.no_grad():
        model.classifier.weight.copy_(w)
        model.classifier.bias.copy_(b)
        model.embedding_mean.copy_(m)
    # the speaker's mean is the training mean: the shift moves nothing, the head sees x = embeddings
    x = padded([[1.5, 0.5, 1.0], [0.5, 1.5, 1.0], [2.5, 0.5, 0.0], [-2.5, -0.5, -2.0]])
    # the functionals head reads the first 2 of its inputs z as its logits, and it decides the labels: class 1 for
    # clips 1, 0 (margin ~29) and 3 (~11), class 0 for clip 2; the Transformer head alone would predict class 0 for
    # clip 0
    linear = model.functionals.classifier
    z = torch.nn.functional.pad(
        torch.tensor([[0.0, 30, 40], [0, 50, 0], [90, 0, 0], [0, 10, -10]]), (0, NUM_FUNCTIONALS - 3)
    )
    with torch.no_grad():
        linear.weight.copy_(torch.eye(2, NUM_FUNCTIONALS) / linear.scale)
        linear.bias.zero_()
    with pytest.raises(ValueError, match="pass the functionals head's inputs of the same clips"):
        model.set_speaker_embeddings(x)
    model.set_speaker_embeddings(x, z)

    def unit(v: torch.Tensor) -> torch.Tensor:
        return v / v.norm()

    # supports (k = 2): class 0 -> clip 2; class 1 -> clips 1 and 0 (the lowest entropy), not 3
    c = torch.stack([unit(unit(w[0]) + unit(x[2] - m)), 2 * unit(unit(w[1]) + unit(x[1] - m) + unit(x[0] - m))])
    torch.testing.assert_close(model.speaker_classifier_weight, c)
    torch.testing.assert_close(model.speaker_classifier_bias, b + (w - c) @ m)
    # the functionals head's prototypes from the same supports, around 0 (the training mean of its inputs)
    e = torch.eye(2, NUM_FUNCTIONALS)
    f = torch.stack([unit(e[0] + unit(z[2])), unit(e[1] + unit(z[1]) + unit(z[0]))])
    torch.testing.assert_close(model.speaker_functionals_weight, f)
    torch.testing.assert_close(model.speaker_functionals_bias, torch.zeros(2))
    inputs = TFTModelTester(num_labels=2).inputs((60, 37, 9, 50))
    with torch.no_grad():
        transformer = model.head_logits(x, inputs["input_features"], inputs["attention_mask"].bool())[0]
        functionals = model.functionals_logits(z)
    torch.testing.assert_close(transformer, (x - m) @ c.T + m @ w.T + b)
    torch.testing.assert_close(functionals, z @ f.T)
    model.set_speaker_embeddings(x[1:2], z[1:2])  # no clip predicted as class 0: its rows stay
    torch.testing.assert_close(model.speaker_classifier_weight[0], w[0])
    torch.testing.assert_close(model.speaker_functionals_weight[0], e[0])
    model.set_speaker_embeddings(None)
    assert model.speaker_classifier_weight is None and model.speaker_classifier_bias is None
    assert model.speaker_functionals_weight is None and model.speaker_functionals_bias is None
    inputs = TFTModelTester().inputs()
    with torch.no_grad():  # from real clips: the functionals head's inputs give the logits the model adds
        unadapted = model(**inputs)
        standardised = model.functionals_inputs(**inputs)
        torch.testing.assert_close(
            unadapted.logits,
            model.classifier(model.utterance_embeddings(**inputs)) + model.functionals.classifier(standardised),
        )
        model.set_speaker_embeddings(model.utterance_embeddings(**inputs), standardised)
        assert not torch.allclose(model(**inputs).logits, unadapted.logits)
    plain = TFTForAudioClassification(TFTModelTester(functionals_head=False, num_prosody_features=0).config)
    assert plain.functionals_inputs(**TFTModelTester().inputs()) is None
    with pytest.raises(ValueError, match="no functionals head"):
        plain.functionals_logits(standardised)


def test_speaker_embedding_scale_standardises_embeddings_over_the_speakers_clips(tmp_path):
    model = TFTForAudioClassification(TFTModelTester(speaker_embedding_shift=True, speaker_embedding_scale=True).config)
    inputs = TFTModelTester().inputs((60, 37, 9, 50))
    with torch.no_grad():
        model.eval()
        embeddings = model.utterance_embeddings(**inputs)
        unadapted = model(**inputs).logits
        with pytest.raises(ValueError, match="needs each training embedding's speaker"):
            model.set_training_embeddings(embeddings)
        speakers = ["a", "b"] * (len(embeddings) // 2)
        model.set_training_embeddings(embeddings, speakers)
        by_speaker = [embeddings[[s == name for s in speakers]] for name in ("a", "b")]
        within = torch.stack([e.var(0, unbiased=False) for e in by_speaker]).mean(0).sqrt()
        torch.testing.assert_close(model.embedding_std, within)
        assert torch.equal(model(**inputs).logits, unadapted)  # no speaker set: nothing moves
        model.set_speaker_embeddings(embeddings[1:])
        adapted = model(**inputs).logits
        model.set_speaker_embeddings(None)
        own = embeddings[1:]
        mapped = (embeddings - own.mean(0)) / (own.std(0, unbiased=False) + 1e-6) * within + embeddings.mean(0)
        by_hand = model.combine_heads(
            model.head_logits(mapped, inputs["input_features"], inputs["attention_mask"].bool())
        )
        torch.testing.assert_close(adapted, by_hand)
        with pytest.raises(ValueError, match="needs at least 2 of them, got 1"):
            model.set_speaker_embeddings(embeddings[:1])
        with pytest.warns(FutureWarning, match="renamed `set_speaker_embeddings`"):
            model.set_speaker_embedding_mean(None)
        assert torch.equal(model(**inputs).logits, unadapted)
    model.save_pretrained(tmp_path)
    torch.testing.assert_close(TFTForAudioClassification.from_pretrained(tmp_path).embedding_std, within)


def test_activation_dropout_is_the_feed_forward_dropout():
    TFTConfig().update_from_string("activation_dropout=0.0")  # settable with --config_overrides
    assert TFTConfig(hidden_dropout_prob=0.2, activation_dropout=None).activation_dropout == 0.2
    assert TFTConfig().activation_dropout == 0.0  # search AD0
    saved_before_the_option = {
        k: v for k, v in TFTConfig(hidden_dropout_prob=0.2).to_dict().items() if k != "activation_dropout"
    }
    assert TFTConfig.from_dict(saved_before_the_option).activation_dropout == 0.2
    off = TFTModel(TFTModelTester(activation_dropout=0.0, hidden_dropout_prob=0.2).config)
    assert {layer.mlp.dropout.p for layer in off.time_encoder.layers} == {0.0}
    assert {layer.dropout.p for layer in off.time_encoder.layers} == {0.2}  # residual dropout is unchanged


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 5, "padding": 2},
        {"kernel_size": 3, "stride": 2, "padding": 1},
        {"kernel_size": 15, "padding": 7, "groups": 6},
    ],
)
def test_channels_last_conv1d_matches_nn_conv1d_on_transposed_input(kwargs):
    torch.manual_seed(0)
    reference = torch.nn.Conv1d(6, 12, **kwargs)
    conv = TFTConv1d(6, 12, **kwargs)
    conv.load_state_dict(reference.state_dict())
    inputs = torch.randn(3, 40, 6)  # (batch, steps, channels)
    expected = reference(inputs.transpose(1, 2)).transpose(1, 2)
    output = conv(inputs)
    torch.testing.assert_close(output, expected, atol=1e-6, rtol=1e-5)
    grad = torch.randn_like(output)
    expected_grads = torch.autograd.grad(expected, [reference.weight, reference.bias], grad)
    for got, want in zip(torch.autograd.grad(output, [conv.weight, conv.bias], grad), expected_grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kwargs", [{"padding": "same"}, {"padding": 1, "padding_mode": "reflect"}])
def test_channels_last_conv1d_refuses_padding_it_does_not_apply(kwargs):
    with pytest.raises(ValueError, match="pads with zeros"):
        TFTConv1d(6, 12, 3, **kwargs)


def test_cpu_dropout_keeps_a_bernoulli_share_scaled_and_matches_nn_dropout_elsewhere():
    torch.manual_seed(0)
    dropout = TFTDropout(0.1).train()
    ones = torch.ones(1_000_000, requires_grad=True)
    out = dropout(ones)
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.9) < 0.002  # binomial sd 0.0003
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / 0.9))
    out.sum().backward()
    assert torch.equal(ones.grad, out.detach())  # the gradient passes through the same scaled mask
    assert not torch.equal(dropout(ones), out)  # a fresh mask per call
    assert torch.equal(dropout.eval()(ones), ones)
    assert torch.equal(TFTDropout(0.0).train()(ones), ones)
    assert torch.equal(TFTDropout(1.0).train()(ones), torch.zeros_like(ones))
    dropout.train().p = 0.0  # as code that switches dropout off by setting `p` does
    assert torch.equal(dropout(ones), ones)
    model = TFTModel(TFTModelTester().config)
    dropouts = [module for module in model.modules() if isinstance(module, torch.nn.Dropout)]
    assert dropouts and all(type(module) is TFTDropout for module in dropouts)


def test_initialisation():
    model = TFTModel(TFTConfig())
    stem = model.time_embeddings.subsampling.convolutions[0].weight  # He: std sqrt(2 / fan-in) = sqrt(2 / 9)
    assert abs(stem.std().item() - (2 / 9) ** 0.5) < 0.1
    position = model.time_embeddings.position_conv.weight  # wav2vec 2.0's: std 2 / sqrt(15)
    assert abs(position.std().item() - 2 / 15**0.5) < 0.05
    for table in (model.frequency_embeddings.position_embeddings, model.fusion.type_embeddings):
        assert abs(table.std().item() - 0.02) < 0.005  # initializer_range
    head = TFTForAudioClassification(TFTConfig(num_labels=20)).functionals.classifier  # stored / 10, used x 10
    assert abs(head.weight.std().item() - 0.002) < 0.0005 and not head.bias.any()


def test_window_starts_end_aligned():
    starts, valid = window_starts(torch.tensor([200, 60, 61, 9, 120]), window=60, hop=30)
    expected = [[0, 30, 60, 90, 120, 140], [0], [0, 1], [0], [0, 30, 60]]  # the last window ends at the clip's end
    assert [row[ok].tolist() for row, ok in zip(starts, valid, strict=True)] == expected


def windows_by_hand(model: TFTForAudioClassification, clip: torch.Tensor, starts: list[int]) -> torch.Tensor:
    """The whole-clip rule spelt out: log of the mean softmax of each window scored alone."""
    window = model.config.window_frames
    logits = torch.cat([model(clip[:, start : start + window]).logits for start in starts])
    return logits.softmax(-1).mean(0, keepdim=True).log()


def test_long_inputs_are_scored_in_windows_only_when_configured():
    model = TFTForAudioClassification(TFTModelTester(functionals_weight=2.0).config).eval()  # windows: weighted too
    clip = torch.randn(1, 200, 30, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole = model(clip).logits
        model.config.inference_window_frames = 60
        assert model.config.hop_frames == 30
        torch.testing.assert_close(model(clip).logits, windows_by_hand(model, clip, [0, 30, 60, 90, 120, 140]))
        assert not torch.allclose(model(clip).logits, model(clip[:, :60]).logits)  # not the first window alone
        model.config.inference_hop_frames = 50
        torch.testing.assert_close(model(clip).logits, windows_by_hand(model, clip, [0, 50, 100, 140]))
        assert not torch.allclose(model(clip).logits, whole)


def test_clips_within_the_window_are_unchanged():
    tester = TFTModelTester(inference_window_frames=60)
    model = TFTForAudioClassification(tester.config).eval()
    inputs = tester.inputs(frames=(60, 37, 9))
    with torch.no_grad():
        windowed = model(**inputs).logits
        model.config.inference_window_frames = None
        assert torch.equal(windowed, model(**inputs).logits)


def test_padded_batch_of_long_and_short_clips_matches_each_clip_alone():
    tester = TFTModelTester(inference_window_frames=60)
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
    model = TFTForAudioClassification(TFTModelTester(inference_window_frames=60).config).train()
    long = torch.randn(2, 150, 30, generator=torch.Generator().manual_seed(2))
    loss = model(long, labels=torch.tensor([0, 2])).loss
    loss.backward()
    assert torch.isfinite(loss) and model.classifier.weight.grad is not None
    with pytest.raises(ValueError, match=r"scored in windows of config\.window_frames=60; call `model\.tft`"):
        model(long, output_attentions=True)
    model.config.output_hidden_states = True
    with pytest.raises(ValueError, match="output_hidden_states describe one pass"):
        model(long)
    assert model(long[:, :60]).hidden_states is not None  # one window: as without windows


def test_save_load_and_auto_classes(tmp_path):
    tester = TFTModelTester()
    model = TFTForAudioClassification(tester.config).eval()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is TFTForAudioClassification
    torch.testing.assert_close(loaded(**tester.inputs()).logits, model(**tester.inputs()).logits)


def test_gradient_checkpointing_gives_same_gradients():
    tester = TFTModelTester(hidden_dropout_prob=0.1, activation_dropout=0.1)  # the recomputation redraws the same masks
    model = TFTForAudioClassification(tester.config).train()
    inputs, labels = tester.inputs(), torch.tensor([0, 1, 2])
    torch.manual_seed(0)
    model(**inputs, labels=labels).loss.backward()
    reference = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    # transformers 5.24 renamed it activation checkpointing; 5.17 only has the old name
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable()
    assert any(layer.gradient_checkpointing for layer in model.modules() if hasattr(layer, "gradient_checkpointing"))
    torch.manual_seed(0)
    model(**inputs, labels=labels).loss.backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, reference[name], atol=1e-6, rtol=1e-4, msg=name)


def test_bf16_autocast_runs_and_stays_close():
    tester = TFTModelTester()
    model = TFTForAudioClassification(tester.config).eval()
    inputs = tester.inputs()
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

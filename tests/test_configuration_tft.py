import json

import pytest
from conftest import tiny_config_kwargs

from modeling_tft import TFTConfig


def test_defaults_and_derived_counts():
    config = TFTConfig()
    assert config.model_type == "tft"
    assert config.num_frequency_tokens == 16  # 64 bins / 4
    assert (config.window_frames, config.hop_frames) == (None, None)  # whole clips
    fields = set(TFTConfig.__init__.__code__.co_varnames[1 : TFTConfig.__init__.__code__.co_argcount])
    assert len(fields) <= 33  # 31st: speaker_embedding_shift (search ES1, 0.8.0); 32nd: speaker_embedding_scale (RH1);
    # 33rd: speaker_head_supports (TA1)


def test_round_trip(tmp_path):
    config = TFTConfig(**tiny_config_kwargs(use_fusion=False, inference_window_frames=50))
    config.save_pretrained(tmp_path)
    assert TFTConfig.from_pretrained(tmp_path).to_dict() == config.to_dict()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden_size": 30, "num_attention_heads": 4}, "multiple of `num_attention_heads`"),
        ({"num_mel_bins": 15, "bins_per_frequency_token": 2}, "must divide `num_mel_bins`"),
        ({"frames_per_time_token": 3}, "must be a power of 2"),
        ({"frames_per_time_token": 1}, "must be a power of 2"),
        ({"time_conv_channels": 0}, "time_conv_channels"),
        ({"position_kernel_size": 4}, "must be odd"),
        ({"frequency_conv_kernel_size": 2}, "must be odd"),
        ({"frequency_conv_channels": 0}, "frequency_conv_channels"),
        (
            {"use_time_branch": False, "use_frequency_branch": False, "use_fusion": False, "num_prosody_features": 0},
            "At least one",
        ),
        ({"use_time_branch": False, "num_prosody_features": 0}, "needs both"),
        ({"speaker_embedding_scale": True}, "needs `speaker_embedding_shift=True`"),
        ({"speaker_head_supports": 20}, "needs `speaker_embedding_shift=True`"),
        ({"speaker_embedding_shift": True, "speaker_head_supports": 0}, "must be a positive integer or None, got 0"),
        ({"speaker_embedding_shift": True, "speaker_head_supports": 2.5}, "positive integer or None, got 2.5"),
        ({"speaker_embedding_shift": True, "speaker_head_supports": True}, "positive integer or None, got True"),
        ({"use_time_branch": False, "use_fusion": False}, r"join the time tokens and need `use_time_branch=True`"),
        ({"num_prosody_features": -1}, "num_prosody_features"),
        ({"num_prosody_features": 0, "functionals_head": True}, "functionals head .* reads the prosody contours"),
        ({"functionals_lr_scale": 0}, "functionals_lr_scale"),
        ({"functionals_weight": -0.5}, "functionals_weight` must be finite and >= 0"),
        ({"functionals_weight": float("inf")}, "functionals_weight` must be finite and >= 0"),
        ({"hidden_dropout_prob": 1.0}, "hidden_dropout_prob"),
        ({"classifier_dropout": -0.1}, "classifier_dropout"),
        ({"max_frames": 0}, "max_frames"),
        ({"num_fusion_layers": -1}, "num_fusion_layers"),
        ({"inference_window_frames": 0}, "`inference_window_frames` must be a positive integer"),
        ({"inference_window_frames": 40, "inference_hop_frames": 41}, r"must be in \[1, inference_window_frames = 40"),
        ({"inference_hop_frames": 10}, r"must be in \[1, inference_window_frames = None"),
    ],
)
def test_invalid_values_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TFTConfig(**tiny_config_kwargs(**kwargs))


def test_a_config_saved_before_prosody_loads_log_mel_only(tmp_path):
    TFTConfig(**tiny_config_kwargs()).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved.pop("num_prosody_features") == 14  # the default
    assert saved.pop("functionals_head") is True  # the default with contours
    (tmp_path / "config.json").write_text(json.dumps(saved))
    config = TFTConfig.from_pretrained(tmp_path)
    assert config.num_prosody_features == 0 and config.num_input_features == 16
    assert not config.functionals_head


def test_a_config_saved_before_the_functionals_head_loads_without_it(tmp_path):
    TFTConfig(**tiny_config_kwargs()).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["functionals_head"], saved["functionals_lr_scale"], saved["functionals_weight"]  # as 0.3.0 saved it
    (tmp_path / "config.json").write_text(json.dumps(saved))
    config = TFTConfig.from_pretrained(tmp_path)
    assert config.num_prosody_features == 14 and not config.functionals_head
    assert config.functionals_weight == 1.0  # a 0.4.0 config (without the field) keeps its logits' sum
    assert TFTConfig(num_prosody_features=0, use_time_branch=False, use_fusion=False).functionals_head is False


def test_inference_windows():
    chosen = TFTConfig(**tiny_config_kwargs(inference_window_frames=500, inference_hop_frames=100))
    assert (chosen.window_frames, chosen.hop_frames) == (500, 100)  # longer than a training crop is fine
    assert TFTConfig(**tiny_config_kwargs(inference_window_frames=60)).hop_frames == 30  # half a window


def test_a_model_validates_the_overrides_of_from_pretrained(tmp_path):
    """`from_pretrained(path, **overrides)` sets the overrides after the config's checks: the model checks again."""
    from modeling_tft import TFTForAudioClassification

    TFTForAudioClassification(TFTConfig(**tiny_config_kwargs())).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="needs `speaker_embedding_shift=True`"):
        TFTForAudioClassification.from_pretrained(tmp_path, speaker_embedding_scale=True)
    with pytest.raises(ValueError, match="functionals_weight` must be finite"):
        TFTForAudioClassification.from_pretrained(tmp_path, functionals_weight=-1.0)
    loaded = TFTForAudioClassification.from_pretrained(tmp_path, functionals_weight=0.5)
    assert loaded.config.functionals_weight == 0.5

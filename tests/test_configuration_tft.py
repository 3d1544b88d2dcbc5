import pytest
from conftest import tiny_config_kwargs

from modeling_tft import TFTConfig


def test_defaults_and_derived_token_counts():
    config = TFTConfig()
    assert config.model_type == "tft"
    assert config.num_time_tokens == 75  # 300 frames / 4
    assert config.num_frequency_tokens == 16  # 64 bins / 4


def test_round_trip(tmp_path):
    config = TFTConfig(**tiny_config_kwargs(fusion_type="cross", pooling="attention", class_weights=[1.0, 2.0, 0.5]))
    config.save_pretrained(tmp_path)
    loaded = TFTConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()


def test_configs_saved_before_time_embedding_existed_load_with_linear_time_tokens(tmp_path):
    config = TFTConfig(**tiny_config_kwargs(time_embedding="linear"))
    saved = config.to_dict()
    del saved["time_embedding"], saved["time_conv_channels"]  # what an export of 2026-12-01 holds
    assert TFTConfig.from_dict(saved).time_embedding == "linear"
    assert TFTConfig.from_dict(config.to_dict() | {"time_embedding": "conv2d"}).time_embedding == "conv2d"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden_size": 30, "num_attention_heads": 4}, "multiple of `num_attention_heads`"),
        ({"num_mel_bins": 15, "bins_per_frequency_token": 2}, "must divide `num_mel_bins`"),
        ({"fusion_type": "sum"}, "`fusion_type` must be one of"),
        ({"pooling": "max"}, "`pooling` must be one of"),
        ({"time_position_embedding": "rotary"}, "`time_position_embedding` must be one of"),
        ({"frequency_embedding": "linear"}, "`frequency_embedding` must be one of"),
        ({"time_embedding": "conv1d"}, "`time_embedding` must be one of"),
        ({"time_embedding": "conv2d", "frames_per_time_token": 3}, "must be a power of 2"),
        ({"time_embedding": "conv2d", "frames_per_time_token": 1}, "must be a power of 2"),
        ({"time_conv_channels": 0}, "time_conv_channels"),
        ({"position_kernel_size": 4}, "must be odd"),
        ({"frequency_conv_channels": 0}, "frequency_conv_channels"),
        ({"use_time_branch": False, "use_frequency_branch": False, "use_fusion": False}, "At least one"),
        ({"use_time_branch": False}, "needs both"),
        ({"hidden_dropout_prob": 1.0}, "hidden_dropout_prob"),
        ({"label_smoothing": -0.1}, "label_smoothing"),
        ({"branch_loss_weight": -0.1}, "branch_loss_weight"),
        ({"speaker_adversarial_weight": -0.1}, "speaker_adversarial_weight"),
        ({"speaker_adversarial_weight": 0.5, "num_speakers": 1}, "needs `num_speakers` >= 2"),
        ({"frequency_band_statistics": True, "frequency_embedding": "trajectory"}, "adds to the `'conv_statistics'`"),
        ({"max_frames": 0}, "max_frames"),
        ({"num_fusion_layers": -1}, "num_fusion_layers"),
        ({"time_conv_residual_layers": -1}, "time_conv_residual_layers"),
        ({"class_weights": [1.0, 1.0]}, "2 entries but the model has 3 labels"),
        ({"class_weights": [1.0, -1.0, 1.0]}, "non-negative"),
        ({"inference_window_frames": 0}, "`inference_window_frames` must be a positive integer"),
        (
            {"inference_window_frames": 61, "time_position_embedding": "absolute"},
            r"must not exceed `max_frames` \(60\)",
        ),
        ({"inference_window_frames": 40, "inference_hop_frames": 41}, r"must be in \[1, inference window = 40"),
        ({"time_position_embedding": "absolute", "inference_hop_frames": 0}, r"must be in \[1, inference window = 60"),
    ],
)
def test_invalid_values_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TFTConfig(**tiny_config_kwargs(**kwargs))


def test_inference_window_defaults():
    fixed = TFTConfig(**tiny_config_kwargs(time_position_embedding="absolute"))
    assert (fixed.window_frames, fixed.hop_frames) == (60, 30)  # max_frames, half of it
    length_free = TFTConfig(**tiny_config_kwargs())
    assert (length_free.window_frames, length_free.hop_frames) == (None, None)  # whole clips
    chosen = TFTConfig(**tiny_config_kwargs(inference_window_frames=500, inference_hop_frames=100))
    assert (chosen.window_frames, chosen.hop_frames) == (500, 100)  # a length-free model may take longer windows

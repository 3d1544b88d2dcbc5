"""The AST baseline trains with the TFT's loss, label smoothing and class weights included."""

import torch

from modeling_tft.modeling_tft import classification_loss
from training.arguments import ModelArguments
from training.cross_validation import build_model_and_extractor


def test_ast_takes_the_tft_loss_settings():
    model_args = ModelArguments(model_type="ast", config_overrides="label_smoothing=0.2,num_hidden_layers=1")
    model, extractor = build_model_and_extractor(model_args, ["a", "b", "c"], class_weights=[1.0, 2.0, 3.0])
    assert type(model).__name__ == "ASTForAudioClassification"
    assert model.config.label_smoothing == 0.2 and extractor.max_length == model.config.max_length
    inputs = torch.randn(2, model.config.max_length, model.config.num_mel_bins)
    labels = torch.tensor([0, 2])
    output = model(input_values=inputs, labels=labels)
    expected = torch.nn.functional.cross_entropy(
        output.logits, labels, weight=torch.tensor([1.0, 2.0, 3.0]), label_smoothing=0.2
    )
    torch.testing.assert_close(output.loss, expected)
    torch.testing.assert_close(output.loss, classification_loss(output.logits, labels, model.config))

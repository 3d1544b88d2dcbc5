"""Time-Frequency Transformer (TFT) for speech emotion recognition, as a `transformers` model."""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification

from .configuration_tft import TFTConfig
from .feature_extraction_tft import TFTFeatureExtractor
from .modeling_tft import (
    TFTForAudioClassification,
    TFTForMaskedSpectrogramModeling,
    TFTModel,
    TFTModelOutput,
    TFTPreTrainedModel,
    TFTSequenceClassifierOutput,
)

AutoConfig.register(TFTConfig.model_type, TFTConfig, exist_ok=True)
AutoFeatureExtractor.register(TFTConfig, TFTFeatureExtractor, exist_ok=True)
AutoModel.register(TFTConfig, TFTModel, exist_ok=True)
AutoModelForAudioClassification.register(TFTConfig, TFTForAudioClassification, exist_ok=True)

# Saved folders carry `auto_map` and these files, so they load with `trust_remote_code=True` without this package.
TFTConfig.register_for_auto_class()
TFTFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")
TFTModel.register_for_auto_class("AutoModel")
TFTForAudioClassification.register_for_auto_class("AutoModelForAudioClassification")

__all__ = [
    "TFTConfig",
    "TFTFeatureExtractor",
    "TFTForAudioClassification",
    "TFTForMaskedSpectrogramModeling",
    "TFTModel",
    "TFTModelOutput",
    "TFTPreTrainedModel",
    "TFTSequenceClassifierOutput",
]

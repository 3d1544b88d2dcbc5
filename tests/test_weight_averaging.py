"""EpochAverage: the mean of the weights at the ends of the last epochs, saved and restored with checkpoints."""

import pytest
import torch

from training.weight_averaging import AVERAGE_FILE, EpochAverage


def test_average_of_the_last_epochs(tmp_path):
    model = torch.nn.Linear(3, 2)
    average = EpochAverage(model, epochs=4, last=2)
    seen = []
    for epoch in range(1, 5):
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        average.update(model, epoch)
        seen.append(average.epochs)
    assert seen == [[], [], [3], [3, 4]]
    average.save(tmp_path)
    restored = EpochAverage(torch.nn.Linear(3, 2), epochs=4, last=2)
    restored.load(tmp_path, epoch=4)
    target = torch.nn.Linear(3, 2)
    restored.apply_to(target)
    torch.testing.assert_close(target.weight, torch.full((2, 3), 3.5))  # mean of epochs 3 and 4
    assert restored.epochs == [3, 4]


def test_bad_settings_and_missing_averages_raise(tmp_path):
    model = torch.nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"must be in \[1, 4\]"):
        EpochAverage(model, epochs=4, last=5)
    average = EpochAverage(model, epochs=4, last=2)
    with pytest.raises(RuntimeError, match="No epoch was averaged"):
        average.apply_to(model)
    average.load(tmp_path, epoch=2)  # before the first averaged epoch: nothing to restore
    with pytest.raises(RuntimeError, match=f"has no {AVERAGE_FILE}"):
        average.load(tmp_path, epoch=3)

"""IEMOCAP preparation on a generated release-layout tree (real clips, copied into tmp_path)."""

from __future__ import annotations

import json

import datasets
import pytest
from dataset_fixtures import build_iemocap_tree

from tft_ser.data import (
    IEMOCAP_LABELS,
    PreparationError,
    leave_one_session_out,
    leave_one_speaker_out,
    prepare_iemocap,
)
from tft_ser.data.common import REPORT_FILENAME

FOUR = {"neu": "neutral", "hap": "happy", "ang": "angry", "sad": "sad"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return build_iemocap_tree(tmp_path_factory.mktemp("iemocap"))


def expected_labels(codes: dict[str, str], merge_excited: bool, improvised_only: bool) -> dict:
    mapping = {**FOUR, **({"exc": "happy"} if merge_excited else {})}
    return {
        utt: mapping[code]
        for utt, code in codes.items()
        if code in mapping and (not improvised_only or "_impro" in utt)
    }


@pytest.mark.parametrize("merge_excited", [True, False])
@pytest.mark.parametrize("improvised_only", [False, True])
def test_variants_give_the_right_labels(tree, tmp_path, merge_excited, improvised_only):
    dataset = prepare_iemocap(
        tree.root,
        tmp_path / "out",
        merge_excited=merge_excited,
        improvised_only=improvised_only,
        expected_num_rows=None,
    )
    names = dataset.features["label"].names
    assert names == list(IEMOCAP_LABELS) == ["angry", "happy", "neutral", "sad"]
    got = {utt: names[lab] for utt, lab in zip(dataset["utterance_id"], dataset["label"], strict=True)}
    assert got == expected_labels(tree.codes, merge_excited, improvised_only)
    report = json.loads((tmp_path / "out" / REPORT_FILENAME).read_text())
    excluded = report["excluded_by_variant"]
    assert excluded["fru"] == excluded["xxx"] == 3  # impro dialogs only, one per session
    assert excluded.get("exc", 0) == (0 if merge_excited else 6 - 3 * improvised_only)
    assert sum(v for k, v in excluded.items() if k.startswith("scripted:")) == (15 if improvised_only else 0)


def test_speaker_is_the_utterance_gender_letter_not_the_dialog(tree):
    dataset = prepare_iemocap(tree.root, expected_num_rows=None)
    rows = {r["utterance_id"]: r for r in dataset.select_columns(["utterance_id", "speaker", "gender", "session"])}
    assert rows["Ses01F_impro01_M000"]["speaker"] == "Ses01_M"
    assert rows["Ses01F_impro01_M000"]["gender"] == "male"
    assert rows["Ses02M_script01_1_F000"]["speaker"] == "Ses02_F"
    assert rows["Ses02M_script01_1_F000"]["gender"] == "female"
    assert rows["Ses03F_impro01_F000"]["session"] == 3
    assert sorted(set(dataset["speaker"])) == [f"Ses0{s}_{g}" for s in (1, 2, 3) for g in "FM"]


def test_malformed_lines_and_orphans_are_reported(tree, tmp_path):
    prepare_iemocap(tree.root, tmp_path / "out", expected_num_rows=None)
    report = json.loads((tmp_path / "out" / REPORT_FILENAME).read_text())
    reasons = {p["path"]: p["reason"] for p in report["skipped"]}
    for line in tree.malformed:
        assert reasons[line] == "unparsable_label_line"
    assert reasons[str(tree.unlabelled_wav)] == "missing_label"
    assert reasons[tree.missing_wav_utt] == "missing_audio"
    assert report["num_skipped"] == 4
    with pytest.raises(PreparationError) as error:
        prepare_iemocap(tree.root, strict=True, expected_num_rows=None)
    for line in tree.malformed:
        assert line in str(error.value)


def test_count_check_against_the_full_release(tree, caplog):
    with pytest.raises(PreparationError, match="expected 5531 utterances, found"):
        prepare_iemocap(tree.root, strict=True)
    dataset = prepare_iemocap(tree.root)  # not strict: a warning only
    assert f"expected 5531 utterances, found {dataset.num_rows}" in caplog.text


def test_folds_use_session_partner_and_sessions(tree, tmp_path):
    prepare_iemocap(tree.root, tmp_path / "out", expected_num_rows=None)
    dataset = datasets.load_from_disk(str(tmp_path / "out"))
    folds = leave_one_speaker_out(dataset)
    assert len(folds) == 6
    for fold in folds:
        (test,), (validation,) = fold.test_speakers, fold.validation_speakers
        assert validation[:5] == test[:5] and validation != test  # the session partner
        assert not set(fold.splits["train"]["speaker"]) & {test, validation}
    sessions = leave_one_session_out(dataset)
    assert [f.name for f in sessions] == ["test=session1", "test=session2", "test=session3"]
    assert sessions[0].validation_speakers == ("Ses02_F",)
    assert sessions[2].validation_speakers == ("Ses01_F",)
    for fold in sessions:
        assert len(set(fold.splits["test"]["session"])) == 1
        assert not set(fold.splits["train"]["speaker"]) & set(fold.splits["test"]["speaker"])

"""`tft-ser predict`: end to end in a subprocess (`python -m tft_ser`), other cases in-process through `main`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from tft_ser_models import EMOTIONS, SR, casia_clip, long_recording, shifted_export, trained_export

from tft_ser.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tft_ser", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def model_dir(corpora) -> str:
    return str(trained_export())


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory, corpora) -> Path:
    folder = tmp_path_factory.mktemp("audio")
    sf.write(folder / "angry.wav", casia_clip("angry", 202), SR)
    sf.write(folder / "sad.flac", casia_clip("sad", 202), SR)
    recording, _ = long_recording([casia_clip(e, 201) for e in EMOTIONS], [1.0, 1.5, 1.0, 2.0])
    sf.write(folder / "call.wav", recording, SR)
    return folder


def test_predict_json_timeline_plot_and_explain(model_dir, audio_dir, tmp_path):
    result = run_cli(
        "predict",
        model_dir,
        str(audio_dir / "call.wav"),
        str(audio_dir / "angry.wav"),
        "--json",
        "--timeline",
        "--plot",
        str(tmp_path / "timeline.png"),
        "--explain",
        str(tmp_path / "explain.png"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["failed"] == [] and [Path(r["file"]).name for r in report["results"]] == ["call.wav", "angry.wav"]
    call, angry = report["results"]
    assert call["prediction"]["label"] in EMOTIONS
    assert angry["prediction"]["label"] == "angry"  # a clip of the speaker and sentences the model was fitted to
    speech = [row for row in call["timeline"] if row["label"] != "non-speech"]
    assert len(speech) == 4 and call["summary"]["num_segments"] == 4
    assert all(row["score"] is None and row["scores"] == {} for row in call["timeline"] if row not in speech)
    for name in ("timeline_call.png", "timeline_angry.png", "explain_call.png", "explain_angry.png"):
        assert (tmp_path / name).stat().st_size > 1000, name


def test_table_and_csv_on_a_glob(model_dir, audio_dir, capsys):
    assert main(["predict", model_dir, str(audio_dir / "*.wav")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["file", "label", "score"] and len(lines) == 3  # angry.wav, call.wav
    assert main(["predict", model_dir, str(audio_dir / "sad.flac"), "--csv"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split(",") == ["file", "label", "score", "duration_s", "speech_s", *EMOTIONS]
    assert row.split(",")[1] in EMOTIONS


def test_folder_with_a_broken_file_processes_the_rest(model_dir, audio_dir, tmp_path, capsys):
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ("angry.wav", "sad.flac"):
        (folder / name).write_bytes((audio_dir / name).read_bytes())
    (folder / "broken.wav").write_bytes(b"RIFF....WAVE garbage")
    sf.write(folder / "silence.wav", np.zeros(5 * SR, np.float32), SR)
    assert main(["predict", model_dir, str(folder), str(tmp_path / "missing.wav"), "--json"]) == 1
    result = capsys.readouterr()
    report = json.loads(result.out)
    assert sorted(Path(r["file"]).name for r in report["results"]) == ["angry.wav", "sad.flac", "silence.wav"]
    assert sorted(Path(f["file"]).name for f in report["failed"]) == ["broken.wav", "missing.wav"]
    assert report["failed"][1]["error"] == "no such file"
    silence = next(r for r in report["results"] if r["file"].endswith("silence.wav"))
    assert silence["prediction"]["label"] == "non-speech" and silence["prediction"]["scores"] == {}
    assert "2 of 5 file(s) failed" in result.err and "broken.wav" in result.err


def test_usage_errors_exit_2(model_dir, tmp_path, capsys):
    assert main(["predict", str(tmp_path / "no-model"), "x.wav"]) == 2
    assert f"no model folder {str(tmp_path / 'no-model')!r}" in capsys.readouterr().err
    assert main(["predict", model_dir, "x.wav", "--plot", "t.png"]) == 2
    assert main(["predict", model_dir, str(tmp_path / "nothing-*.wav"), "--json"]) == 1  # a glob matching nothing


def test_console_script_is_declared():
    text = (REPO_ROOT / "pyproject.toml").read_text()  # tomllib is Python >= 3.11; the project supports 3.10
    scripts = text.split("[project.scripts]")[1].split("\n[")[0]
    assert 'tft-ser = "tft_ser.cli:main"' in scripts
    packages = next(line for line in text.splitlines() if line.startswith("packages = "))
    assert '"tft_ser"' in packages


def test_figure_names_for_several_files_do_not_collide(tmp_path):
    from tft_ser.runner import plot_path

    taken: set[Path] = set()
    first = plot_path(str(tmp_path / "t.png"), Path("a/x.wav"), True, taken)
    second = plot_path(str(tmp_path / "t.png"), Path("b/x.flac"), True, taken)
    assert (first.name, second.name) == ("t_x.png", "t_x_2.png")
    assert plot_path("t.png", Path("a/x.wav"), False) == Path("t.png")


def test_timeline_table_ends_with_a_summary_per_file(model_dir, audio_dir, capsys):
    assert main(["predict", model_dir, str(audio_dir / "call.wav"), "--timeline"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:5] == ["file", "start_s", "end_s", "label", "score"]
    assert "non-speech" in "\n".join(out) and out[-1].startswith(str(audio_dir / "call.wav") + ": speech ")


def test_no_vad_weights_windows_by_length(model_dir, tmp_path, capsys):
    sf.write(tmp_path / "hum.wav", (0.01 * np.sin(np.arange(8 * SR) * 0.05)).astype(np.float32), SR)
    assert main(["predict", model_dir, str(tmp_path / "hum.wav"), "--no-vad", "--json"]) == 0
    prediction = json.loads(capsys.readouterr().out)["results"][0]["prediction"]
    assert prediction["label"] in EMOTIONS and prediction["speech_s"] == 8.0 and prediction["num_windows"] == 5


def test_adapt_to_the_recording_or_to_all_files(model_dir, tmp_path, capsys):
    from tft_ser import EmotionClassifier, load_audio, predict_recording, speech_segments
    from tft_ser.vad import VADOptions

    clips = [casia_clip(e, u) for u in (201, 202) for e in EMOTIONS]
    recording, _ = long_recording(clips, [1.0, 1.5, 1.0, 2.0, 1.2, 0.8, 1.0, 1.5])
    sf.write(tmp_path / "long.wav", recording, SR)
    clips += [casia_clip(e, 203) for e in EMOTIONS]
    for index, clip in enumerate(clips):
        sf.write(tmp_path / f"clip{index}.wav", clip, SR)
    assert main(["predict", model_dir, str(tmp_path / "long.wav"), "--json", "--adapt", "recording"]) == 0
    adapted = json.loads(capsys.readouterr().out)["results"][0]
    assert adapted["normalization"]["statistics"] == "recording" and adapted["normalization"]["speech_s"] > 10
    assert adapted["normalization"]["embedding_shift"] is False  # the model has no speaker_embedding_shift
    # the same as the library: the extractor adapted to the VAD's speech segments, then the whole-recording rule
    classifier = EmotionClassifier.from_pretrained(model_dir)
    recording = load_audio(tmp_path / "long.wav")  # as written: 16-bit
    segments = speech_segments(recording, VADOptions())
    extractor = classifier.feature_extractor.adapted([recording[s:e] for s, e in segments], SR)
    expected = predict_recording(classifier.with_feature_extractor(extractor), recording, segments=segments).scores
    assert adapted["prediction"]["scores"] == pytest.approx(expected, abs=1e-5)
    assert main(["predict", model_dir, str(tmp_path / "long.wav"), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)["results"][0]
    assert "normalization" not in exported and exported["prediction"]["scores"] != adapted["prediction"]["scores"]

    assert main(["predict", model_dir, str(tmp_path / "clip0.wav"), "--adapt", "recording"]) == 0
    out = capsys.readouterr().out
    assert "clip0.wav: kept the exported statistics: Speaker adaptation needs at least 10 s of audio" in out
    files = [str(tmp_path / f"clip{i}.wav") for i in range(len(clips))]
    assert main(["predict", model_dir, *files, "--json", "--adapt", "files"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert {r["normalization"]["statistics"] for r in results} == {"files"}
    assert len({r["normalization"]["speech_s"] for r in results}) == 1 and results[0]["normalization"]["speech_s"] > 10


@pytest.mark.parametrize(("scale", "supports"), [(False, None), (True, None), (False, 2)])
def test_adapting_a_speaker_shifted_model_also_shifts_its_embeddings_to_the_speech(tmp_path, capsys, scale, supports):
    from tft_ser import EmotionClassifier, load_audio, predict_recording, speech_segments
    from tft_ser.vad import VADOptions
    from tft_ser.windows import window_spans

    model_dir = str(shifted_export(scale, supports))
    clips = [casia_clip(e, u) for u in (201, 202) for e in EMOTIONS]
    recording, _ = long_recording(clips, [1.0, 0.0, 0.0, 2.0, 1.2, 0.0, 0.0, 1.5])  # a segment longer than a window
    sf.write(tmp_path / "long.wav", recording, SR)
    assert main(["predict", model_dir, str(tmp_path / "long.wav"), "--json", "--adapt", "recording"]) == 0
    adapted = json.loads(capsys.readouterr().out)["results"][0]
    assert adapted["normalization"]["statistics"] == "recording" and adapted["normalization"]["embedding_shift"]
    assert adapted["normalization"]["embedding_scale"] is scale
    assert adapted["normalization"]["head_adjusted"] is (supports is not None)
    # by hand: the extractor adapted to the VAD's speech, the model shifted from the mean embedding of its windows
    classifier = EmotionClassifier.from_pretrained(model_dir)
    recording = load_audio(tmp_path / "long.wav")
    segments = speech_segments(recording, VADOptions())
    speech = [recording[s:e] for s, e in segments]
    plain = classifier.with_feature_extractor(classifier.feature_extractor.adapted(speech, SR))
    window, hop = plain.window_samples, plain.window_samples // 2  # predict_recording's windows of each segment
    windows = [x[a:b] for x in speech for a, b in window_spans(0, len(x), window, hop)]
    unshifted = predict_recording(plain, recording, segments=segments).scores
    with torch.no_grad():
        inputs = plain.feature_extractor(windows, sampling_rate=SR, padding="longest", return_tensors="pt")
        model = classifier.model
        model.set_speaker_embeddings(model.utterance_embeddings(**inputs), model.functionals_inputs(**inputs))
        assert (model.speaker_classifier_weight is None) is (supports is None)
    expected = predict_recording(plain, recording, segments=segments).scores
    classifier.model.set_speaker_embeddings(None)
    assert adapted["prediction"]["scores"] == pytest.approx(expected, abs=1e-5)
    assert expected != pytest.approx(unshifted, abs=1e-5)  # the shift changed the scores
    assert main(["predict", model_dir, str(tmp_path / "long.wav"), "--adapt", "recording"]) == 0
    said = "standardised over that speech" if scale else "shifted to that speech's mean"
    adjusted = ", heads adjusted to it (T3A)" if supports else ""
    assert f"s of speech, utterance embeddings {said}{adjusted})" in capsys.readouterr().out


def test_too_few_windows_to_standardise_over_adapt_the_statistics_only(tmp_path, capsys, monkeypatch):
    import tft_ser.adaptation

    monkeypatch.setattr(tft_ser.adaptation, "MIN_SPEAKER_EMBEDDINGS", 1000)
    clips = [casia_clip(e, u) for u in (201, 202) for e in EMOTIONS]
    sf.write(tmp_path / "long.wav", long_recording(clips, [1.0] * 8)[0], SR)
    assert (
        main(["predict", str(shifted_export(True)), str(tmp_path / "long.wav"), "--json", "--adapt", "recording"]) == 0
    )
    normalization = json.loads(capsys.readouterr().out)["results"][0]["normalization"]
    assert normalization["statistics"] == "recording" and not normalization["embedding_shift"]
    assert "embeddings not adapted" in normalization["note"] and "1000 needed" in normalization["note"]


def test_version(capsys):
    from importlib import metadata

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tft-ser {metadata.version('tft-ser')}"

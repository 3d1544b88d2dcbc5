"""Smoke test of the speed benchmark (`benchmarks/speed.py --smoke`) and its tables, so neither rots."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "benchmarks"


def load_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def assert_positive(row: dict, *keys: str) -> None:
    for key in keys:
        assert isinstance(row[key], (int, float)) and row[key] > 0, (key, row)


@pytest.fixture(scope="module")
def speed() -> ModuleType:
    return load_module("speed")


def test_speed_cli_smoke(tmp_path: Path) -> None:
    """`python benchmarks/speed.py --smoke` from the repo root writes a complete speed report."""
    output = tmp_path / "speed_cpu.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "benchmarks/speed.py", "--smoke", "--output", str(output)]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "TFT / AST throughput" in result.stdout  # the human-readable table

    report = json.loads(output.read_text())
    assert report["kind"] == "speed"
    for key in ("command", "date_utc", "git", "hardware", "versions", "settings", "memory_method"):
        assert key in report["meta"]
    assert report["meta"]["command"].startswith("python benchmarks/speed.py --smoke")
    assert report["meta"]["hardware"]["cpu"] and report["meta"]["hardware"]["torch_threads"] == 1
    assert set(report["meta"]["versions"]) >= {"python", "torch", "transformers", "torchaudio"}
    for name in ("tft", "ast"):
        assert_positive(report["models"][name], "parameters", "forward_flops_per_clip", "training_flops_per_clip")

    results = report["results"]
    modes = {(r["model"], r["mode"], r["batch_size"]) for r in results}
    assert modes == {(m, "inference", b) for m in ("tft", "ast") for b in (1, 2)} | {
        (m, "training", 2) for m in ("tft", "ast")
    }
    for row in results:
        assert_positive(row, "median_s", "clips_per_s", "achieved_tflops")
        assert row["peak_memory_mb"] >= 0 and row["mfu"] is None  # no MFU on CPU
        assert len(row["times_s"]) == report["meta"]["settings"]["repeats"]
        if row["mode"] == "inference":
            assert_positive(row, "latency_ms", "rtf")
    for row in report["feature_extraction"]:
        assert row["extractor"] in ("tft", "ast")
        assert_positive(row, "median_s", "clips_per_s", "rtf")
    assert {c["mode"] for c in report["comparisons"]} == {"inference", "training"}
    assert all(c["tft_over_ast_throughput"] > 0 for c in report["comparisons"])
    assert len(report["targets"]) == 3 and all("met" in t for t in report["targets"])


def test_scaling_smoke_and_tables(tmp_path: Path, speed: ModuleType) -> None:
    """The public `main` in scaling mode, then `make_tables` renders both JSONs into docs/RESULTS.md's speed part."""
    results = tmp_path / "results"
    report = speed.main(["--smoke", "--scaling", "--output", str(results / "scaling_cpu.json")])
    assert report["kind"] == "scaling"
    seconds = report["meta"]["settings"]["scaling_seconds"]
    assert sorted({r["clip_seconds"] for r in report["results"]}) == sorted(seconds)
    for row in report["results"]:
        assert_positive(row, "median_s", "clips_per_s", "num_frames")
    for by_model in report["models"].values():
        assert by_model["tft"]["forward_flops_per_clip"] > 0 and by_model["ast"]["forward_flops_per_clip"] > 0

    speed.main(["--smoke", "--output", str(results / "speed_cpu.json")])
    tables = load_module("make_tables")
    text = tables.render_results(results)
    assert "Cost vs clip length" in text and "| clip s | frames |" in text and "| 0.5 | 50 |" in text
    assert "| TFT CPU training throughput >= 1.5x equal-size AST at batch 16 | not measured | open |" in text
    assert "No speed report" not in text and "CASIA: no final-protocol report" in text

    # the same command on another CPU: its tables beside, each CPU target named by its CPU, the GPU one listed once
    other = json.loads((results / "speed_cpu.json").read_text())
    cpu, other["meta"]["hardware"]["cpu"] = other["meta"]["hardware"]["cpu"], "Other CPU"
    for target in other["targets"]:
        if "training throughput >= 1.5x" in target["target"]:
            target.update(value=1.2, met=False)
    (results / "speed_cpu_other.json").write_text(json.dumps(other))
    text = tables.render_results(results)
    assert "#### The same on another CPU (Other CPU)" in text
    assert f"| TFT CPU training throughput >= 1.5x equal-size AST at batch 16 ({cpu}) | not measured | open |" in text
    assert "| TFT CPU training throughput >= 1.5x equal-size AST at batch 16 (Other CPU) | 1.2 | **missed** |" in text
    assert text.count("| TFT training throughput >= 3x equal-size AST on GPU at equal batch |") == 1


def test_frames_and_equal_size_models(speed: ModuleType) -> None:
    """3 s is 300 frames, and the default TFT and AST are within 5 % of each other in size."""
    assert [speed.frames(s) for s in (1, 3, 10, 30)] == [100, 300, 1000, 3000]
    tft, ast = (speed.count_parameters(speed.build_model(name, 300)) for name in ("tft", "ast"))
    assert abs(tft - ast) / ast < 0.05, (tft, ast)


def test_cpu_training_target_reads_batch_16(speed: ModuleType) -> None:
    """Issue 11's cost target: TFT / AST training throughput at batch 16, on CPU, 3-s clips only."""
    import torch

    def row(model: str, batch: int, clips_per_s: float) -> dict:
        return {"model": model, "mode": "training", "precision": "fp32", "compile": False, "batch_size": batch,
                "clips_per_s": clips_per_s}  # fmt: skip

    rows = [row("tft", 16, 30.0), row("ast", 16, 20.0), row("tft", 4, 10.0), row("ast", 4, 20.0)]
    by_name = {t["target"]: t for t in speed.targets(torch.device("cpu"), rows, speed.CLIP_SECONDS)}
    target = by_name["TFT CPU training throughput >= 1.5x equal-size AST at batch 16"]
    assert target["value"] == pytest.approx(1.5) and target["met"] is True
    rows[0]["clips_per_s"] = 29.0
    missed = {t["target"]: t for t in speed.targets(torch.device("cpu"), rows, speed.CLIP_SECONDS)}
    assert missed[target["target"]]["met"] is False
    other_clip = {t["target"]: t for t in speed.targets(torch.device("cpu"), rows, 1.0)}
    assert other_clip[target["target"]]["value"] is None and other_clip[target["target"]]["met"] is None

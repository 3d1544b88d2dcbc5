"""Render `tft-ser predict` results as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json


def render(results: list[dict], failed: list[dict], labels: list[str], fmt: str, timeline: bool) -> str:
    """Table (predictions, or timeline rows then one summary line per file), CSV (all scores) or JSON (all)."""
    if fmt == "json":
        return json.dumps({"results": results, "failed": failed}, indent=2)
    rows = _timeline_rows(results, labels) if timeline else _prediction_rows(results, labels)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows(rows)
        return buffer.getvalue().rstrip("\n")
    notes = [_normalization_line(r) for r in results if "normalization" in r]
    if not timeline:
        return "\n".join([_table([row[:5] for row in rows]), *(["", *notes] if notes else [])])
    return "\n".join([_table(rows), "", *(_summary_line(r) for r in results), *notes])


def _normalization_line(result: dict) -> str:
    """`FILE: normalised with the statistics of this recording (S s of speech)`, or why the exported ones."""
    n = result["normalization"]
    if n["statistics"] == "exported":
        return f"{result['file']}: {n['note']}"
    whose = "this recording" if n["statistics"] == "recording" else "all the given files"
    shift = ", utterance embeddings shifted to that speech's mean" if n.get("embedding_shift") else ""
    if n.get("embedding_scale"):
        shift = ", utterance embeddings standardised over that speech"
    if n.get("head_adjusted"):
        shift += ", heads adjusted to it (T3A)"
    note = f"; {n['note']}" if n.get("note") else ""
    return f"{result['file']}: normalised with the statistics of {whose} ({n['speech_s']:.1f} s of speech{shift}){note}"


def _summary_line(result: dict) -> str:
    """`FILE: speech S of D s; share of speech time: label P%, ...` (labels by decreasing share)."""
    s = result["summary"]
    shares = sorted(s["emotion_share"].items(), key=lambda item: -item[1])
    share_text = ", ".join(f"{label} {100 * share:.0f}%" for label, share in shares if share > 0) or "no speech"
    return f"{result['file']}: speech {s['speech_s']:.1f} s of {s['duration_s']:.1f} s; {share_text}"


def _fmt(value) -> str:
    return "" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _prediction_rows(results: list[dict], labels: list[str]) -> list[list]:
    rows = [["file", "label", "score", "duration_s", "speech_s", *labels]]
    for r in results:
        p = r["prediction"]
        scores = [_fmt(p["scores"].get(label)) for label in labels]
        rows.append([r["file"], p["label"], _fmt(p["score"]), _fmt(p["duration_s"]), _fmt(p["speech_s"]), *scores])
    return rows


def _timeline_rows(results: list[dict], labels: list[str]) -> list[list]:
    rows = [["file", "start_s", "end_s", "label", "score", *labels]]
    for r in results:
        for t in r["timeline"]:
            scores = [_fmt(t["scores"].get(label)) for label in labels]
            rows.append([r["file"], _fmt(t["start_s"]), _fmt(t["end_s"]), t["label"], _fmt(t["score"]), *scores])
    return rows


def _table(rows: list[list]) -> str:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def failure_summary(failed: list[dict], total: int) -> str:
    lines = [f"{len(failed)} of {total} file(s) failed:"] + [f"  {f['file']}: {f['error']}" for f in failed]
    return "\n".join(lines)

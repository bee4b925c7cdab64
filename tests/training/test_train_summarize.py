"""The run comparison: relative changes against the baseline and the markdown tables."""

import json

import pytest

from training.summarize import main, relative_change


def _metrics(mean, median, yaw=None):
    return {"mean_m": mean, "median_m": median, "recall_1m": 0.5, "recall_3m": 0.8, "recall_5m": 0.9,
            "yaw_mean_deg": yaw, "yaw_median_deg": yaw, "in_1sigma": 0.4, "in_95_ellipse": 0.9, "nll": 1.0, "n": 10}


def _run(folder, fovs, train=None):
    folder.mkdir()
    (folder / "eval.json").write_text(json.dumps({"fov": fovs}))
    if train:
        (folder / "summary.json").write_text(json.dumps(train))
    return folder


def test_summary_compares_with_the_baseline(tmp_path):
    weak = _run(tmp_path / "weak", {"360": _metrics(2.0, 1.0), "90": _metrics(8.0, 4.0)})
    student = _run(tmp_path / "student", {"360": _metrics(2.0, 0.9), "90": _metrics(6.0, 3.0, yaw=1.25)},
                   train={"step": 900, "seconds": 600.0, "samples_per_s": 12.0})
    out, md = tmp_path / "summary.json", tmp_path / "results.md"
    assert main(["--run", f"weak={weak}", "--run", f"student={student}", "--out", str(out),
                 "--markdown", str(md)]) == 0
    s = json.loads(out.read_text())
    assert s["baseline"] == "weak"
    assert s["vs_baseline"]["student"]["90"]["mean_m"] == pytest.approx(-0.25)
    assert s["vs_baseline"]["student"]["360"]["median_m"] == pytest.approx(-0.1)
    text = md.read_text()
    assert "| student | 6.00 | 3.00 |" in text and "-25.0%" in text
    assert "| student | 90 | 1.25 | 1.25 | 10 |" in text and "| student | 900 | 600 | 12.0 |" in text
    with pytest.raises(FileNotFoundError):
        main(["--run", f"x={tmp_path}", "--out", str(out)])


def test_summary_of_another_test_set(tmp_path):
    weak = _run(tmp_path / "weak", {"360": _metrics(2.0, 1.0)})
    (weak / "eval_unseen.json").write_text(json.dumps({"fov": {"360": _metrics(5.0, 3.0)}}))
    student = _run(tmp_path / "student", {"360": _metrics(2.0, 0.9)})
    (student / "eval_unseen.json").write_text(json.dumps({"fov": {"360": _metrics(4.0, 2.0)}}))
    out = tmp_path / "unseen.json"
    md = tmp_path / "unseen.md"
    assert main(["--run", f"weak={weak}", "--run", f"student={student}", "--eval-name", "eval_unseen.json",
                 "--title", "Unseen style", "--out", str(out), "--markdown", str(md)]) == 0
    assert md.read_text().startswith("# Unseen style\n") and "| student | 4.00 | 2.00 |" in md.read_text()
    assert json.loads(out.read_text())["vs_baseline"]["student"]["360"]["mean_m"] == pytest.approx(-0.2)
    with pytest.raises(FileNotFoundError, match="eval_missing.json"):
        main(["--run", f"weak={weak}", "--eval-name", "eval_missing.json", "--out", str(out)])


def test_relative_change():
    assert relative_change(3.0, 4.0) == pytest.approx(-0.25)
    with pytest.raises(ValueError):
        relative_change(1.0, 0.0)


def test_rewriting_the_tables_keeps_the_hand_written_findings(tmp_path):
    weak = _run(tmp_path / "weak", {"360": _metrics(2.0, 1.0)})
    out, md = tmp_path / "summary.json", tmp_path / "results.md"
    md.write_text("# old tables\n\n| weak | 9.99 |\n\n## Findings (written by hand; kept)\n\nOur reading.\n")
    assert main(["--run", f"weak={weak}", "--out", str(out), "--markdown", str(md)]) == 0
    text = md.read_text()
    assert "9.99" not in text and "| weak | 2.00 | 1.00 |" in text
    assert text.endswith("## Findings (written by hand; kept)\n\nOur reading.\n")
    assert main(["--run", f"weak={weak}", "--out", str(out), "--markdown", str(md)]) == 0
    assert md.read_text() == text  # idempotent
    fresh = tmp_path / "fresh.md"
    assert main(["--run", f"weak={weak}", "--out", str(out), "--markdown", str(fresh)]) == 0
    assert "Findings" not in fresh.read_text()

"""The benchmark runs end to end on a tiny configuration, so it cannot rot; no wall-clock asserts."""

import json

from segue import bench
from segue.checkpoint import save_checkpoint
from segue.cli import main


def test_bench_times_the_model_and_a_real_server_and_writes_its_report(tiny_checkpoint, tmp_path, capsys):
    checkpoint = tmp_path / "tiny.pt"
    save_checkpoint(tiny_checkpoint, checkpoint)
    markdown, figures = tmp_path / "bench.md", tmp_path / "bench.json"
    code = main(["bench", "--checkpoint", str(checkpoint), "--runs", "3", "--workers", "1", "--clients", "1,3",
                 "--requests", "6", "--markdown", str(markdown), "--json", str(figures), "--baseline", str(checkpoint)])
    assert code == 0
    result = json.loads(figures.read_text())
    assert [f["runs"] for f in result["model"].values()] == [3, 3]
    assert [f["variations"] for f in result["model"].values()] == [1, 8]
    assert result["baseline"]["checkpoint"] == str(checkpoint) and result["baseline"]["one"]["runs"] == 3
    levels = result["server"]["levels"]
    assert [level["clients"] for level in levels] == [1, 3]
    assert all(level["requests"] >= 6 and level["errors"] == 0 for level in levels)
    assert result["server"]["start_to_first_answer_s"] > 0 and result["server"]["peak_rss_mb"]["total"] > 0
    report = markdown.read_text()
    assert "| 3 |" in report and "× faster" in report and result["command_line"] in report
    assert "The baseline, `tiny.pt`" in report
    assert result["baseline"]["server"]["start_to_first_answer_s"] > 0
    assert result["baseline"]["server"]["peak_rss_mb_at_first_answer"] > 0
    assert "The same server started with the baseline, `tiny.pt`" in report
    heard = result["transcription"]
    assert heard["runs"] == 1 and heard["p50_ms"] > 0 and heard["notes_right"] == heard["notes"] == 15
    assert "## Transcription" in report and "whistled" in report
    out = capsys.readouterr().out
    assert "HTTP,  3 clients" in out and "baseline server start-up" in out and f"wrote {markdown}" in out
    assert "transcription, 5 s of audio: p50" in out


def test_bench_refuses_bad_options_and_a_bad_checkpoint_in_one_line(tmp_path, capsys):
    (tmp_path / "bad.pt").write_bytes(b"nope")
    assert main(["bench", "--clients", "1,x"]) == 2
    assert main(["bench", "--runs", "0"]) == 2
    assert main(["bench", "--checkpoint", str(tmp_path / "bad.pt"), "--markdown", str(tmp_path / "b.md")]) == 2
    assert capsys.readouterr().err.count("\n") == 3
    assert not (tmp_path / "b.md").exists()


def test_the_markdown_compares_every_time_with_the_original_system():
    level = dict(clients=16, requests=100, errors=0, seconds=1.0, p50_ms=19.5, p95_ms=30.0, p99_ms=40.0, per_second=400.0)
    result = bench.BenchResult(
        machine={"cpu": "test CPU", "cores": 2, "python": "3.11", "numpy": "2"}, config={"warm_up_runs": 5},
        model={"one": {"runs": 10, "variations": 1, "p50_ms": 3.9, "p95_ms": 5.0, "mean_ms": 4.0, "p99_ms": 6.0}},
        server={"workers": 2, "start_to_first_answer_s": 1.95, "levels": [level],
                "peak_rss_mb": {"main": 50.0, "workers": [300.0, 310.0], "total": 660.0},
                "peak_rss_mb_at_first_answer": 600.0},
    )
    report = bench.markdown(result)
    assert "100× faster" in report  # 390 ms / 3.9 ms
    assert "20× faster" in report and "| 400 |" in report and "156× |" in report  # 400/s against 1/0.39 s
    assert "5.0 × 0.39 s" in report and "660 MiB" in report and "600 MiB at the first answer" in report

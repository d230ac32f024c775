"""The soak runs end to end on a tiny model and a few hundred requests, so it cannot rot."""

import json

from segue import soak
from segue.cli import main


def test_soak_sends_valid_and_invalid_requests_and_reads_memory(tiny_checkpoint_path, tmp_path, capsys):
    out = tmp_path / "soak.json"
    code = main(["soak", "--checkpoint", str(tiny_checkpoint_path), "--requests", "200", "--clients", "4",
                 "--json", str(out)])
    result = json.loads(out.read_text())
    assert code == 0 and result["passed"], result
    assert result["requests"] == 200 and result["invalid_requests"] == 20 and result["errors"] == 0
    assert len(result["rounds"]) == 10 and all(r["rss_mb"] > 0 for r in result["rounds"])
    assert "200 requests (20 of them invalid)" in capsys.readouterr().out


def test_every_tenth_request_is_invalid_and_expects_its_4xx():
    expected = [soak.soak_request(n)[1] for n in range(1, 61)]
    assert expected.count(200) == 54 and all(400 <= status < 500 for status in expected[9::10])


def test_soak_refuses_bad_options_in_one_line(tmp_path, capsys):
    assert main(["soak", "--requests", "5"]) == 2
    assert main(["soak", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert capsys.readouterr().err.count("\n") == 2

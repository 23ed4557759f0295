"""Every rendered page matches its committed JSON: `python -m benchmarks.docs --check`."""

from pathlib import Path

from benchmarks import docs

ROOT = Path(__file__).resolve().parents[2]


def test_every_page_matches_its_json(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert docs.main(["--check"]) == 0, capsys.readouterr().out
    assert all((ROOT / page).exists() for page in docs.RENDERERS)

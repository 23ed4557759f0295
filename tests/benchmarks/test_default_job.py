"""docs/default-job.md and README's set-up line hold the figures of the committed JSON."""

from pathlib import Path

from benchmarks import default_job

ROOT = Path(__file__).resolve().parents[2]


def test_the_document_and_the_readme_match_their_json(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert default_job.main(["--check"]) == 0, capsys.readouterr().out


def test_a_figure_edited_by_hand_is_caught(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    text = default_job.DOC.read_text()
    job = text[text.index("<!-- table job -->") : text.index("<!-- end -->")]
    edited = text.replace(job, job.replace("0.9", "0.8", 1))
    assert edited != text
    doc = tmp_path / "default-job.md"
    doc.write_text(edited)
    monkeypatch.setattr(default_job, "DOC", doc)
    assert default_job.main(["--check"]) == 1
    assert default_job.render(edited) == text  # rendering puts the JSON's figure back

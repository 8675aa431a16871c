"""A re-run says which finished cells it read back instead of scoring them."""

from __future__ import annotations

import polyplatypus

TASK = "kobest_copa"


def test_a_rerun_names_the_reused_cells(tmp_path, kobest_dir, tiny_gptneox_dir, monkeypatch, scored, capsys):
    monkeypatch.setenv("POLYPLATYPUS_KOBEST_DIR", str(kobest_dir))
    out = tmp_path / "out"
    polyplatypus.evaluate([f"m={tiny_gptneox_dir}"], [TASK], [0], output=out, limit=2, progress=False)
    assert "reused" not in capsys.readouterr().err  # nothing to reuse the first time
    scored.clear()
    polyplatypus.evaluate([f"m={tiny_gptneox_dir}"], [TASK], [0, 1], output=out, limit=2, progress=False)
    assert scored == [(TASK, 1)]
    err = capsys.readouterr().err
    assert f"reused 1 finished cell(s) of model m (same model, data and settings): {TASK} 0-shot" in err, err

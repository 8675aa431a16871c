"""`eval --model LABEL=ADAPTER_DIR`: a LoRA adapter scored on its base through PEFT, without
merging; its loglikelihoods equal the merged model's (reference and lm_eval: tasks)."""

from __future__ import annotations

import json

import pytest

from polyplatypus.cli import main
from polyplatypus.errors import ConfigError
from polyplatypus.eval.models import ModelSpec
from polyplatypus.eval.runner import evaluate

RECORDS = [
    {"instruction": "한국의 수도는?", "input": "", "output": "서울입니다."},
    {"instruction": "다음 문장이 참인가요?", "input": "한강은 서울을 흐른다.", "output": "예, 참입니다."},
]


@pytest.fixture(scope="module")
def adapter_and_merged(tmp_path_factory, tiny_gptneox_dir):
    """(adapter folder, merged folder) after a short run with a high learning rate."""
    from polyplatypus.train import TrainConfig, merge, train

    folder = tmp_path_factory.mktemp("adapter-eval")
    data = folder / "data.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS * 4), encoding="utf-8")
    train(
        TrainConfig(
            base=str(tiny_gptneox_dir),
            data=str(data),
            output=str(folder / "adapter"),
            batch_size=4,
            max_steps=3,
            learning_rate=2e-2,
            warmup_steps=0,
            lora_layers="all",
            cutoff_len=128,
            prompt_template="korean",
            report_to=[],
        ),
        progress=False,
    )
    return folder / "adapter", merge(folder / "adapter", folder / "merged")


def _loglikelihoods(out, label, stem, shots):
    lines = (out / "samples" / label / f"{stem}_{shots}shot.jsonl").read_text(encoding="utf-8").splitlines()
    return [value for line in lines for value in json.loads(line)["loglikelihoods"]]


def test_adapter_scores_as_its_merged_model(adapter_and_merged, tiny_gptneox_dir, kobest_dir, lm_eval_tasks, tmp_path):
    adapter, merged = adapter_and_merged
    out = tmp_path / "out"
    records = evaluate(
        models=[f"adapter={adapter}", f"merged={merged}", f"base={tiny_gptneox_dir}"],
        tasks=["kobest_boolq", "lm_eval:kmmlu_local"],
        shots=[0, 2],
        limit=4,
        batch_size=3,
        kobest_dir=str(kobest_dir),
        include_path=[str(lm_eval_tasks)],
        output=str(out),
        log_samples=True,
        progress=False,
    )
    assert len(records) == 12
    for stem in ("kobest_boolq", "lm_eval-kmmlu_local"):
        for shots in (0, 2):
            got = _loglikelihoods(out, "adapter", stem, shots)
            expected = _loglikelihoods(out, "merged", stem, shots)
            base = _loglikelihoods(out, "base", stem, shots)
            assert len(got) == len(expected) > 0
            # fp32: the merge adds B·A into W, PEFT adds x·A·B to x·W; they differ in rounding only
            assert max(abs(a - b) for a, b in zip(got, expected)) < 1e-4
            assert max(abs(a - b) for a, b in zip(got, base)) > 1e-3  # the adapter changes the scores

    stored = (json.loads(p.read_text()) for p in (out / "cells" / "adapter").glob("*"))
    cells = {(c["task"], c["shots"]): c for c in stored}
    cell = cells[("kobest_boolq", 0)]
    assert cell["model_path"] == str(tiny_gptneox_dir) and cell["adapter_path"] == str(adapter)
    assert cell["model_fingerprint"].startswith("sha256:") and " adapter sha256:" in cell["model_fingerprint"]
    results = json.loads((out / "results.json").read_text())
    assert {"label": "adapter", "path": str(tiny_gptneox_dir), "adapter": str(adapter)} in results["config"]["models"]
    tables = (out / "results.md").read_text()
    assert f"adapter: adapter {adapter} on base {tiny_gptneox_dir}" in tables
    lm_eval_file = next((out / "lm_eval" / "0-shot" / "adapter").glob("results_*.json"))
    assert f"pretrained={tiny_gptneox_dir},peft={adapter}" in lm_eval_file.read_text()

    # the same adapter named on an explicit base is the same model: its cells are reused
    again = evaluate(
        models=[f"adapter={tiny_gptneox_dir}::{adapter}"],
        tasks=["kobest_boolq"],
        shots=[0],
        limit=4,
        batch_size=3,
        kobest_dir=str(kobest_dir),
        output=str(out),
        progress=False,
    )
    assert again[0]["date"] == cell["date"] and again[0]["macro_f1"] == cell["macro_f1"]


def test_adapter_changes_are_seen_by_the_cell_key(adapter_and_merged, tmp_path):
    adapter, _ = adapter_and_merged
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in adapter.iterdir():
        if path.is_file():
            (copy / path.name).write_bytes(path.read_bytes())
    first = ModelSpec.parse(f"a={copy}").fingerprint()
    config = json.loads((copy / "adapter_config.json").read_text())
    config["lora_alpha"] *= 2  # the same weights at twice the scale: another model
    (copy / "adapter_config.json").write_text(json.dumps(config))
    assert ModelSpec.parse(f"a={copy}").fingerprint() != first


def test_model_spec_forms(adapter_and_merged, tiny_gptneox_dir, tmp_path):
    adapter, merged = adapter_and_merged
    assert ModelSpec.parse(str(adapter)) == ModelSpec("adapter", str(tiny_gptneox_dir), str(adapter))
    assert ModelSpec.parse(f"x={tiny_gptneox_dir}::{adapter}") == ModelSpec("x", str(tiny_gptneox_dir), str(adapter))
    assert ModelSpec.parse(f"{tiny_gptneox_dir}::{adapter}").label == "adapter"
    assert ModelSpec.parse(str(merged)) == ModelSpec("merged", str(merged))
    plus = tmp_path / "a+b"  # a '+' in a path is only a path
    plus.mkdir()
    assert ModelSpec.parse(str(plus)).path == str(plus)
    spec = ModelSpec.parse(f"x={tiny_gptneox_dir}::{adapter}")
    assert ModelSpec.parse(spec.text) == spec
    with pytest.raises(ConfigError, match="adapter folder does not exist"):
        ModelSpec.parse(f"{tiny_gptneox_dir}::{tmp_path / 'nowhere'}")


def test_non_lora_adapters_are_refused(adapter_and_merged, tmp_path, capsys):
    adapter, _ = adapter_and_merged
    ia3 = tmp_path / "ia3"
    ia3.mkdir()
    config = json.loads((adapter / "adapter_config.json").read_text())
    (ia3 / "adapter_config.json").write_text(json.dumps({**config, "peft_type": "IA3"}))
    (ia3 / "adapter_model.safetensors").write_bytes((adapter / "adapter_model.safetensors").read_bytes())
    assert (
        main(
            [
                "eval",
                "--model",
                f"x={ia3}",
                "--tasks",
                "kobest_boolq",
                "--shots",
                "0",
                "--output",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
    assert "adapter_config.json: peft_type 'IA3'; only LoRA adapters are supported" in capsys.readouterr().err

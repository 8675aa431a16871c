"""A key given twice in a --config, recipe or task YAML is refused with both lines (PyYAML
would keep the last one silently)."""

from __future__ import annotations

import pytest

from polyplatypus.cli import main
from polyplatypus.errors import ConfigError
from polyplatypus.pipeline.config import load_config
from polyplatypus.settings import read_yaml

RECIPE = """\
name: mini
base:
  model: org/model
data:
  sources: [data.jsonl]
train:
  learning_rate: 0.001
  lora_r: 8
  learning_rate: 0.01
eval:
  shots: [0, 5]
"""


def test_recipe_duplicate_key_names_both_lines(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message and "'train.learning_rate'" in message and "lines 7 and 9" in message


def test_top_level_and_list_item_duplicates(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("limit: 3\nshots: [0]\nlimit: 4\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'limit' is given twice, on lines 1 and 3"):
        read_yaml(path)
    path.write_text("models:\n  - {path: a, label: x, label: y}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'models.0.label' is given twice"):
        read_yaml(path)
    path.write_text("a: 1\nb:\n  a: 2\n", encoding="utf-8")  # the same name in two mappings is fine
    assert read_yaml(path)[0] == {"a": 1, "b": {"a": 2}}


def test_cli_config_duplicate_exits_2(tmp_path, capsys):
    path = tmp_path / "eval.yaml"
    path.write_text("tasks: [kobest_copa]\nlimit: 2\nlimit: 5\n", encoding="utf-8")
    assert main(["eval", "--config", str(path), "--model", "x=./nowhere", "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "'limit' is given twice, on lines 2 and 3" in err and str(path) in err
    assert not (tmp_path / "o").exists()

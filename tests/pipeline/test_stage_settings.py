"""Every field of the training, eval and curation settings works the same ways: as a command-line
flag, as a key of the command's ``--config`` file, as a key of the recipe's section and as a keyword
argument of the Python API; a good value arrives unchanged in the settings the stage runs with, a
bad one is refused by each with the same message.

The values come from each field's type and limits, so a new field is covered without editing this
file (unless its checks are a validator of its own: then it needs an entry in EXAMPLES).
"""

from __future__ import annotations

import re
import typing

import annotated_types
import pytest
import yaml

from polyplatypus.cli import main
from polyplatypus.data import curate as curate_module
from polyplatypus.data.config import CurateConfig
from polyplatypus.errors import ConfigError
from polyplatypus.eval import runner
from polyplatypus.eval.config import EvalConfig
from polyplatypus.pipeline.config import DataSection, EvalSection, TrainSection, stage_settings, validate_config
from polyplatypus.settings import _item_types, flag_of, option_name
from polyplatypus.train import recipe
from polyplatypus.train.config import TrainConfig

# (good value, bad value or None) for fields whose checks are validators of their own
EXAMPLES = {
    (EvalConfig, "models"): (["org/model-a", "b=org/model-b"], []),
    (EvalConfig, "tasks"): (["kobest_wic", "kobest_copa"], ["kobest_nope"]),
    (EvalConfig, "shots"): ([0, 3], [0, -1]),
    (EvalConfig, "batch_size"): ("auto", 0),
    (EvalConfig, "kobest_dir"): ("some/kobest", None),
    (EvalConfig, "limit"): (0.5, 1.5),
    (EvalConfig, "include_path"): (["my_tasks", "more_tasks"], None),
    (EvalConfig, "gen_kwargs"): ("max_gen_toks=32,until=Q:", "max_gen_toks=many"),
    (EvalConfig, "think_end_token"): ("</think>", ""),
    (EvalConfig, "chat_template_args"): ("reasoning_effort=low,depth=2", '{"reasoning_effort": low}'),
    (CurateConfig, "sources"): (["a.jsonl", "b.jsonl"], []),
    (CurateConfig, "output"): ("curated.json", "curated.csv"),
    (CurateConfig, "decontaminate"): (["kobest"], ["mmlu"]),
    (CurateConfig, "kobest_splits"): (["dev"], ["nope"]),
    (CurateConfig, "kobest_tasks"): (["copa", "wic"], ["nope"]),
    (CurateConfig, "kobest_dir"): ("some/kobest", None),
    (CurateConfig, "tokenizer"): ("org/tokenizer", 5),
    (TrainConfig, "lora_target_modules"): (["query_key_value", "dense"], None),
}
# the settings a call needs besides the one under test
REQUIRED = {
    EvalConfig: {"models": ["org/model"]},
    CurateConfig: {"sources": ["in.jsonl"], "output": "out.jsonl"},
    TrainConfig: {"base": "org/base", "data": "in.jsonl", "output": "out"},
}
# settings a field is refused without (its validator names them), given beside it in every way
NEEDS = {
    (TrainConfig, "system_prompt"): {"prompt_template": "chat"},
    (TrainConfig, "chat_template"): {"prompt_template": "chat"},
    (EvalConfig, "enable_thinking"): {"apply_chat_template": True, "think_end_token": "</think>"},
    (EvalConfig, "chat_template_args"): {"apply_chat_template": True},
    (EvalConfig, "fewshot_as_multiturn"): {"apply_chat_template": True},
}


def _required(model, name) -> dict:
    return {**REQUIRED[model], **NEEDS.get((model, name), {})}


SECTIONS = {
    EvalConfig: ("eval", EvalSection),
    CurateConfig: ("data", DataSection),
    TrainConfig: ("train", TrainSection),
}
COMMANDS = {EvalConfig: ["eval"], CurateConfig: ["data", "curate"], TrainConfig: ["train"]}
# the stage's Python API: its module, function and the name its errors give
API = {EvalConfig: (runner, "evaluate"), CurateConfig: (curate_module, "curate"), TrainConfig: (recipe, "train")}
MODELS = (EvalConfig, CurateConfig, TrainConfig)


def _limits(field) -> dict:
    found = {}
    for item in field.metadata:
        for name in ("gt", "ge", "lt", "le"):
            if isinstance(item, getattr(annotated_types, name.capitalize())):
                found[name] = getattr(item, name)
    return found


def _inside(value, limits) -> bool:
    return (
        value > limits.get("gt", float("-inf"))
        and value >= limits.get("ge", float("-inf"))
        and value < limits.get("lt", float("inf"))
        and value <= limits.get("le", float("inf"))
    )


def derive_example(model, name: str, field):
    """A good non-default value and a bad value (None: the type has none) from the field's type."""
    if (model, name) in EXAMPLES:
        return EXAMPLES[model, name]
    types = _item_types(field.annotation)
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    limits = _limits(field)
    listed = typing.get_origin(field.annotation) is list or any(
        typing.get_origin(a) is list for a in typing.get_args(field.annotation)
    )
    literal = [c for t in types if typing.get_origin(t) is typing.Literal for c in typing.get_args(t)]
    if literal:
        if listed:
            return [c for c in literal if [c] != default][:1], ["nope"]
        return next(c for c in literal if c != default), "nope"
    if types == [bool]:
        return (not default), "yes"
    if types == [int]:
        good = next(v for v in (2, 3, 7, 50, 300) if v != default and _inside(v, limits))
        bad = limits["ge"] - 1 if "ge" in limits else limits["gt"] if "gt" in limits else "x"
        return good, bad
    if types == [float]:
        good = next(v for v in (0.3, 0.7, 2.5, 7.0) if v != default and _inside(v, limits))
        bad = (limits.get("ge", limits.get("gt")) - 1) if ("ge" in limits or "gt" in limits) else "fast"
        return good, bad
    if types == [str]:
        return "custom-value", 5
    raise AssertionError(f"{model.__name__}.{name}: add an example value to EXAMPLES in this test")


CASES = [pytest.param(model, name, id=f"{model.__name__}.{name}") for model in MODELS for name in model.model_fields]


def _cli_words(model, name, value) -> list[str]:
    field = model.model_fields[name]
    flag = flag_of(field)
    option = flag.name or option_name(name)
    if value is None:
        return [flag.off] if flag.off else [option, "none"]
    if isinstance(value, bool):
        return [option if value else "--no-" + option[2:]]
    if isinstance(value, list):
        if flag.repeat:
            return [word for item in value for word in (option, str(item))]
        return [option, ",".join(map(str, value)) or "none"]
    return [option, str(value)]


def _cli_argv(model, name, value) -> list[str]:
    words = []
    for key, required in _required(model, name).items():
        if key != name:
            words += _cli_words(model, key, required)
    return COMMANDS[model] + words + _cli_words(model, name, value)


class _Built(Exception):
    """Raised by the spy with the settings a stage was about to run with."""

    def __init__(self, config):
        self.config = config


@pytest.fixture()
def spy(monkeypatch):
    """Stops evaluate(), curate() and train() right after they check their settings, keeping them."""
    for cls, (module, _) in API.items():

        def build(klass, *args, _cls=cls, **kwargs):
            raise _Built(_cls.build(*args, **kwargs))

        monkeypatch.setattr(module, cls.__name__, type(cls.__name__, (cls,), {"build": classmethod(build)}))


def _via_api(model, name, value):
    options = {**_required(model, name), name: value}
    module, function = API[model]
    try:
        getattr(module, function)(**options)
    except _Built as built:
        return built.config
    raise AssertionError("the stage ran without building its settings")


def _via_recipe(model, name, value):
    key, _ = SECTIONS[model]
    recipe = {"name": "x", "base": {"model": "org/base"}, "data": {"sources": ["in.jsonl"]}, "train": {}, "eval": {}}
    recipe[key].update(NEEDS.get((model, name), {}))
    recipe[key][name] = value
    config = validate_config(recipe, "recipe.yaml")
    section = getattr(config, key)
    pipeline_values = {k: v for k, v in REQUIRED[model].items() if k in section.pipeline_owned}
    return stage_settings(section, **pipeline_values)


def _via_cli(model, name, value, capsys):
    return _run_cli(_cli_argv(model, name, value), capsys)


def _via_config_file(model, name, value, capsys, tmp_path):
    """The value as a key of ``--config FILE`` (the other required settings in the file too)."""
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({**_required(model, name), name: value}, allow_unicode=True), encoding="utf-8")
    return path, _run_cli(COMMANDS[model] + ["--config", str(path)], capsys)


def _run_cli(argv, capsys):
    try:
        code = main(argv)
    except _Built as built:
        return built.config
    except SystemExit as exit:  # argparse refused the value
        code = exit.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("model,name", CASES)
def test_a_good_value_arrives_the_same_four_ways(model, name, spy, capsys, tmp_path):
    good, _ = derive_example(model, name, model.model_fields[name])
    expected = getattr(model(**{**_required(model, name), name: good}), name)
    assert _via_api(model, name, good).model_dump()[name] == expected
    from_cli = _via_cli(model, name, good, capsys)
    assert isinstance(from_cli, model), from_cli
    assert getattr(from_cli, name) == expected
    _, from_file = _via_config_file(model, name, good, capsys, tmp_path)
    assert isinstance(from_file, model), from_file
    assert getattr(from_file, name) == expected
    _, section = SECTIONS[model]
    if name in section.pipeline_owned:  # the run directory and `run --no-progress` give these
        with pytest.raises(ConfigError, match=rf"{name}: set by the pipeline"):
            _via_recipe(model, name, good)
    else:
        assert getattr(_via_recipe(model, name, good), name) == expected


@pytest.mark.parametrize("model,name", CASES)
def test_a_bad_value_is_refused_the_same_four_ways(model, name, spy, capsys, tmp_path):
    field = model.model_fields[name]
    _, bad = derive_example(model, name, field)
    if bad is None:
        pytest.skip(f"{name}: every value of its type is valid")
    with pytest.raises(ConfigError) as api_error:
        _via_api(model, name, bad)
    caller = f"{API[model][1]}()"
    message = str(api_error.value)
    where = re.match(rf"{re.escape(caller)}: {name}(\.\d+)?: ", message)  # .N: the list item at fault
    assert where, message
    problem = message[where.end() :].split(" (got ")[0]

    key, section = SECTIONS[model]
    if name not in section.pipeline_owned:
        with pytest.raises(ConfigError) as recipe_error:
            _via_recipe(model, name, bad)
        assert f"recipe.yaml: {key}.{name}" in str(recipe_error.value) and problem in str(recipe_error.value)

    path, (code, err) = _via_config_file(model, name, bad, capsys, tmp_path)
    assert code == 2 and re.search(rf"{re.escape(str(path))}, line \d+: {name}(\.\d+)?: ", err) and problem in err, err

    if set(_item_types(field.annotation)) <= {str, typing.Any} and not isinstance(bad, (list, str)):
        return  # the command line gives text: a non-text value cannot be typed there
    if _item_types(field.annotation) == [bool] or (bad == [] and flag_of(field).repeat):
        return  # a switch carries no value; a repeated flag given no times is a missing setting
    outcome = _via_cli(model, name, bad, capsys)
    assert not isinstance(outcome, model), f"{name}: the command line accepted {bad!r}"
    code, err = outcome
    flag = flag_of(field).name or option_name(name)
    assert code == 2 and flag in err and problem in err, err


@pytest.mark.parametrize("model", MODELS)
def test_a_config_file_gives_the_same_keys_and_flags_override_it(model, spy, capsys, tmp_path):
    path = tmp_path / "settings.yaml"
    if model is TrainConfig:
        path.write_text(
            "base: org/base\ndata: in.jsonl\noutput: out\nlora_target_modules: [q_proj, v_proj]\n"
            "report_to: []\nlora_r: 8\n",
            encoding="utf-8",
        )
        config = _via_cli_args(COMMANDS[model] + ["--config", str(path), "--report-to", "wandb", "--no-packing"])
        assert (config.lora_target_modules, config.report_to, config.lora_r, config.packing) == (
            ["q_proj", "v_proj"],
            ["wandb"],
            8,
            False,
        )
        path.write_text("base: org/base\ndata: in.jsonl\noutput: out\nlora_dropout: 1.5\n", encoding="utf-8")
        bad = "lora_dropout: Input should be less than 1"
    elif model is EvalConfig:
        path.write_text("models: [org/model]\nshots: [0, 5]\nlimit: 20\n", encoding="utf-8")
        config = _via_cli_args(COMMANDS[model] + ["--config", str(path), "--limit", "3"])
        assert (config.models, config.shots, config.limit, config.output) == (["org/model"], [0, 5], 3, "results")
        path.write_text("models: [org/model]\nshots: [0, -5]\n", encoding="utf-8")
        bad = "shots: shot counts must be >= 0"
    else:
        path.write_text(
            "sources: [in.jsonl]\noutput: out.jsonl\ndecontam_ngram: 7\ndedup_threshold: 0.5\n", encoding="utf-8"
        )
        config = _via_cli_args(COMMANDS[model] + ["--config", str(path), "--no-near-dedup"])
        assert (config.sources, config.decontam.ngram, config.dedup_threshold) == (["in.jsonl"], 7, None)
        path.write_text("sources: [in.jsonl]\noutput: out.jsonl\ndecontam_ngram: 0\n", encoding="utf-8")
        bad = "decontam_ngram: Input should be greater than or equal to 1"
    assert main(COMMANDS[model] + ["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line " in err and bad in err, err


def _via_cli_args(argv):
    try:
        main(argv)
    except _Built as built:
        return built.config
    raise AssertionError("the command ran without building its settings")

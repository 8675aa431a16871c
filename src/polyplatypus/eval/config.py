"""The typed evaluation settings: ``eval``'s flags, the recipe's ``eval`` section and the keyword
arguments of :func:`polyplatypus.eval.runner.evaluate`, defined once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, StrictBool, StrictFloat, StrictInt, field_validator

from polyplatypus.errors import ConfigError
from polyplatypus.models.loading import DTYPES
from polyplatypus.settings import Flag, PathText, Settings, comma_list
from polyplatypus.tasks.lm_eval_tasks import (
    DEFAULT_NEAR_TIES,
    NearTies,
    is_lm_eval_name,
    parse_chat_template_args,
    require_lm_eval,
    think_end_token_text,
)
from polyplatypus.tasks.registry import all_task_names, get_task, is_task_file

Csv = BeforeValidator(comma_list)


def _shot_counts(value: Any) -> Any:
    """``"0,5"`` (the command line's and the API's short form) -> ``[0, 5]``; a list is left to the
    field's strict type, so a YAML ``[0, "5"]`` is an error."""
    if isinstance(value, str):
        try:
            return [int(part) for part in comma_list(value)]
        except ValueError:
            raise ValueError(f"shots must be integers, got {value!r}") from None
    return value


def _one_or_more(value: Any) -> Any:
    """One model (a string or path) -> a list of one; model paths may contain commas."""
    return [value] if isinstance(value, (str, os.PathLike)) else value


class EvalConfig(Settings):
    """Everything ``eval`` needs: the grid (models x tasks x shot counts) and how to run it."""

    models: Annotated[
        list[PathText], BeforeValidator(_one_or_more), Flag(name="--model", repeat=True, metavar="[LABEL=]PATH")
    ] = Field(
        min_length=1,
        description="local model folder or hub id, repeatable; LABEL names the table row; a LoRA "
        "adapter folder is scored on its recorded base without merging, BASE::ADAPTER on another base",
    )
    tasks: Annotated[list[str], Csv] = Field(
        default_factory=all_task_names,
        min_length=1,
        description="comma-separated task names: ours (default: the five KoBEST tasks; also kohatespeech, "
        "kohatespeech_gen_bias), paths of task files (.yaml), or lm_eval:<task or group> (see docs/tasks.md)",
    )
    shots: Annotated[list[StrictInt], BeforeValidator(_shot_counts), Flag(metavar="SHOTS")] = Field(
        [0, 5, 10, 50], min_length=1, description="comma-separated few-shot counts"
    )
    output: Annotated[PathText | None, Flag(default="results")] = Field(
        None,
        description="folder for results.json, results.md, cells/ and samples/ (default: results; in the "
        "Python API none, nothing is written)",
    )
    kobest_dir: PathText | None = Field(
        None,
        description="folder with the KoBEST v1.0 TSVs (BoolQ/ COPA/ ...); default: $POLYPLATYPUS_KOBEST_DIR, "
        "else the hub",
    )
    hatespeech_dir: PathText | None = Field(
        None,
        description="folder with the Korean HateSpeech labeled TSVs (train.tsv, dev.tsv) for kohatespeech*; "
        "default: $POLYPLATYPUS_HATESPEECH_DIR",
    )
    limit: StrictInt | StrictFloat | None = Field(
        None,
        description="score only the first N documents after the reference's shuffle (lm_eval: tasks: the "
        "first N in split order, or a fraction below 1)",
    )
    dtype: Literal[DTYPES] = Field(  # type: ignore[valid-type]
        "auto", description="weights dtype; float16 reproduces the model card's runs on a GPU"
    )
    device: str = Field("auto", description="cpu, cuda, cuda:N or auto")
    device_map: str | None = Field(None, description="'auto' to spread a large model over the GPUs (accelerate)")
    batch_size: StrictInt | Literal["auto"] = Field(
        1,
        description="documents per forward batch (generation: rows decoded together), or 'auto' (scoring: from "
        "GPU memory, one row on a CPU; generation: as many rows as the key/value caches fit, on a CPU too)",
    )
    scorer: Literal["shared", "reference"] = Field(
        "shared", description="'shared' encodes each context once (fast); 'reference' forwards one row per choice"
    )
    log_samples: StrictBool = Field(
        False,
        description="write per-document JSONL under OUTPUT/samples/<model>/<task>_<k>shot.jsonl "
        "(lm_eval:NAME: lm_eval-NAME_<k>shot.jsonl; generative tasks: the prompt and generated text)",
    )
    progress: StrictBool = Field(True, description="show progress bars")
    # last, so results.json's config block keeps its earlier keys in their order
    include_path: Annotated[list[PathText] | None, Flag(repeat=True, metavar="DIR")] = Field(
        None, description="a folder of lm-evaluation-harness task YAML files for lm_eval: names, repeatable"
    )
    # lm_eval: tasks only, as lm_eval.simple_evaluate's arguments of the same names (docs/tasks.md)
    gen_kwargs: Annotated[str | None, Flag(metavar="KEY=VALUE,...")] = Field(
        None,
        description="generation settings for generate_until tasks, as lm-eval's --gen_kwargs (e.g. "
        "max_gen_toks=512,until=END); they update each task's generation_kwargs",
    )
    predict_only: StrictBool = Field(
        False,
        description="generate and log samples without computing metrics (lm-eval's --predict_only; as there, it "
        "turns --log-samples on: the samples are its only output)",
    )
    apply_chat_template: StrictBool = Field(
        False,
        description="format lm_eval: prompts with the model's chat template, as lm-eval's "
        "--apply_chat_template (turns --fewshot-as-multiturn on unless --no-fewshot-as-multiturn)",
    )
    fewshot_as_multiturn: StrictBool | None = Field(
        None,
        description="few-shot examples as alternating user/assistant turns (with --apply-chat-template; "
        "default: on with it)",
    )
    system_instruction: Annotated[str | None, Flag(metavar="TEXT")] = Field(
        None, description="system instruction before each lm_eval: prompt (a system turn under a chat template)"
    )
    # Thinking models, as lm-eval's HFLM model arguments of the same names (docs/tasks.md "Thinking models")
    think_end_token: Annotated[str | None, BeforeValidator(think_end_token_text), Flag(metavar="TEXT|ID")] = Field(
        None,
        description="thinking (reasoning) models write their reasoning before the answer: the text that ends it "
        "(e.g. '</think>') or its token id in digits; generative lm_eval: tasks score what follows its last "
        "occurrence. In lm-eval's hf order: generation stops at the first stop string, even inside the thinking; "
        "the thinking is then stripped, then the rest cut at the first stop string",
    )
    enable_thinking: StrictBool | None = Field(
        None,
        description="passed to the chat template as enable_thinking (with --apply-chat-template); "
        "--enable-thinking needs --think-end-token and generative tasks only, as in lm-eval; default: unset, "
        "the template's own default",
    )
    chat_template_args: Annotated[
        dict[str, Any] | None, BeforeValidator(parse_chat_template_args), Flag(metavar="KEY=VALUE,...|JSON")
    ] = Field(
        None,
        description="more arguments for the chat template (with --apply-chat-template), as KEY=VALUE,... "
        "(typed as --gen-kwargs) or a JSON object, e.g. reasoning_effort=low",
    )
    near_ties: NearTies = Field(
        DEFAULT_NEAR_TIES,
        description="generative lm_eval: tasks, at a step whose top two logits are within rounding of each other: "
        "redecide it by lm-eval hf's batch-1 path, so that the text equals hf at batch size 1 (such steps can be "
        "frequent in bfloat16/float16, and then slow), or keep the batch's own token (fast; the text may differ from batch 1 at those "
        "steps, as hf's own does at batch sizes above 1; each sample line counts them)",
    )

    # Where and how results are shown or kept, not what they are: left out of results.json's
    # record of the run's settings (every other field, present or future, is recorded).
    UNRECORDED: ClassVar[frozenset[str]] = frozenset(
        {"output", "kobest_dir", "hatespeech_dir", "log_samples", "progress"}
    )

    def recorded(self, **extra: Any) -> dict:
        """The ``config`` block of results.json: every recorded field, models as label and path,
        then ``extra`` (what the run resolved, such as the data source)."""
        from polyplatypus.eval.models import ModelSpec

        block = self.model_dump(mode="json", exclude=set(self.UNRECORDED))
        block["models"] = [
            {"label": s.label, "path": s.path, **({"adapter": s.adapter} if s.adapter else {})}
            for s in map(ModelSpec.parse, self.models)
        ]
        return {**block, **extra}

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, value):
        names, asked = [], {}  # asked: task name -> (as given, its task file)
        for name in value:
            try:
                if is_lm_eval_name(name):  # resolved by lm-eval's TaskManager when the grid is planned
                    require_lm_eval()
                    if str(name).strip() in names:
                        raise ConfigError(f"tasks repeat: {str(name).strip()!r}")
                    names.append(str(name).strip())
                    continue
                task = get_task(name)  # the short name (copa) is accepted too
                names.append(name if is_task_file(name) else task.name)
            except ConfigError as error:
                raise ValueError(str(error)) from None
            if task.name in asked:
                raise ValueError(_one_definition(task, name, *asked[task.name]))
            asked[task.name] = (name, task.file)
        return names

    @field_validator("gen_kwargs")
    @classmethod
    def _gen_kwargs(cls, value):
        from polyplatypus.tasks.lm_eval_tasks import parse_gen_kwargs

        if value is not None:
            try:
                parse_gen_kwargs(value)
            except ConfigError as error:
                raise ValueError(str(error).removeprefix("--gen-kwargs ")) from None
        return value

    @field_validator("enable_thinking")
    @classmethod
    def _thinking(cls, value, info):
        if value and info.data.get("think_end_token") is None:  # lm-eval's HFLM refuses it too
            raise ValueError(
                "enable_thinking needs think_end_token (--think-end-token): the text or token id that ends "
                "the thinking, so that it is stripped from the answer"
            )
        return value

    @field_validator("fewshot_as_multiturn")
    @classmethod
    def _multiturn(cls, value, info):
        if value and not info.data.get("apply_chat_template"):  # lm-eval refuses it too; it would do nothing
            raise ValueError(
                "fewshot_as_multiturn puts the few-shot examples in chat turns: give apply_chat_template too "
                "(--apply-chat-template, which turns it on by itself)"
            )
        return value

    @field_validator("enable_thinking", "chat_template_args")
    @classmethod
    def _template_options(cls, value, info):
        # lm-eval passes them to the chat template only: without one they would do nothing
        if value is not None and not info.data.get("apply_chat_template"):
            raise ValueError(
                f"{info.field_name} is passed to the chat template: give apply_chat_template too "
                "(--apply-chat-template)"
            )
        return value

    @property
    def template_args(self) -> dict:
        """What the chat template is given beside the messages, as HFLM merges it."""
        from polyplatypus.tasks.lm_eval_tasks import template_kwargs

        return template_kwargs(self.chat_template_args, self.enable_thinking)

    @property
    def samples_logged(self) -> bool:
        """Whether sample lines are written: --log-samples, or --predict-only, whose only output
        they are (lm-eval's --predict_only turns log_samples on)."""
        return self.log_samples or self.predict_only

    @property
    def multiturn(self) -> bool:
        """lm-eval's rule: few-shot as multiturn with a chat template unless turned off."""
        return self.apply_chat_template and self.fewshot_as_multiturn is not False

    def request_options(self, chat_template=None):
        """The options of :func:`polyplatypus.tasks.lm_eval_tasks.build_cell` under these settings."""
        from polyplatypus.tasks.lm_eval_tasks import RequestOptions, parse_gen_kwargs

        return RequestOptions(
            gen_kwargs=parse_gen_kwargs(self.gen_kwargs),
            predict_only=self.predict_only,
            system_instruction=self.system_instruction,
            apply_chat_template=self.apply_chat_template,
            fewshot_as_multiturn=self.multiturn,
            chat_template=chat_template,
            near_ties=self.near_ties,
            think_end_token=self.think_end_token,
            enable_thinking=self.enable_thinking,
            chat_template_args=self.chat_template_args,
        )

    @field_validator("limit")
    @classmethod
    def _limit(cls, value):
        if isinstance(value, float) and not 0 < value < 1:
            raise ValueError("a limit is a number of documents (an integer >= 1) or a fraction between 0 and 1")
        if isinstance(value, int) and value < 1:
            raise ValueError("Input should be greater than or equal to 1")
        return value

    @property
    def data_dirs(self) -> dict[str, str | None]:
        """The folder given for each data source a task file may name (None: its default)."""
        from polyplatypus.data.task_data import source_dirs

        return source_dirs(self)

    @field_validator("shots")
    @classmethod
    def _shots(cls, value):
        if any(k < 0 for k in value):
            raise ValueError("shot counts must be >= 0")
        if len(set(value)) != len(value):
            raise ValueError("shot counts repeat")
        return value

    @field_validator("batch_size", mode="before")
    @classmethod
    def _batch(cls, value):
        if value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError("expected a positive integer or 'auto'")
        return value


def _one_definition(task, name: str, earlier: str, earlier_file) -> str:
    """Why a second task under one name is refused: one name, one definition (and one cell) per run."""
    if task.file is not None and earlier_file is not None and Path(task.file).resolve() != Path(earlier_file).resolve():
        return (
            f"two definitions of task {task.name!r}: {earlier_file} and {task.file}; "
            "their cells would share one name: give the task in your file another name (its name: key)"
        )
    return f"tasks repeat: {earlier!r} and {name!r} are both {task.name}"

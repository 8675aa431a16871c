"""Reading one task file into a :class:`~polyplatypus.tasks.task.ChoiceTask`.

Every problem is a :class:`TaskDefinitionError` (a ConfigError: exit 2) naming the task file and
the line of the key at fault, found before any data or model is loaded: a missing or unknown key,
a value of the wrong kind, a template naming a field that no column or hook gives, a label that
cannot index the choices.
"""

from __future__ import annotations

import string
from pathlib import Path

from pydantic import ValidationError

from polyplatypus.errors import ConfigError
from polyplatypus.settings import describe_validation_error, read_yaml
from polyplatypus.tasks.hooks import HOOKS
from polyplatypus.tasks.schema import TaskFile
from polyplatypus.tasks.task import ChoiceTask

#: Choices a label column of each type can index (a ``class`` column: as many as its names).
_LABEL_VALUES = {"bool": 2, "choice": 2}


class TaskDefinitionError(ConfigError):
    """A task file is malformed."""


def template_fields(template: str) -> list[str]:
    """The ``{field}`` names a template uses (``{{`` and ``}}`` are literal braces)."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        raise ValueError(f"not a valid template ({error}): {template!r}") from None


def load_task_file(path: str | Path) -> ChoiceTask:
    """The task described by the YAML file at ``path``."""
    path = Path(path)
    try:
        data, lines = read_yaml(path, expected="task fields")
    except ConfigError as error:
        raise TaskDefinitionError(f"task file {error}") from None
    try:
        spec = TaskFile(**data)
    except ValidationError as error:
        message = describe_validation_error(
            error, str(path), model=TaskFile, lines=lines, heading=f"invalid task file {path}"
        )
        raise TaskDefinitionError(message.replace("missing required setting", "missing required field")) from None
    task = _build(spec, path, lines, data)
    _check(task, spec)
    return task


def _build(spec: TaskFile, path: Path, lines: dict, data: dict) -> ChoiceTask:
    hook = HOOKS.get(spec.hook) if spec.hook else None
    prompt, choices = spec.prompt, tuple(spec.choices)

    def fields_of(doc: dict) -> dict:
        return {**doc, **hook.compute(doc)} if hook else doc

    def doc_to_text(doc: dict) -> str:
        return prompt.format_map(fields_of(doc))

    def doc_to_choices(doc: dict) -> list[str]:
        return [choice.format_map(doc) for choice in choices]

    source = spec.data.hub.name if spec.data.hub is not None else spec.data.source
    return ChoiceTask(
        name=spec.name,
        source=source,
        title=spec.title,
        doc_to_text=doc_to_text,
        doc_to_choices=doc_to_choices,
        target_prefix=spec.target_prefix,
        continuation_prefix=spec.continuation_prefix,
        strip_context=spec.strip_context,
        length_normalized="acc_norm" in spec.metrics,
        eval_split=spec.eval_split,
        fewshot_split=spec.fewshot.split,
        label_field=spec.label,
        version=spec.version,
        default=spec.default,
        order=spec.order,
        fewshot_draw=spec.fewshot.draw,
        data=spec.data,
        text_fields=tuple(spec.decontamination.fields),
        standalone_fields=tuple(spec.decontamination.standalone),
        file=path,
        lines=lines,
        definition=data,
    )


def _check(task: ChoiceTask, spec: TaskFile) -> None:
    """The cross-field rules a schema cannot say; each error names the key's line."""

    def fail(message: str, *key) -> None:
        raise TaskDefinitionError(f"{task.where(*key)}: {message}")

    if spec.name != task.file.stem:
        fail(f"name {spec.name!r} differs from the file name {task.file.name!r}", "name")
    columns = spec.data.columns
    hook = None
    if spec.hook is not None:
        if spec.hook not in HOOKS:
            fail(f"unknown hook {spec.hook!r}; known hooks: {', '.join(sorted(HOOKS))}", "hook")
        hook = HOOKS[spec.hook]
        for needed in hook.needs:
            if needed not in columns:
                fail(f"hook {hook.name!r} reads the field {needed!r}, which no column gives", "hook")
    known = set(columns) | set(hook.provides if hook else ())
    for key, template in [(("prompt",), spec.prompt)] + [(("choices", i), c) for i, c in enumerate(spec.choices)]:
        try:
            used = template_fields(template)
        except ValueError as error:
            fail(str(error), *key)
        allowed = known if key == ("prompt",) else set(columns)
        for name in used:
            if name not in allowed:
                fail(
                    f"template names the field {{{name}}}, which no column"
                    + (" or hook" if key == ("prompt",) else "")
                    + f" gives; columns: {', '.join(columns)}",
                    *key,
                )
    for key, split in ((("eval_split",), spec.eval_split), (("fewshot", "split"), spec.fewshot.split)):
        if split not in spec.data.splits:
            fail(f"split {split!r} is not among data.splits ({', '.join(spec.data.splits)})", *key)
    if spec.label not in columns:
        fail(f"label field {spec.label!r} is not a column; columns: {', '.join(columns)}", "label")
    label = columns[spec.label]
    values = len(label.names) if label.type == "class" else _LABEL_VALUES.get(label.type)
    if label.type == "text":
        fail(f"label column {spec.label!r} is text; a label is int, bool, choice or class", "label")
    if values is not None and values > len(spec.choices):
        fail(
            f"label {spec.label!r} takes {values} values but there are only {len(spec.choices)} choices",
            "data",
            "columns",
            spec.label,
        )
    for key in ("fields", "standalone"):
        for name in getattr(spec.decontamination, key):
            if name not in columns:
                fail(f"decontamination.{key} names {name!r}, which is not a column", "decontamination", key)
    if not set(spec.decontamination.standalone) <= set(spec.decontamination.fields):
        fail("decontamination.standalone must be among decontamination.fields", "decontamination", "standalone")

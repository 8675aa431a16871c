"""What every stage's settings share: one typed field is at once a command-line flag, a YAML key
(in the stage's own ``--config`` file and in its section of a recipe) and a keyword argument of
the Python API, with the same validation everywhere.

A stage declares a :class:`Settings` subclass (``TrainConfig``, ``EvalConfig``, ``CurateConfig``);
this module reads YAML (:func:`read_yaml`, with the line of every key), turns pydantic errors into
one message per problem naming where the value came from (:func:`describe_validation_error`:
``FILE, line N``, ``command-line option --flag`` or ``command line (--set KEY=VALUE)``), and makes
argparse flags from the fields (:func:`add_flags`, :meth:`Settings.from_args`).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Callable, Mapping

from pydantic import BaseModel, BeforeValidator, ConfigDict, TypeAdapter, ValidationError

from polyplatypus.errors import ConfigError

# --------------------------------------------------------------------------------- value types

# A decimal number as YAML writes it: PyYAML reads ``4e-4`` (no dot) as a string, so such strings
# are accepted for float fields; anything else that is not a number (``true``, ``"fast"``, ``"nan"``)
# is an error. Integer and boolean fields are strict (StrictInt, StrictBool): ``batch_size: true``
# or ``lora_r: "16"`` is an error, never a silent conversion.
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _yaml_number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("Input should be a valid number, not a boolean")
    if isinstance(value, str):
        if not _NUMBER.fullmatch(value.strip()):
            raise ValueError("Input should be a valid number")
        return float(value)
    return value


Number = Annotated[float, BeforeValidator(_yaml_number)]


def _path_text(value: Any) -> Any:
    return os.fspath(value) if isinstance(value, os.PathLike) else value


# A path or name as text; the Python API may pass a pathlib.Path.
PathText = Annotated[str, BeforeValidator(_path_text)]


def comma_list(value: Any) -> Any:
    """``"a,b"`` -> ``["a", "b"]``: the command line's (and the Python API's) short form of a list;
    a YAML list or anything else is left to the field's own type."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# --------------------------------------------------------------------------------- YAML


def read_yaml(path: str | Path, *, expected: str = "settings") -> tuple[dict, dict[tuple, int]]:
    """The mapping in a YAML file and the 1-based line of each of its keys (by key path)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of {expected} at the top level, got {type(data).__name__}")
    check_unique_keys(path, text)
    return data, line_index(text)


def check_unique_keys(path: str | Path, text: str) -> None:
    """A key given twice in one mapping is an error naming both lines (PyYAML keeps the last one
    silently, so the first line would be ignored without a word)."""
    import yaml

    def walk(node, keys):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    sub = keys + (str(key.value),)
                    if (key.tag, key.value) in seen:
                        raise ConfigError(
                            f"{path}: key {'.'.join(sub)!r} is given twice, on lines "
                            f"{seen[(key.tag, key.value)]} and {key.start_mark.line + 1}; keep one"
                        )
                    seen[(key.tag, key.value)] = key.start_mark.line + 1
                    walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, keys + (str(index),))

    walk(yaml.compose(text), ())


def line_index(text: str) -> dict[tuple, int]:
    """1-based line of every mapping key (and list item) in a YAML text, by key path."""
    import yaml

    lines: dict[tuple, int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = path + (str(key.value),)
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines.setdefault(path + (index,), item.start_mark.line + 1)
                walk(item, path + (index,))

    walk(root, ())
    return lines


# --------------------------------------------------------------------------------- errors


def option_name(key: str) -> str:
    """The command-line flag of a setting: ``lora_r`` -> ``--lora-r``."""
    return "--" + str(key).replace("_", "-")


def unknown_key_message(key: str, known: typing.Iterable[str], prefix: tuple = ()) -> str:
    """``unknown key 'eval.shot_counts' (did you mean 'eval.shots'?); known keys here: ...``."""
    known = list(known)
    dotted = ".".join([*map(str, prefix), str(key)])
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f" (did you mean {'.'.join([*map(str, prefix), close[0]])!r}?)" if close else ""
    return f"unknown key {dotted!r}{hint}; known keys here: {', '.join(known)}"


def _sub_model(model: Any, part) -> Any:
    """The settings model one key below ``model`` (through ``X | None`` and lists), if any."""
    field = getattr(model, "model_fields", {}).get(part)
    if field is None:
        return None
    annotation = field.annotation
    candidates = [annotation, *typing.get_args(annotation)]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def _model_at(root: Any, path: tuple) -> Any:
    model = root
    for part in path:
        model = _sub_model(model, part)
        if model is None:
            return None
    return model


def _field_path(root: Any, loc: tuple) -> tuple:
    """An error location without the union-member names pydantic adds (``int``,
    ``literal['auto']``, ``function-after[...]``, model names): only keys of the settings
    models and list indices are kept."""
    path: list = []
    model = root
    for part in loc:
        if isinstance(part, int):
            path.append(part)
            continue
        if model is not None and part in getattr(model, "model_fields", {}):
            path.append(part)
            model = _sub_model(model, part)
        elif not _looks_like_tag(part):
            path.append(part)  # an unknown key, or a key inside a plain mapping
            model = None
    return tuple(path)


def _looks_like_tag(part: str) -> bool:
    return "[" in part or part in ("int", "str", "float", "bool", "none") or part[:1].isupper()


def known_keys(model: Any) -> list[str]:
    """Keys a user may write for ``model``: its fields less those another part of the program fills
    in (a pipeline section's ``pipeline_owned``)."""
    owned = getattr(model, "pipeline_owned", {}) or {}
    return [k for k in model.model_fields if k not in owned]


def describe_validation_error(
    error: ValidationError,
    source: str,
    *,
    model: Any = None,
    lines: Mapping[tuple, int] | None = None,
    origins: Mapping[tuple, str] | None = None,
    flags: Mapping[str, str] | None = None,
    heading: str = "invalid config",
) -> str:
    """One line per problem, each prefixed with where its value came from: ``origins[path]`` for a
    value given elsewhere than the file (``command-line option --lora-r``, ``command line (--set
    eval.limit=x)``; a path covers the keys under it), else ``SOURCE, line N`` where ``lines``
    knows the key, else ``SOURCE``. ``flags`` (top-level key -> flag) makes a missing setting's
    message say which flag gives it. Several problems are listed under ``heading``."""
    lines = lines or {}
    origins = origins or {}
    messages = []
    for item in error.errors():
        loc = _field_path(model, tuple(item["loc"])) if model is not None else tuple(item["loc"])
        key = ".".join(str(p) for p in loc)
        given = next((origins[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in origins), None)
        if given is not None:
            where = given
        else:
            line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
            where = f"{source}, line {line}" if line else source
            below = [
                text for path, text in origins.items() if path[: len(loc)] == loc and text.startswith("command line (")
            ]
            if below:  # a check of a section that a --set changed: either may be the cause
                where += f" (with {' '.join(b.removeprefix('command line (').removesuffix(')') for b in below)})"
        if item["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1]) if model is not None else None
            known = known_keys(parent) if parent is not None else []
            messages.append(
                f"{where}: " + (unknown_key_message(str(loc[-1]), known, loc[:-1]) if known else f"unknown key {key!r}")
            )
        elif item["type"] == "missing":
            hint = ""
            if flags is not None and len(loc) == 1 and key in flags:
                hint = f" (give {flags[key]} or set {key} in the config file)"
            messages.append(f"{where}: missing required setting {key!r}{hint}")
        else:
            got = item.get("input")
            shown = "" if isinstance(got, Mapping) else f" (got {got!r})"
            message = item["msg"].removeprefix("Value error, ")
            messages.append(f"{where}: {key}: {message}{shown}" if key else f"{where}: {message}")
    unique = list(dict.fromkeys(messages))
    return f"{heading}:\n  " + "\n  ".join(unique) if len(unique) > 1 else unique[0]


# --------------------------------------------------------------------------------- flags


_MISSING = object()


@dataclass(frozen=True)
class Flag:
    """How a setting is spelled on the command line where ``--field-name VALUE`` is not it.

    Put it in the field's annotation: ``models: Annotated[list[str], Flag(name="--model",
    repeat=True)]``. Lists are otherwise one comma-separated value (``--shots 0,5``, ``none`` for
    an empty list; the space-separated ``--shots 0 5`` is refused, see :func:`unrecognized_message`);
    booleans get ``--x / --no-x``.
    """

    name: str | None = None  # the flag, if not --field-name
    metavar: str | None = None
    repeat: bool = False  # a list given by repeating the flag (--model A --model B)
    off: str | None = None  # a second flag that sets the setting to None (--no-near-dedup)
    off_help: str = ""
    default: Any = _MISSING  # the command's default, where it differs from the API's
    positional: bool = False  # a list given as the command's positional words (report RESULTS...)


def flag_of(field) -> Flag:
    return next((m for m in field.metadata if isinstance(m, Flag)), Flag())


def _unwrap(annotation):
    """``Annotated[int, Strict()]`` -> ``int`` (the metadata is the model's business, not argparse's)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _members(annotation) -> list:
    """The types a value may have, ``None`` left out: ``int | str | None`` -> ``[int, str]``."""
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) in (typing.Union, UnionType):
        return [_unwrap(a) for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _is_list(annotation) -> bool:
    return any(typing.get_origin(m) is list for m in _members(annotation))


def _item_types(annotation) -> list:
    """The scalar types one command-line word may stand for."""
    types = []
    for member in _members(annotation):
        if typing.get_origin(member) is list:
            types += _members(typing.get_args(member)[0]) if typing.get_args(member) else [str]
        else:
            types.append(member)
    return types


def _choices(annotation) -> list | None:
    literal = [m for m in _item_types(annotation) if typing.get_origin(m) is typing.Literal]
    return [c for m in literal for c in typing.get_args(m)] if literal else None


def _scalar(text: str, types: list) -> Any:
    """One command-line word as the first of ``types`` it reads as (ints before floats before str)."""
    for kind in (int, float):
        if kind in types:
            try:
                return kind(text)
            except ValueError:
                if len(types) == 1:
                    raise argparse.ArgumentTypeError(  # pydantic's wording, as from a file
                        f"Input should be a valid {'integer' if kind is int else 'number'} (got {text!r})"
                    ) from None
    return text


def _show(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "none"
    return str(value)


def _field_default(field) -> Any:
    if field.default_factory is not None:
        return field.default_factory()
    return field.default


def add_flags(parser: argparse.ArgumentParser, model: type[BaseModel], *, check: bool = True) -> None:
    """A flag for every field of ``model``: ``--field-name`` (or its :class:`Flag`), the field's
    description as help. Unset flags stay ``None`` so that only the flags given override a
    ``--config`` file; :meth:`Settings.from_args` collects them. With ``check``, each value is
    checked against its field's type and limits as it is parsed (argparse's usage error, exit 2);
    checks between fields and the model's own validators run when the settings are built."""
    comma_lists = list(parser.get_default(LIST_FLAGS) or ())
    for name, field in model.model_fields.items():
        flag = flag_of(field)
        option = flag.name or option_name(name)
        help_text = field.description or ""
        default = (
            flag.default if flag.default is not _MISSING else (None if field.is_required() else _field_default(field))
        )
        if not field.is_required() and "default" not in help_text:
            help_text += f" (default: {_show(default)})"
        if flag.positional:
            parser.add_argument(
                name,
                nargs="+" if field.is_required() else "*",
                type=_converter(model, name, field, flag, check),
                metavar=flag.metavar or name.upper(),
                help=help_text,
            )
            continue
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": help_text}
        if flag.metavar:
            kwargs["metavar"] = flag.metavar
        types = _item_types(field.annotation)
        if types == [bool]:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = _converter(model, name, field, flag, check)
            if flag.repeat:
                kwargs["action"] = "append"
            elif _is_list(field.annotation):
                comma_lists.append(option)
            choices = _choices(field.annotation)
            only_choices = all(typing.get_origin(t) is typing.Literal for t in _item_types(field.annotation))
            if choices and only_choices and "metavar" not in kwargs:
                kwargs["metavar"] = (
                    ("{" + ",".join(map(str, choices)) + "}")
                    if not _is_list(field.annotation)
                    else "|".join(map(str, choices)) + "[,...]"
                )
        parser.add_argument(option, **kwargs)
        if flag.off:
            parser.add_argument(flag.off, dest=name, action="store_const", const=_OFF, help=flag.off_help)
    parser.set_defaults(**{LIST_FLAGS: tuple(comma_lists)})


# The parsed arguments carry their command's comma-separated list flags under this name, so that
# words argparse could not place can be recognised as the old space-separated form.
LIST_FLAGS = "_comma_list_flags"


def _is_option(word: str) -> bool:
    return word.startswith("-") and len(word) > 1 and not _NUMBER.fullmatch(word)


def unrecognized_message(argv: list[str], unrecognized: list[str], list_flags: typing.Iterable[str]) -> str:
    """argparse's ``unrecognized arguments`` error, or, where the words left over follow a list
    flag's value (``--lora-target-modules a b``: the form ``train`` once took), the comma-separated
    form to write instead."""
    list_flags, stray = set(list_flags), set(unrecognized)
    for index, word in enumerate(argv):
        option, joined, value = word.partition("=")
        if option not in list_flags:
            continue
        words = [value] if joined else argv[index + 1 : index + 2]
        end = start = index + 1 + len(words) - bool(joined)
        while end < len(argv) and not _is_option(argv[end]):
            end += 1
        if start < end and argv[start] in stray:
            words += argv[start:end]
            return (
                f"{option} takes one comma-separated list: write {option} {','.join(words)} "
                f"(the space-separated form {option} {' '.join(words)} is no longer accepted)"
            )
    return f"unrecognized arguments: {' '.join(unrecognized)}"


class _Off:
    """The value of an ``off`` flag: the setting is None (given, unlike an unset flag)."""

    def __repr__(self) -> str:
        return "none"


_OFF = _Off()


def _converter(model, name: str, field, flag: Flag, check: bool) -> Callable[[str], Any]:
    types = [t for t in _item_types(field.annotation) if typing.get_origin(t) is not typing.Literal] or [str]
    one_word_each = flag.repeat or flag.positional  # a list given word by word, not comma-separated
    many = _is_list(field.annotation) and not one_word_each
    metadata = [m for m in field.metadata if not isinstance(m, Flag)]
    annotation = Annotated[(field.annotation, *metadata)] if metadata else field.annotation
    adapter = TypeAdapter(annotation) if check and not one_word_each else None

    nullable = type(None) in typing.get_args(_unwrap(field.annotation))
    choices = [str(c) for c in _choices(field.annotation) or ()]

    def convert(text: str) -> Any:
        if nullable and not many and text.strip().lower() == "none":
            return _OFF  # given, and None
        if many:
            value = (
                []
                if text.strip().lower() == "none"
                else [part if part in choices else _scalar(part, types) for part in comma_list(text)]
            )
        else:
            value = text if text in choices else _scalar(text, types)
        if adapter is not None:
            try:
                adapter.validate_python(value)
            except ValidationError as error:
                problem = error.errors()[0]
                raise argparse.ArgumentTypeError(
                    f"{problem['msg'].removeprefix('Value error, ')} (got {text!r})"
                ) from None
        return value

    convert.__name__ = name  # argparse names the type in some messages
    return convert


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="YAML file of settings (keys as the flags, with _); flags given override it",
    )


# --------------------------------------------------------------------------------- settings


class Settings(BaseModel):
    """A stage's settings: build from YAML and flags (:meth:`load`, :meth:`from_args`) or from
    keyword arguments (:meth:`build`); every error names where the bad value came from."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @classmethod
    def flag_names(cls) -> dict[str, str]:
        return {name: flag_of(field).name or option_name(name) for name, field in cls.model_fields.items()}

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        source: str = "config",
        origins: Mapping[str, str] | None = None,
        lines: Mapping[tuple, int] | None = None,
        name_flags: bool = True,
    ):
        """Build from a mapping (YAML contents plus overrides); errors name where each key came
        from: ``origins[key]`` (e.g. ``command-line option --lora-r``) if given, else ``source``
        and the key's line in ``lines``. ``kebab-case`` keys are accepted too."""
        origins = {str(k).replace("-", "_"): v for k, v in (origins or {}).items()}
        lines = {(str(path[0]).replace("-", "_"), *path[1:]): n for path, n in (lines or {}).items() if path}
        normalized = {}
        for key, value in data.items():
            name = str(key).replace("-", "_")
            if name not in cls.model_fields:
                line = lines.get((name,))
                where = origins.get(name) or (f"{source}, line {line}" if line else source)
                raise ConfigError(f"{where}: {unknown_key_message(name, known_keys(cls))}")
            normalized[name] = value
        try:
            return cls(**normalized)
        except ValidationError as error:
            raise ConfigError(
                describe_validation_error(
                    error,
                    source,
                    model=cls,
                    lines=lines,
                    origins={(k,): v for k, v in origins.items()},
                    flags=cls.flag_names() if name_flags else None,
                )
            ) from None

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any):
        """Defaults, then the YAML file at ``path`` (if any), then ``overrides`` (non-None values:
        the command-line flags, named ``--flag`` in error messages)."""
        return cls._layered(path, {k.replace("-", "_"): v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_args(cls, args: argparse.Namespace):
        """The settings of parsed arguments (:func:`add_flags`): defaults (the command's own where
        a :class:`Flag` has one) < ``--config`` file < the flags given."""
        given = {}
        for name in cls.model_fields:
            value = getattr(args, name, None)
            if value is not None:
                given[name] = None if value is _OFF else value
        command_defaults = {
            name: flag_of(field).default
            for name, field in cls.model_fields.items()
            if flag_of(field).default is not _MISSING
        }
        return cls._layered(getattr(args, "config", None), given, command_defaults)

    @classmethod
    def _layered(cls, path, given: dict, defaults: Mapping[str, Any] | None = None):
        data: dict[str, Any] = dict(defaults or {})
        lines: dict[tuple, int] = {}
        source = "command line"
        if path is not None:
            raw, lines = read_yaml(path)
            data.update({str(k).replace("-", "_"): v for k, v in raw.items()})
            source = str(path)
        data.update(given)
        origins = {}
        for key, value in given.items():
            field = cls.model_fields.get(key)
            flag = flag_of(field) if field is not None else Flag()
            shown = flag.off if value is None and flag.off else flag.name or option_name(key)
            origins[key] = f"command-line option {shown}"
        return cls.from_mapping(data, source=source, origins=origins, lines=lines)

    @classmethod
    def build(cls, settings=None, *, caller: str, **options: Any):
        """The Python API's settings: ``settings`` (an instance) updated with keyword ``options``,
        checked like a file or the flags; errors name ``caller`` (e.g. ``curate()``)."""
        if settings is not None and not isinstance(settings, cls):
            raise ConfigError(f"{caller}: config must be a {cls.__name__}, got {type(settings).__name__}")
        if settings is not None and not options:
            return settings
        data = settings.model_dump() if settings is not None else {}
        data.update(options)
        return cls.from_mapping(data, source=caller, name_flags=False)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def prefixed_fields(model: type[BaseModel], prefix: str) -> dict[str, tuple]:
    """``model``'s fields renamed ``prefix + name``, for :func:`pydantic.create_model`: a group of
    settings (``DecontamConfig``) that the flags, YAML keys and keyword arguments spell flat
    (``--decontam-threshold``, ``decontam_threshold``) is defined once, in its own class."""
    return {prefix + name: (field.annotation, field) for name, field in model.model_fields.items()}

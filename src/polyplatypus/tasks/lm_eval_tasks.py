"""lm-evaluation-harness tasks, named ``lm_eval:<task or group>``, with lm-eval's own machinery.

Names are found by lm-eval's ``TaskManager`` (its own task folder, then the user's
``--include-path`` folders), and each (task, shots) cell's requests are built by the task's own
``build_all_requests``: ``include:``, ``!function``, ``process_docs``, ``custom_dataset``,
groups and ``fewshot_split`` behave exactly as in lm-eval because lm-eval runs them. What this
module adds is what lm-eval does not: errors before any model is loaded (an unknown name with
close names suggested, a user YAML that does not parse with its line, a missing data file, an
output type the shared-context engine does not score, more shots than the few-shot split holds),
and a fingerprint of each cell (the tasks' ``metadata.version`` plus a hash of the built requests).

Settings follow ``lm_eval.simple_evaluate``'s defaults: the global ``random``/``numpy`` seeds
(0 / 1234) are set before the data is loaded, each task's few-shot sampler is a
``random.Random(1234)`` advancing document by document, ``--shots`` becomes ``num_fewshot``
unless the task's config fixes it at 0, and ``--limit`` is lm-eval's (the first N documents, or a
fraction of them below 1).

lm-eval is an optional dependency (``pip install 'polyplatypus[lm-eval]'``), imported only here
and only when an ``lm_eval:`` name is used.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import logging
import os
import random
import re
import sys
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Sequence, get_args

from polyplatypus.errors import ConfigError, DataError
from polyplatypus.utils.quiet import labelled_bars, without_dataset_bars

PREFIX = "lm_eval:"
LM_EVAL_VERSION = "0.4.13"  # the engine overrides a private HFLM method: exactly this version
INSTALL_HINT = "pip install 'polyplatypus[lm-eval]'"
# lm_eval.simple_evaluate's defaults
RANDOM_SEED = 0
NUMPY_SEED = 1234
FEWSHOT_SEED = 1234
# What eval runs: loglikelihoods by the shared-context engine, generations by SharedContextLM.generate_until.
SCORED_OUTPUT_TYPES = ("multiple_choice", "loglikelihood", "generate_until")
GENERATIVE = "generate_until"


# What generation does at a step whose top two logits are within rounding of each other
# (polyplatypus.eval.generation.GenerationEngine): "redecide" it by HFLM's batch-1 path (the text is
# HFLM's at batch size 1), or "keep" the batch's own token (counted).
NearTies = Literal["redecide", "keep"]
NEAR_TIES: tuple[str, ...] = get_args(NearTies)
DEFAULT_NEAR_TIES = "redecide"


@dataclass(frozen=True)
class RequestOptions:
    """How requests are built and scored beyond the task files, as ``lm_eval.simple_evaluate``'s
    arguments of the same names: ``gen_kwargs`` update every generative task's
    ``generation_kwargs``; ``predict_only`` replaces the metrics by lm-eval's ``bypass``; the chat
    options go to ``Task.build_all_requests`` (``chat_template``: lm-eval's
    ``HFLM.apply_chat_template`` over the model's tokenizer, :func:`chat_template_of`)."""

    gen_kwargs: dict | None = None
    predict_only: bool = False
    system_instruction: str | None = None
    apply_chat_template: bool = False
    fewshot_as_multiturn: bool = False
    chat_template: Any = None
    # generation at a step whose top two logits are within rounding (NearTies)
    near_ties: str = DEFAULT_NEAR_TIES
    # HFLM's thinking-model arguments (lm-eval's --model_args), see model_args()
    think_end_token: str | None = None
    enable_thinking: bool | None = None
    chat_template_args: dict | None = None

    def model_args(self) -> dict:
        """The thinking-model arguments given, as ``HFLM`` takes them (its names): they decide the
        answers (``think_end_token``) and, under a chat template, the prompts; part of the key."""
        values = {
            "think_end_token": self.think_end_token,
            "enable_thinking": self.enable_thinking,
            "chat_template_args": self.chat_template_args or None,
        }
        return {k: v for k, v in values.items() if v is not None}

    def recorded(self) -> dict:
        """The options that change requests or metrics, where not lm-eval's defaults (fingerprint, key)."""
        values = {
            "gen_kwargs": self.gen_kwargs,
            "predict_only": self.predict_only,
            "system_instruction": self.system_instruction,
            "apply_chat_template": self.apply_chat_template,
            "fewshot_as_multiturn": self.fewshot_as_multiturn and self.apply_chat_template,
            "near_ties": None if self.near_ties == DEFAULT_NEAR_TIES else self.near_ties,  # older cells keep their key
        }
        return {k: v for k, v in values.items() if v not in (None, False)}


def template_kwargs(chat_template_args: dict | None, enable_thinking: bool | None) -> dict:
    """What ``HFLM`` passes to ``tokenizer.apply_chat_template`` beside the messages (its
    ``chat_template_args``): the given arguments, with ``enable_thinking`` set over them when given."""
    merged = dict(chat_template_args or {})
    return merged | {"enable_thinking": enable_thinking} if enable_thinking is not None else merged


def chat_template_of(tokenizer, where: str, template_args: dict | None = None):
    """lm-eval's own ``HFLM.apply_chat_template`` over ``tokenizer`` (what ``simple_evaluate``
    passes to ``build_all_requests``), with ``template_args`` (:func:`template_kwargs`) passed to the
    template; a ConfigError naming ``where`` when it has no chat template."""
    from functools import partial
    from types import SimpleNamespace

    require_lm_eval()
    from lm_eval.models.huggingface import HFLM

    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            f"{where}: --apply-chat-template, but the tokenizer has no chat template "
            "(tokenizer_config.json 'chat_template' or chat_template.jinja); leave out --apply-chat-template "
            "for a model without one (a base, or one fine-tuned on a prompt template such as alpaca): lm-eval's "
            "plain prompts"
        )
    return partial(
        HFLM.apply_chat_template, SimpleNamespace(tokenizer=tokenizer, chat_template_args=dict(template_args or {}))
    )


def parse_gen_kwargs(text: str | None) -> dict | None:
    """``--gen-kwargs KEY=VALUE,...`` as lm-eval parses its ``--gen_kwargs`` (numbers and booleans typed)."""
    if not text:
        return None
    require_lm_eval()
    from lm_eval.utils import simple_parse_args_string

    try:
        parsed = simple_parse_args_string(text)
    except Exception as error:
        raise ConfigError(f"--gen-kwargs {text!r}: expected KEY=VALUE,... ({error})") from None
    if any(not str(key).strip() for key in parsed):
        raise ConfigError(f"--gen-kwargs {text!r}: a KEY=VALUE pair has no key")
    tokens = parsed.get("max_gen_toks")
    if "max_gen_toks" in parsed and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1):
        raise ConfigError(f"--gen-kwargs {text!r}: max_gen_toks must be a positive integer, got {tokens!r}")
    return parsed or None


# apply_chat_template's own arguments, which HFLM sets itself (given again: a TypeError mid-run);
# enable_thinking has its own option (lm-eval checks it against think_end_token and the tasks)
_TEMPLATE_OWN_ARGS = ("conversation", "tokenize", "add_generation_prompt", "continue_final_message")


def think_end_token_text(value: Any) -> Any:
    """A think-end token as text (``eval``'s and ``generate``'s setting): a token id from YAML or the
    API (``151668``) becomes its digits, which lm-eval's HFLM reads as an id; empty is refused."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a token id is a number >= 0")
        return str(value)
    if isinstance(value, str) and not value:
        raise ValueError("give the text that ends the thinking (e.g. '</think>') or its token id")
    return value


def parse_chat_template_args(value: Any) -> dict | None:
    """``--chat-template-args``: a JSON object, or ``KEY=VALUE,...`` typed as ``--gen-kwargs`` (and
    as lm-eval's ``--model_args``), or a mapping (YAML); None when empty. A ValueError says why not."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as error:
                raise ValueError(f"not a valid JSON object ({error.msg}; JSON strings take double quotes)") from None
        else:
            require_lm_eval()
            from lm_eval.utils import simple_parse_args_string

            loose = [part for part in text.split(",") if part.strip() and "=" not in part]
            if loose:  # lm-eval's own parser would make each a key with an empty value
                raise ValueError(f"expected KEY=VALUE,... or a JSON object; {loose[0].strip()!r} has no '='")
            try:
                value = simple_parse_args_string(text)
            except Exception as error:
                raise ValueError(f"expected KEY=VALUE,... or a JSON object ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected KEY=VALUE,... or a JSON object, got {type(value).__name__}")
    if any(not isinstance(key, str) or not key.strip() for key in value):
        raise ValueError("every argument needs a name (KEY=VALUE)")
    if "enable_thinking" in value:
        raise ValueError("enable_thinking has its own option: give --enable-thinking / --no-enable-thinking")
    taken = [key for key in value if key in _TEMPLATE_OWN_ARGS]
    if taken:
        raise ValueError(f"{', '.join(taken)}: set by lm-eval itself")
    return dict(value) or None


def is_lm_eval_name(name: str) -> bool:
    return str(name).strip().startswith(PREFIX)


def require_lm_eval():
    """lm-eval itself, at the pinned version, or a ConfigError saying how to install it."""
    try:
        import lm_eval
    except ImportError:
        raise ConfigError(f"lm_eval: tasks need lm-evaluation-harness {LM_EVAL_VERSION}: {INSTALL_HINT}") from None
    if lm_eval.__version__ != LM_EVAL_VERSION:
        raise ConfigError(
            f"lm_eval: tasks need lm-evaluation-harness exactly {LM_EVAL_VERSION} (installed: "
            f"{lm_eval.__version__}): {INSTALL_HINT}"
        )
    return lm_eval


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.yaml") if "__pycache__" not in p.parts)


def check_include_path(include_path: Sequence[str | Path]) -> None:
    """Read every YAML file of the user's task folders: lm-eval's index silently skips a file it
    cannot read, which would turn a typo into 'unknown task'. Reports the file and line."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # !function and friends
    for folder in map(Path, include_path):
        if not folder.is_dir():
            raise ConfigError(f"--include-path {folder}: no such folder")
        for path in _yaml_files(folder):
            try:
                document = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (SafeLoader)
            except yaml.MarkedYAMLError as error:
                mark = error.problem_mark or error.context_mark
                line = f":{mark.line + 1}" if mark is not None else ""
                raise ConfigError(f"{path}{line}: not valid YAML: {error.problem or error}") from None
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
                raise ConfigError(f"{path}: cannot read: {error}") from None
            if not isinstance(document, dict):
                raise ConfigError(
                    f"{path}: a task file holds a mapping (task:, dataset_path:, ...), got {type(document).__name__}"
                )
            _check_includes(path)


def _check_includes(path: Path) -> None:
    from lm_eval.tasks._yaml_loader import load_yaml

    try:
        load_yaml(path, resolve_func=False)
    except Exception as error:  # a missing or cyclic include: lm-eval would skip the file
        raise ConfigError(f"{path}: {error}") from None


def _paths_key(include_path) -> tuple[str, ...]:
    if include_path is None:
        return ()
    paths = [include_path] if isinstance(include_path, (str, Path)) else include_path
    return tuple(str(Path(p).expanduser().resolve()) for p in paths)


# Names defined by more than one task file under the include paths (lm-eval's own included), as
# lm-eval's index reports them while it is built: name -> (the file it keeps, the file it drops).
_REDEFINED: dict[tuple[str, ...], dict[str, tuple[str, str]]] = {}
_OVERRIDES = re.compile(r"^Task '(?P<name>.+)' from (?P<kept>.+) overrides existing task from (?P<dropped>.+)$")
_DUPLICATE = re.compile(
    r"^Duplicate task name '(?P<name>.+)' found\. Already registered from: (?P<kept>.+)\. "
    r"Skipping duplicate from: (?P<dropped>.+)$"
)


class _Redefinitions(logging.Handler):
    """Collects the index's warnings about a second definition under one name."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.found: dict[str, tuple[str, str]] = {}

    def emit(self, record):
        match = _OVERRIDES.match(record.getMessage()) or _DUPLICATE.match(record.getMessage())
        if match:
            self.found.setdefault(match["name"], (match["kept"], match["dropped"]))


@lru_cache(maxsize=4)
def _task_manager(paths: tuple[str, ...]):
    require_lm_eval()
    from lm_eval.tasks import TaskManager

    check_include_path(paths)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, once
        print(  # lm-eval's index is built silently: a few seconds, up to half a minute on a cold disk
            "lm-eval: reading its task index (its ~15,000 task files"
            + (", and the --include-path folders" if paths else "")
            + ") ...",
            file=sys.stderr,
            flush=True,
        )
    index_log = logging.getLogger("lm_eval.tasks._index")
    handler, level = _Redefinitions(), index_log.level
    index_log.addHandler(handler)
    index_log.setLevel(logging.WARNING)
    try:
        manager = TaskManager(include_path=list(paths) or None)
    finally:
        index_log.removeHandler(handler)
        index_log.setLevel(level)
    _REDEFINED[paths] = handler.found
    return manager


def _refuse_redefined(name: str, task_names, include_path) -> None:
    """One name, one definition: lm-eval keeps one of two task files under a name (the later
    include path wins, a second file in one folder is skipped) with only a log line; refused here,
    naming both files."""
    redefined = _REDEFINED.get(_paths_key(include_path), {})
    for task_name in task_names:
        if task_name in redefined:
            kept, dropped = redefined[task_name]
            raise ConfigError(
                f"{name}: two definitions of task {task_name!r}: {kept} and {dropped}; one name, one "
                "definition per run: give one of them another name (its task: key)"
            )


def task_manager(include_path=None):
    """lm-eval's TaskManager over its own tasks and ``include_path`` (built once per process)."""
    return _task_manager(_paths_key(include_path))


def file_stem(name: str) -> str:
    """A cell's file name part for an lm-eval name: ``lm_eval:kmmlu`` -> ``lm_eval-kmmlu``."""
    return str(name).strip().replace(":", "-", 1)


def lm_eval_target(name: str) -> str:
    """``lm_eval:kmmlu`` -> ``kmmlu``."""
    target = str(name).strip()[len(PREFIX) :].strip()
    if not target:
        raise ConfigError(f"{name!r}: name an lm-eval task or group after 'lm_eval:' (e.g. lm_eval:kmmlu)")
    return target


def resolve_name(name: str, include_path=None) -> str:
    """The canonical ``lm_eval:<name>`` of a task, group or tag lm-eval knows; else a ConfigError
    suggesting close names."""
    target = lm_eval_target(name)
    manager = task_manager(include_path)
    if target not in manager.all_tasks:
        close = difflib.get_close_matches(target, manager.all_tasks, n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(PREFIX + c for c in close)}?" if close else ""
        where = " or in --include-path" if include_path else " (add your own YAML folder with --include-path)"
        raise ConfigError(f"unknown lm-eval task {name!r}: not in lm-eval {LM_EVAL_VERSION}'s tasks{where}{hint}")
    return PREFIX + target


LOCAL_BUILDERS = frozenset({"json", "csv", "parquet", "text", "arrow", "pandas"})  # dataset_path of local files


def hub_datasets(name: str, include_path=None) -> list[tuple[str, str]]:
    """(task, dataset_path) of every leaf task ``name`` (a task, group or tag) runs whose documents
    come from the hub, read from lm-eval's index (nothing is loaded)."""
    from lm_eval.tasks._index import Kind

    index = task_manager(include_path).task_index
    found: list[tuple[str, str]] = []
    seen: set[str] = set()

    def from_config(task: str, cfg: dict) -> None:
        path = cfg.get("dataset_path")
        if isinstance(path, str) and path not in LOCAL_BUILDERS and not Path(path).expanduser().exists():
            found.append((task, path))

    def visit(target: str) -> None:
        entry = index.get(target)
        if target in seen or entry is None:
            return
        seen.add(target)
        cfg = entry.cfg or {}
        if entry.kind == Kind.TAG:
            for other, member in index.items():
                if target in member.tags:
                    visit(other)
        elif entry.kind == Kind.GROUP:
            for item in cfg.get("task") or []:
                if isinstance(item, str):
                    visit(item)
                elif isinstance(item, dict) and "dataset_path" in item:
                    from_config(str(item.get("task")), item)
                elif isinstance(item, dict) and isinstance(item.get("task"), str):
                    visit(item["task"])
        elif entry.kind == Kind.TASK:
            from_config(target, cfg)

    visit(lm_eval_target(resolve_name(name, include_path)))
    return found


LOCAL_COPY_HINT = (
    "a copy of the task file naming local files (dataset_path: json, dataset_kwargs.data_files) "
    "in an --include-path folder (docs/tasks.md)"
)


def hub_needs(names, include_path=None) -> list:
    """A :class:`~polyplatypus.utils.hub.HubNeed` for each hub dataset the tasks and groups
    ``names`` read (see :func:`hub_datasets`)."""
    from polyplatypus.utils.hub import HubNeed

    return [
        HubNeed(dataset, "dataset", f"documents of {PREFIX}{task}", LOCAL_COPY_HINT)
        for name in names
        for task, dataset in hub_datasets(name, include_path)
    ]


@dataclass
class LmEvalCell:
    """One (lm-eval task or group, shots) cell with its requests built, ready to score."""

    name: str  # lm_eval:<task or group>
    shots: int  # as asked
    loaded: dict  # TaskManager.load's result: tasks, groups, group_map
    num_fewshot: dict[str, int]  # per leaf task, as used
    fixed_shots: list[str]  # leaf tasks whose config fixes num_fewshot at 0 (--shots ignored, as lm-eval)
    limits: dict[str, int | None]  # per leaf task, lm-eval's sample size
    versions: dict[str, Any]
    fingerprint: str = ""
    fingerprint_parts: dict = field(default_factory=dict)  # what decides the numbers, part by part (key_parts)
    data_source: str = ""  # the leaf tasks' datasets, as their configs name them (describe_datasets)
    options: dict = field(default_factory=dict)  # RequestOptions.recorded(): what else shaped the requests
    model_args: dict = field(default_factory=dict)  # RequestOptions.model_args(): HFLM's thinking-model arguments
    instances: dict[str, list] = field(default_factory=dict)  # per leaf task, lm-eval's Instances

    @property
    def tasks(self) -> dict:
        return self.loaded["tasks"]

    @property
    def groups(self) -> dict:
        return self.loaded["groups"]

    @property
    def generative(self) -> bool:
        return any(inst.request_type == GENERATIVE for insts in self.instances.values() for inst in insts)

    def all_instances(self) -> list:
        return [inst for name in self.tasks for inst in self.instances[name]]


@contextmanager
def _metrics_offline():
    """While tasks load, a metric marked ``hf_evaluate: true`` (kobest's f1) is not fetched from
    the hub by ``evaluate.load``: multiple-choice and loglikelihood tasks compute their metrics in
    ``process_results`` and never call that function, so lm-eval's registered one (or, without
    one, a function that refuses to run) stands in for it."""
    import lm_eval.api.task as task_module

    original = task_module.get_metric

    def local_metric(name, hf_evaluate_metric=False):
        if not hf_evaluate_metric:
            return original(name)
        from lm_eval.api.registry import metric_registry

        if name in metric_registry:
            return metric_registry.get(name)

        def unavailable(*args, **kwargs):
            raise ConfigError(
                f"metric {name!r} would be loaded from the Hugging Face hub (evaluate.load); "
                "polyplatypus does not fetch metric code"
            )

        return unavailable

    task_module.get_metric = local_metric
    try:
        yield
    finally:
        task_module.get_metric = original


@contextmanager
def _local_data_by_content():
    """While tasks load, ``datasets.load_dataset`` over local files caches under a folder named by
    the files' content: its own cache is keyed by path and modification time, so a file rewritten
    with its old mtime would be read from the stale cache (even into a fresh results folder)."""
    import datasets

    original = datasets.load_dataset

    def by_content(path=None, name=None, **kwargs):
        files = local_data_files(path, kwargs.get("data_files"), kwargs.get("data_dir"))
        if files:
            digest = _digest(files)[:16]
            root = kwargs.get("cache_dir") or datasets.config.HF_DATASETS_CACHE
            kwargs["cache_dir"] = str(Path(root) / "polyplatypus-by-content" / digest)
        return original(path=path, name=name, **kwargs)

    datasets.load_dataset = by_content
    try:
        yield
    finally:
        datasets.load_dataset = original


def local_data_files(path, data_files=None, data_dir=None) -> dict[str, str]:
    """The SHA-256 of every local file a dataset is read from, by path: ``data_files`` (globs
    expanded), a local ``dataset_path`` file or folder, or its ``data_dir``. Hub files are not
    local (their revision is their identity)."""
    import glob
    import os

    from polyplatypus.utils.io import sha256_file

    found: list[str] = []
    for pattern in _data_files(data_files):
        found += sorted(glob.glob(os.path.expanduser(pattern), recursive=True)) if "://" not in pattern else []
    local = Path(str(path)).expanduser() if path is not None else None
    if local is not None and local.exists():
        folder = local / data_dir if data_dir and local.is_dir() else local
        found += [str(p) for p in sorted(folder.rglob("*")) if p.is_file()] if folder.is_dir() else [str(folder)]
    return {str(Path(f).resolve()): sha256_file(f) for f in dict.fromkeys(found) if Path(f).is_file()}


def _load(target: str, include_path) -> dict:
    manager = task_manager(include_path)
    entry = manager.task_index.get(target)
    where = f" ({entry.yaml_path})" if entry is not None and entry.yaml_path else ""
    try:
        with _metrics_offline(), _local_data_by_content():
            return manager.load([target])
    except FileNotFoundError as error:
        raise DataError(f"{PREFIX}{target}{where}: data file not found: {error}") from None
    except Exception as error:
        if "Couldn't find" in str(error) or "Unable to find" in str(error):
            raise DataError(f"{PREFIX}{target}{where}: data file not found: {error}") from None
        raise ConfigError(
            f"{PREFIX}{target}{where}: lm-eval cannot load the task: {type(error).__name__}: {error}"
        ) from None


def _check_output_type(name: str, task_name: str, task) -> None:
    output_type = task.get_config("output_type")
    if output_type not in SCORED_OUTPUT_TYPES:
        raise ConfigError(
            f"{name}: task {task_name} is {output_type!r}; polyplatypus eval runs only "
            f"{', '.join(SCORED_OUTPUT_TYPES)} tasks. Run rolling-loglikelihood (perplexity) tasks "
            f"with lm_eval.simple_evaluate(model=SharedContextLM(...)), which leaves them to lm-eval's HF engine"
        )


def _apply_options(task, options: RequestOptions) -> None:
    """simple_evaluate's per-task overrides: generation kwargs, then predict-only's bypass metric."""
    if task.get_config("output_type") == GENERATIVE and options.gen_kwargs is not None:
        task.set_config(key="generation_kwargs", value=dict(options.gen_kwargs), update=True)
    if options.predict_only:
        task.override_metric(metric_name="bypass")


def _set_shots(task, shots: int) -> bool:
    """simple_evaluate's rule: a config's num_fewshot of 0 wins over the asked count. True if it won."""
    if task.get_config("num_fewshot") == 0:
        return shots != 0
    task.set_config(key="num_fewshot", value=shots)
    task.set_fewshot_seed(seed=FEWSHOT_SEED)
    return False


def _check_fewshot_pool(name: str, task_name: str, task, shots: int) -> None:
    if shots == 0:
        return
    docs = task.fewshot_docs()
    pool = len(docs) if docs is not None else 0
    split = task.get_config("fewshot_split") or "its default few-shot split"
    # A document is never its own example: drawing from the evaluation split takes shots + 1.
    needed = shots + 1 if task.get_config("fewshot_split") == task.get_config("test_split") else shots
    if pool < needed:
        raise ConfigError(
            f"{name}: task {task_name}: {shots} shots asked but its few-shot split {split!r} has "
            f"{pool} documents" + (" (one is the document itself)" if needed > shots else "")
        )


def lm_eval_task_module():
    """lm-eval's ``api.task`` module, whose request-building bar has no label of its own."""
    from lm_eval.api import task

    return task


def build_cell(
    name: str,
    shots: int,
    *,
    limit: int | float | None = None,
    include_path=None,
    options: RequestOptions | None = None,
    progress: bool = True,
) -> LmEvalCell:
    """Load an lm-eval task or group and build its requests for ``shots`` as lm-eval would
    (``simple_evaluate`` with ``options``); ``progress``: the bars of reading its data and building
    its requests."""
    import numpy as np
    from lm_eval.evaluator_utils import get_sample_size

    options = options or RequestOptions()
    name = resolve_name(name, include_path)
    random.seed(RANDOM_SEED)
    np.random.seed(NUMPY_SEED)
    _refuse_redefined(name, [lm_eval_target(name)], include_path)
    with nullcontext() if progress else without_dataset_bars():
        loaded = _load(lm_eval_target(name), include_path)
    _refuse_redefined(name, loaded["tasks"], include_path)  # a group's tasks
    num_fewshot, fixed, limits = {}, [], {}
    for task_name, task in loaded["tasks"].items():
        _check_output_type(name, task_name, task)
        _apply_options(task, options)
        if _set_shots(task, shots):
            fixed.append(task_name)
        task.set_fewshot_seed(seed=FEWSHOT_SEED)
        num_fewshot[task_name] = int(task.get_config("num_fewshot") or 0)
        _check_fewshot_pool(name, task_name, task, num_fewshot[task_name])
    cell = LmEvalCell(
        name=name,
        shots=shots,
        loaded=loaded,
        num_fewshot=num_fewshot,
        fixed_shots=fixed,
        limits=limits,
        versions={},
        options=options.recorded(),
        model_args=options.model_args(),
    )
    for task_name, task in loaded["tasks"].items():
        limits[task_name] = get_sample_size(task, limit)
        label = f"lm-eval: building {task_name} {shots}-shot requests"
        with labelled_bars(lm_eval_task_module(), label, shown=progress):
            task.build_all_requests(
                limit=limits[task_name],
                rank=0,
                world_size=1,
                system_instruction=options.system_instruction,
                apply_chat_template=options.apply_chat_template,
                fewshot_as_multiturn=options.fewshot_as_multiturn,
                chat_template=options.chat_template if options.apply_chat_template else None,
            )
        cell.instances[task_name] = list(task.instances)
        cell.versions[task_name] = (
            task.VERSION
            if getattr(task, "VERSION", None) is not None
            else (task.get_config("metadata") or {}).get("version")
        )
    for group_name, group in loaded["groups"].items():
        cell.versions[group_name] = group.version
    if options.enable_thinking:
        _refuse_thinking_for_choices(cell)
    if not cell.generative:  # it decides generated text only: a multiple-choice cell keeps its key
        cell.options.pop("near_ties", None)
    cell.fingerprint_parts = key_parts(cell)
    cell.fingerprint = _digest(cell.fingerprint_parts)
    cell.data_source = describe_datasets(task.config for task in loaded["tasks"].values())
    return cell


def _refuse_thinking_for_choices(cell: LmEvalCell) -> None:
    """HFLM refuses ``enable_thinking=True`` for loglikelihood requests (multiple-choice tasks score
    choices, nothing is generated to strip thinking from): refused here, before any model loads."""
    scored = sorted(name for name, insts in cell.instances.items() if any(i.request_type != GENERATIVE for i in insts))
    if scored:
        raise ConfigError(
            f"{cell.name}: enable_thinking applies to generative tasks only, as in lm-eval; task(s) "
            f"{', '.join(scored)} score their choices by loglikelihood: evaluate them in a separate run "
            "without --enable-thinking"
        )


def _data_files(files) -> list[str]:
    if isinstance(files, dict):
        return [f for value in files.values() for f in _data_files(value)]
    if isinstance(files, (list, tuple)):
        return [str(f) for f in files]
    return [] if files is None else [str(files)]


def describe_datasets(configs) -> str:
    """Where the tasks' documents come from, as their configs say: ``hub:<dataset_path>
    (<dataset_name>, ...)`` for a hub dataset (its configurations merged), ``<builder>:
    <data files>`` for a builder over files (``dataset_path: json`` with ``dataset_kwargs.data_files``),
    the path itself for a local dataset folder; several sources joined by ``; ``."""
    sources: dict[str, list[str]] = {}
    for config in configs:
        path = str(config.dataset_path) if config.dataset_path is not None else "none"
        files = _data_files((config.dataset_kwargs or {}).get("data_files"))
        if files:
            head, parts = f"{path}:", files
        else:
            local = Path(path).expanduser().exists()
            head = path if local else f"hub:{path}"
            parts = [str(config.dataset_name)] if config.dataset_name else []
        listed = sources.setdefault(head, [])
        listed += [part for part in parts if part not in listed]
    return "; ".join(_described(head, parts) for head, parts in sources.items())


def _described(head: str, parts: list[str]) -> str:
    """``json: a, b`` (a builder and its files), ``hub:X (config, ...)``, or the bare head."""
    if not parts:
        return head
    return f"{head} {', '.join(parts)}" if head.endswith(":") else f"{head} ({', '.join(parts)})"


def task_documents(name: str, include_path=None) -> dict[str, dict[str, list[dict]]]:
    """Every leaf task's evaluation and few-shot documents (after its ``process_docs``), as
    ``{task: {"eval": [...], "fewshot": [...]}}``: what decontamination checks an instruction set
    against."""
    loaded = _load(lm_eval_target(resolve_name(name, include_path)), include_path)
    found = {}
    for task_name, task in loaded["tasks"].items():
        fewshot = task.fewshot_docs()
        found[task_name] = {
            "eval": [dict(doc) for doc in task.eval_docs],
            "fewshot": [dict(doc) for doc in fewshot] if fewshot is not None else [],
        }
    return found


# A cell's key parts, as its recomputation message names them.
KEY_PARTS = {
    "requests": "prompts and choices",
    "targets": "gold targets",
    "documents": "documents",
    "metric_list": "metric_list",
    "filters": "filters",
    "generation_kwargs": "generation_kwargs",
    "functions": "!function code",
    "data_files": "data file bytes",
    "revision": "hub dataset revision",
    "config": "other task settings",
    "model_args": "thinking options (think_end_token, enable_thinking, chat_template_args)",
}
# Task config fields with a part of their own (the rest make up "config").
_OWN_PARTS = {"metric_list": "metric_list", "filter_list": "filters", "generation_kwargs": "generation_kwargs"}


def _digest(value) -> str:
    return hashlib.sha256(
        json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    ).hexdigest()


def key_parts(cell: LmEvalCell) -> dict:
    """Everything that decides a cell's numbers, part by part (:data:`KEY_PARTS`): the built
    requests, each evaluated document and its gold target, the tasks' metric_list (and the groups'
    aggregation), filters, generation_kwargs and other settings, the source files of their
    ``!function`` helpers, the bytes of local data files, a hub dataset's revision, and the
    thinking-model arguments where given (``model_args``: they decide the answers). Each part
    is a hash, except ``data_files`` (path -> SHA-256), so a change is named down to the file."""
    functions: dict[str, str] = {}
    fields: dict[str, dict] = {name: {} for name in ("metric_list", "filters", "generation_kwargs", "config")}
    targets, documents = hashlib.sha256(), hashlib.sha256()
    data_files: dict[str, str] = {}
    revisions: dict[str, str] = {}
    for task_name, task in sorted(cell.tasks.items()):
        config = {f.name: getattr(task.config, f.name) for f in dataclasses.fields(task.config)}
        for name, value in config.items():
            fields[_OWN_PARTS.get(name, "config")].setdefault(task_name, {})[name] = _canonical(value, functions)
        for doc_id, doc in task.doc_iterator(rank=0, limit=cell.limits[task_name], world_size=1):
            targets.update(_digest([task_name, doc_id, _canonical(task.doc_to_target(doc), functions)]).encode())
            documents.update(_digest([task_name, doc_id, doc]).encode())
        kwargs = config.get("dataset_kwargs") or {}
        data_files.update(
            local_data_files(config.get("dataset_path"), kwargs.get("data_files"), kwargs.get("data_dir"))
        )
        revisions[task_name] = _revision(task, kwargs)
    for group_name, group in sorted(cell.groups.items(), key=lambda item: str(item[0])):
        aggregation = getattr(group, "aggregate_metric_list", None)
        fields["metric_list"][f"group {group_name}"] = _canonical(aggregation, functions)
    return {
        "requests": _requests_digest(cell),
        "targets": targets.hexdigest(),
        "documents": documents.hexdigest(),
        **{name: _digest(value) for name, value in fields.items()},
        "functions": _digest(functions),
        "data_files": data_files,
        "revision": _digest(revisions),
        # only where given: cells made without them keep their key
        **({"model_args": _digest(cell.model_args)} if cell.model_args else {}),
    }


# Request options (RequestOptions.recorded), as a recomputation message names them.
OPTION_WORDS = {
    "gen_kwargs": "generation settings",
    "system_instruction": "system instruction",
    "apply_chat_template": "chat template",
    "fewshot_as_multiturn": "few-shot as multiturn",
    "predict_only": "predict-only",
    "near_ties": "near ties",
}
# Key parts that options change by construction (the requests' digest holds every option): beside a
# changed option they are not named again.
_CHANGED_BY_OPTIONS = {
    "requests": tuple(OPTION_WORDS),
    "generation_kwargs": ("gen_kwargs",),
    "metric_list": ("predict_only",),
    "config": ("predict_only",),  # lm-eval's override_metric also sets process_results
}


def changed_parts(
    stored: dict | None, now: dict, stored_options: dict | None = None, options: dict | None = None
) -> str:
    """What changed between a stored cell's key parts and request options (RequestOptions.recorded)
    and this run's, in words (``gold targets, data file bytes (/data/test.jsonl)``, ``generation
    settings (gen_kwargs: max_gen_toks 32 → 64)``)."""
    changed = changed_options(stored_options or {}, options or {})
    if not isinstance(stored, dict):
        return ", ".join([*changed.values(), "its requests or data (the stored cell predates its key parts)"])
    names = list(changed.values())
    for part, words in KEY_PARTS.items():
        if stored.get(part) == now.get(part) or set(_CHANGED_BY_OPTIONS.get(part, ())) & changed.keys():
            continue
        if part == "data_files" and isinstance(stored.get(part), dict):
            old, new = stored[part], now.get(part) or {}
            files = sorted(f for f in old.keys() | new.keys() if old.get(f) != new.get(f))
            words = f"{words} ({', '.join(files)})"
        names.append(words)
    return ", ".join(names) or "its fingerprint"


_UNSET = object()


def changed_options(stored: dict, now: dict) -> dict[str, str]:
    """Each request option that differs between two :meth:`RequestOptions.recorded`, in words:
    ``generation settings (gen_kwargs: max_gen_toks 32 → 64)``, ``chat template (off → on)``."""
    changed = {}
    stored = stored if isinstance(stored, dict) else {}  # a hand-edited cell file: every option named
    for option, words in OPTION_WORDS.items():
        old, new = stored.get(option), now.get(option)
        if old == new:
            continue
        if option == "gen_kwargs":
            old, new = (value if isinstance(value, dict) else {} for value in (old, new))
            keys = [k for k in dict.fromkeys([*old, *new]) if old.get(k, _UNSET) != new.get(k, _UNSET)]
            what = "gen_kwargs: " + (
                ", ".join(f"{k} {_shown(old.get(k, _UNSET))} → {_shown(new.get(k, _UNSET))}" for k in keys) or "changed"
            )
        else:
            what = f"{_shown(old, option)} → {_shown(new, option)}"
        changed[option] = f"{words} ({what})"
    return changed


def _shown(value, option: str = "") -> str:
    """An option's value in a message: a flag as on/off (recorded() leaves out what is off), a
    text quoted and shortened, an option not given as such."""
    if option in ("apply_chat_template", "fewshot_as_multiturn", "predict_only"):
        return "on" if value else "off"
    if option == "near_ties":
        return value or DEFAULT_NEAR_TIES
    if value is _UNSET or value is None:
        return "not given"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    return json.dumps(value, ensure_ascii=False, default=str)


def _canonical(value, functions: dict[str, str]):
    """``value`` as JSON; a callable (a ``!function`` helper, a metric) by name, its source file's
    SHA-256 noted in ``functions`` (what it calls in that file counts too)."""
    if callable(value) and not isinstance(value, type):
        named = value if hasattr(value, "__qualname__") else type(value)  # a callable object: its class
        name = f"{getattr(named, '__module__', '')}.{named.__qualname__}"
        functions[name] = _source_sha256(named)
        return f"function {name}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # lm-eval's AggMetricConfig, ...
        return {f.name: _canonical(getattr(value, f.name), functions) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _canonical(v, functions) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, functions) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    text = repr(value)  # an object's default repr holds its address, which differs from run to run
    return f"{type(value).__module__}.{type(value).__qualname__}" if " at 0x" in text else text


def _source_sha256(function) -> str:
    import inspect

    from polyplatypus.utils.io import sha256_file

    try:
        return sha256_file(inspect.getsourcefile(function) or "")
    except (TypeError, OSError):
        return "no source file"


def _revision(task, kwargs: dict) -> str:
    """A hub dataset's revision: as the config pins it, else the one its cache holds (datasets
    names a hub dataset's cache folder by its commit); local data: its bytes are the identity."""
    if kwargs.get("revision"):
        return str(kwargs["revision"])
    dataset_path = task.config.dataset_path
    if dataset_path is None or kwargs.get("data_files") or Path(str(dataset_path)).expanduser().exists():
        return "local"
    for split in (getattr(task, "dataset", None) or {}).values():
        for cache_file in getattr(split, "cache_files", None) or []:
            return Path(cache_file["filename"]).parent.name
    return "unknown"


def fingerprint(cell: LmEvalCell) -> str:
    """sha256 of all of :func:`key_parts`: equal fingerprints give equal numbers."""
    return _digest(key_parts(cell))


def _requests_digest(cell: LmEvalCell) -> str:
    """sha256 of the tasks' versions and every built request's inputs (document id, request type,
    context and continuation strings, shots): equal digests score the same requests."""
    digest = hashlib.sha256()
    # options only where given, so that cells made without them keep their fingerprints
    digest.update(
        json.dumps(
            {
                "versions": {k: str(v) for k, v in sorted(cell.versions.items())},
                "num_fewshot": dict(sorted(cell.num_fewshot.items())),
                **({"options": cell.options} if cell.options else {}),
            },
            sort_keys=True,
            default=str,
        ).encode()
    )
    for task_name in sorted(cell.instances):
        for inst in cell.instances[task_name]:
            digest.update(
                json.dumps(
                    [task_name, inst.doc_id, inst.idx, inst.request_type, list(map(str, inst.args))], ensure_ascii=False
                ).encode("utf-8")
            )
    return digest.hexdigest()


@dataclass(frozen=True)
class TaskListing:
    name: str
    source: str
    version: str
    metrics: str
    output_type: str = ""  # a task's (lm-eval's default: generate_until); "" for a group or tag


def _output_type(entry) -> str:
    """A task's output_type as lm-eval will build it (its TaskConfig default where the file has none)."""
    from lm_eval.tasks._index import Kind

    if entry.kind == Kind.TASK:
        return str((entry.cfg or {}).get("output_type") or "generate_until")
    return "(python task)" if entry.kind == Kind.PY_TASK else ""


def lm_eval_listing(include_path=None) -> list[TaskListing]:
    """Every task and group lm-eval knows (its own, then ``include_path``'s), from its index."""
    manager = task_manager(include_path)
    own = Path(require_lm_eval().__file__).parent / "tasks"
    rows = []
    for name, entry in sorted(manager.task_index.items()):
        cfg = entry.cfg or {}
        path = entry.yaml_path
        user = path is not None and own not in Path(path).resolve().parents
        source = f"{entry.kind.name.lower()}, " + (str(path) if user else f"lm-eval {LM_EVAL_VERSION}")
        metadata = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
        listed = cfg.get("metric_list") or cfg.get("aggregate_metric_list") or []
        metrics = ",".join(
            str(m.get("metric")) for m in listed if isinstance(m, dict) and isinstance(m.get("metric"), str)
        )
        rows.append(TaskListing(PREFIX + name, source, str(metadata.get("version", "")), metrics, _output_type(entry)))
    return rows


@dataclass
class LmEvalDocuments:
    """An lm-eval task or group as a :class:`~polyplatypus.tasks.texts.DocumentSource` for
    decontamination: every text field of each leaf task's evaluation and few-shot documents
    (after its ``process_docs``), as lm-eval loads them."""

    name: str  # lm_eval:<task or group>
    include_path: Sequence[str] | None = None
    benchmark: str = "lm_eval"

    def documents(self):
        from polyplatypus.tasks.texts import document_from_fields

        for task_name, splits in task_documents(self.name, self.include_path).items():
            for split, docs in splits.items():
                for index, doc in enumerate(docs):
                    fields = [key for key, value in doc.items() if isinstance(value, str)]
                    yield document_from_fields(PREFIX + task_name, split, index, doc, fields)

    def describe(self) -> str:
        return f"lm-eval {LM_EVAL_VERSION} ({self.name})"


def document_source(name: str, include_path=None) -> LmEvalDocuments:
    """``data curate --decontaminate lm_eval:<name>``: the task's documents (name checked now)."""
    require_lm_eval()
    full = name if is_lm_eval_name(name) else PREFIX + name
    return LmEvalDocuments(resolve_name(full, include_path), include_path)

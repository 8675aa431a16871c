"""``generate --prompts FILE.jsonl --output FILE.jsonl``: every prompt of a file answered by the
evaluation's generation engine (``SharedContextLM.generate_until``, batched), resumable.

A prompt line is a JSON object with ``instruction`` (and optional ``input``), put in the prompt
template (``chat``: the tokenizer's chat template after the system prompt trained with, as
``generate --instruction`` builds it; or, with ``chat_template``, in the tokenizer's chat template
as one user turn), or
``prompt``, a text used as is; other keys are copied to its response line. A response line holds
``index`` (the prompt's line number, from 1), the prompt's keys, the ``prompt`` as sent, the
``response`` (stripped; generation stops at EOS or ``max_new_tokens``), and, where the engine says,
the raw ``generation``, its ``stop_reason`` and ``n_tokens``. Lines are appended as prompts finish,
so a killed run resumes where it stopped: a re-run skips the indices already in the output, once
each kept response is known to answer the prompt this run sends on its line.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from polyplatypus.errors import ConfigError, DataError
from polyplatypus.tasks.lm_eval_tasks import DEFAULT_NEAR_TIES

STOP_FREE: list[str] = []  # no stop strings: HFLM stops at the tokenizer's EOS (and max_gen_toks)


def read_prompts(path) -> list[dict]:
    """The prompt file's objects, each checked (file, line and field named)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError("prompt file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot be read as UTF-8 text ({error})", path=path) from None
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"not JSON ({error.msg})", path=path, record=number) from None
        if not isinstance(row, dict):
            raise DataError("expected an object with 'instruction' or 'prompt'", path=path, record=number)
        text = "prompt" if "prompt" in row else "instruction"
        if not isinstance(row.get(text), str) or not row[text].strip():
            raise DataError(
                "missing or empty (a line needs 'instruction' or 'prompt')", path=path, record=number, field=text
            )
        if not isinstance(row.get("input", ""), str):
            raise DataError("expected a string", path=path, record=number, field="input")
        if "index" in row:  # the response file's own key (the prompt's line): a re-run finds kept answers by it
            raise DataError(
                "is the key the responses are written under (the prompt's line number); rename it (e.g. 'id')",
                path=path,
                record=number,
                field="index",
            )
        rows.append({"index": number, **row})
    if not rows:
        raise DataError("no prompts in the file", path=path)
    return rows


def build_prompt(
    row: dict,
    tokenizer,
    *,
    template: str | None,
    chat_template: bool,
    template_args: dict | None = None,
    system_prompt: str | None = None,
) -> str:
    """The text sent for a prompt line: as is, in the chat template as the one user turn (given
    ``template_args``, as lm-eval's HFLM passes its ``chat_template_args``), or in the prompt
    template (``chat``: the chat template after ``system_prompt``, as ``generate --instruction``)."""
    from polyplatypus.data.chat import instruction_chat_prompt
    from polyplatypus.data.templates import CHAT, get_template

    if "prompt" in row:
        return row["prompt"]
    if chat_template:
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError(
                "--chat-template: the model's tokenizer has no chat template (tokenizer_config.json "
                "'chat_template' or chat_template.jinja); leave out --chat-template to use the prompt template "
                "the model was trained with (or --prompt-template NAME)"
            )
        content = row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True, **(template_args or {})
        )
    if template == CHAT:
        return instruction_chat_prompt(tokenizer, row["instruction"], row.get("input", ""), system_prompt=system_prompt)
    return get_template(template or "alpaca").prompt(row["instruction"], row.get("input", ""))


def finished_indices(output: Path) -> dict[int, dict]:
    """The response lines already in ``output`` by index; a line cut short by a kill is dropped
    (the file is rewritten without it, so new lines follow whole ones)."""
    if not output.is_file():
        return {}
    from polyplatypus.utils.io import atomic_write_jsonl

    done, whole = {}, True
    for line in output.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            done[int(row["index"])] = row
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            whole = False
    if not whole:
        atomic_write_jsonl(output, list(done.values()))
    return done


def check_kept_responses(done: dict[int, dict], prompts: list[dict], output: Path, tokenizer, options: dict) -> None:
    """A re-run keeps the responses already in ``output`` only if each was made for the prompt this
    run sends on that line (same prompt file line, template and chat-template arguments); a
    response to another prompt, or to a line the file no longer has, is refused, since it would be
    kept beside the new ones as if this run had made it."""
    rows = {row["index"]: row for row in prompts}
    for index, line in sorted(done.items()):
        if index not in rows:
            why = f"holds a response to prompt line {index}, which the prompt file does not have"
        elif line.get("prompt") != build_prompt(
            rows[index],
            tokenizer,
            template=options.get("template"),
            chat_template=options.get("chat_template", False),
            template_args=options.get("template_args"),
            system_prompt=options.get("system_prompt"),
        ):
            dated = "strftime_now" in str(getattr(tokenizer, "chat_template", None) or "")
            why = (
                f"holds a response to prompt line {index} made from another prompt than this run sends "
                "(the prompt file's line, --prompt-template, --system-prompt, --chat-template or its arguments changed"
                + ("; this chat template also writes today's date into every prompt" if dated else "")
                + ")"
            )
        else:
            continue
        raise ConfigError(f"{output} {why}: give another --output, or delete {output} to answer every prompt again")


# generate_prompt_file's options that decide a response's text (with the model): each response line
# holds them, and a re-run keeps a line only if they are the same (prompt files are answered greedily,
# so no sampling setting decides anything; nor does the batch size under near_ties="redecide"; under
# "keep" it may, as documented)
TEXT_SETTINGS = ("max_new_tokens", "near_ties", "repetition_penalty", "think_end_token")


def made_with(model_source: str | None, dtype: str, options: dict) -> dict:
    """What a response line records as having decided its text: the model (as given), its dtype
    (bf16 on a GPU, fp32 on a CPU: they round differently) and :data:`TEXT_SETTINGS`."""
    import inspect

    defaults = inspect.signature(answer_prompts).parameters
    chosen = {name: options.get(name, defaults[name].default) for name in TEXT_SETTINGS}
    return {"model": model_source, "dtype": dtype, **chosen}


def check_kept_settings(done: dict[int, dict], output: Path, settings: dict) -> None:
    """Kept responses must have been made with ``settings`` (lines written before responses recorded
    them are kept as they are)."""
    for index, line in sorted(done.items()):
        kept = line.get("made_with")
        if kept is None or kept == settings:
            continue
        changed = ", ".join(
            f"{name} {kept.get(name)!r} -> {value!r}" for name, value in settings.items() if kept.get(name) != value
        )
        raise ConfigError(
            f"{output} holds a response to prompt line {index} made with other settings ({changed}): give "
            f"another --output, or delete {output} to answer every prompt again"
        )


def generation_kwargs(max_new_tokens: int, temperature: float, top_p: float, repetition_penalty: float) -> dict:
    """lm-eval's generation kwargs for these settings (greedy unless temperature > 0)."""
    kwargs = {"until": STOP_FREE, "max_gen_toks": max_new_tokens, "do_sample": temperature > 0}
    if temperature > 0:
        kwargs.update(temperature=temperature, top_p=top_p)
    if repetition_penalty != 1.0:
        kwargs["repetition_penalty"] = repetition_penalty
    return kwargs


def answer_prompts(
    model,
    tokenizer,
    rows: list[dict],
    *,
    template: str | None = None,
    chat_template: bool = False,
    template_args: dict | None = None,
    system_prompt: str | None = None,
    think_end_token: str | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    near_ties: str = DEFAULT_NEAR_TIES,
    temperature: float = 0.0,
    top_p: float = 1.0,
    repetition_penalty: float = 1.0,
    seed: int | None = None,
    keep: Callable[[dict], None] | None = None,
    progress: Callable[[int], None] | None = None,
    near_tie_hint: bool = False,
) -> list[dict]:
    """The response line of each prompt line of ``rows`` (in their order), answered by the
    evaluation's generation engine; ``keep`` is given each line as it finishes (the engine runs them
    in token order, not the rows'). ``think_end_token``: a thinking model's response is what
    follows its last occurrence (as lm-eval's HFLM; the raw ``generation`` keeps the whole text).
    ``near_tie_hint``: say when re-deciding near ties did most of the work, naming ``--near-ties
    keep`` (a prompt file's batches; one instruction has no batch, and no such option)."""
    import torch
    from lm_eval.api.instance import Instance

    from polyplatypus.eval.generation import mostly_redecided, redecided_summary
    from polyplatypus.eval.lm_eval_cells import Generations, engine_fields, generate, make_lm

    texts = [
        build_prompt(
            row,
            tokenizer,
            template=template,
            chat_template=chat_template,
            template_args=template_args,
            system_prompt=system_prompt,
        )
        for row in rows
    ]
    kwargs = generation_kwargs(max_new_tokens, temperature, top_p, repetition_penalty)
    requests = [
        Instance("generate_until", row, (text, dict(kwargs)), idx=0, metadata=("prompts", row["index"], 1))
        for row, text in zip(rows, texts)
    ]
    if seed is not None:
        torch.manual_seed(seed)
    lm = make_lm(
        model, tokenizer, batch_size=batch_size, model_args={"think_end_token": think_end_token}, near_ties=near_ties
    )

    def response_line(number: int, record: dict) -> dict:
        return {
            **rows[number],
            "prompt": texts[number],
            "response": record["text"].strip(),
            **engine_fields(record),
        }

    def finished(number: int, record: dict) -> None:
        if keep is not None:
            keep(response_line(number, record))

    generations = Generations(keep=finished)
    records = generate(lm, requests, generations, progress=progress)
    if near_tie_hint and near_ties == DEFAULT_NEAR_TIES and mostly_redecided(generations.work):
        print(
            f"generate: {redecided_summary(generations.work)} (each prompt's text is then what it gets alone); "
            "--near-ties keep takes the batch's own token at a near tie instead (much faster in bfloat16/float16)",
            file=sys.stderr,
        )
    return [response_line(number, record) for number, record in enumerate(records)]


def generate_prompt_file(
    model, tokenizer, prompts: list[dict], output, *, progress: bool = True, model_source: str | None = None, **options
) -> int:
    """Answer the prompts not yet in ``output`` (``options``: :func:`answer_prompts`'), appending
    each response line as it finishes (the file is opened at the first: a run that fails before one
    leaves no file, or the file as it was); returns how many responses the output holds. Each line
    records ``model_source`` (the model as given) and the settings that decided its text
    (:func:`made_with`); a re-run keeps only lines made for the same prompt with the same ones."""
    from tqdm.auto import tqdm

    output = Path(output)
    done = finished_indices(output)
    settings = made_with(model_source, str(model.dtype).removeprefix("torch."), options)
    check_kept_responses(done, prompts, output, tokenizer, options)
    check_kept_settings(done, output, settings)
    todo = [row for row in prompts if row["index"] not in done]
    if done:
        print(
            f"generate: {output} already holds the responses to {len(done)} of the {len(prompts)} prompts: "
            f"generating the other {len(todo)}",
            file=sys.stderr,
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    started, tokens, handle = time.monotonic(), 0, None
    with (
        ExitStack() as files,
        tqdm(total=len(prompts), initial=len(done), desc="generate", unit="prompt", disable=not progress) as bar,
    ):

        def write(line: dict) -> None:
            nonlocal tokens, handle
            if handle is None:  # opened (appending) at the first response: a run that fails before one makes no file
                handle = files.enter_context(open(output, "a", encoding="utf-8"))
            line = {**line, "made_with": settings}
            counted = line["n_tokens"]
            tokens += counted if isinstance(counted, int) else len(tokenizer(line["response"]).input_ids)
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
            handle.flush()
            bar.set_postfix_str(f"{tokens / max(time.monotonic() - started, 1e-9):.1f} tok/s", refresh=False)

        answer_prompts(model, tokenizer, todo, keep=write, progress=bar.update, near_tie_hint=True, **options)
    # responses were appended as they finished (documents run in token order, not file order):
    # once all are in, the file is put back in the prompts' order
    from polyplatypus.utils.io import atomic_write_jsonl

    answered = finished_indices(output)
    atomic_write_jsonl(output, [answered[number] for number in sorted(answered)])
    return len(answered)

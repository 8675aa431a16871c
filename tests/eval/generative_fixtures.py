"""lm-eval ``generate_until`` task files over local data, as a user writes them, for the generative
evaluation tests: a COPA-style completion task (KoBEST COPA sentences, written here as JSONL) with
stop strings that a briefly trained tiny model emits, an ``exact_match`` metric, a regex filter
pipeline, few-shot examples drawn ``first_n`` from a train split, and a group mixing it with a
multiple-choice task."""

from __future__ import annotations

import csv
import json
from pathlib import Path

GENERATIVE_TASK = """\
task: {name}
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files: {{train: {train}, test: {test}}}
output_type: generate_until
training_split: train
test_split: test
fewshot_split: train
fewshot_config:
  sampler: first_n
doc_to_text: "{{{{premise}}}} {{{{question}}}}:"
doc_to_target: "{{{{answer}}}}"
target_delimiter: " "
generation_kwargs:
  until: ["60년", "\\n\\n"]
  max_gen_toks: {max_gen_toks}
  do_sample: false
{filters}metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
    ignore_punctuation: true
metadata: {{version: 1.0}}
"""

REGEX_FILTERS = """\
filter_list:
  - name: strict
    filter:
      - function: take_first
  - name: first-word
    filter:
      - function: regex
        regex_pattern: "(\\\\S+)"
        group_select: 0
      - function: take_first
"""

CHOICE_TASK = """\
task: copa_choice_local
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files: {{train: {train}, test: {test}}}
output_type: multiple_choice
training_split: train
test_split: test
doc_to_text: "{{{{premise}}}} {{{{question}}}}:"
doc_to_choice: "{{{{[alternative_1, alternative_2]}}}}"
doc_to_target: "{{{{label}}}}"
metric_list:
  - metric: acc
metadata: {{version: 1.0}}
"""

GROUP = """\
group: copa_mixed_local
task: [copa_gen_local, copa_choice_local]
aggregate_metric_list:
  - {metric: exact_match, aggregation: mean, weight_by_size: true}
  - {metric: acc, aggregation: mean, weight_by_size: true}
metadata: {version: 1.0}
"""


def _copa_rows(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            answer = int(row["Answer"])
            # every third answer is what the tiny model writes first, so exact_match is not all zeros
            text = "6년" if len(rows) % 3 == 0 else row[str(answer)]
            rows.append(
                {
                    "premise": row["sentence"],
                    "question": row["question"],
                    "alternative_1": row["1"],
                    "alternative_2": row["2"],
                    "label": answer - 1,
                    "answer": text,
                }
            )
    return rows


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def write_generative_tasks(folder: Path, kobest_dir: Path, *, max_gen_toks: int = 24) -> Path:
    """``copa_gen_local`` (one filter), ``copa_gen_regex_local`` (two filter pipelines, one a
    regex), ``copa_choice_local`` (multiple choice on the same documents), the group
    ``copa_mixed_local`` and ``copa_gen_long_local`` (``max_gen_toks`` 400: no room in a 384-token
    model)."""
    folder.mkdir(parents=True, exist_ok=True)
    train = _jsonl(folder / "copa-train.jsonl", _copa_rows(Path(kobest_dir) / "COPA" / "train.tsv")[:20])
    test = _jsonl(folder / "copa-test.jsonl", _copa_rows(Path(kobest_dir) / "COPA" / "test.tsv"))
    files = {"train": json.dumps(train), "test": json.dumps(test)}
    for name, filters, tokens in (
        ("copa_gen_local", "", max_gen_toks),
        ("copa_gen_regex_local", REGEX_FILTERS, max_gen_toks),
        ("copa_gen_long_local", "", 400),
    ):
        (folder / f"{name}.yaml").write_text(
            GENERATIVE_TASK.format(name=name, filters=filters, max_gen_toks=tokens, **files), encoding="utf-8"
        )
    (folder / "copa_choice_local.yaml").write_text(CHOICE_TASK.format(**files), encoding="utf-8")
    (folder / "_copa_mixed_local.yaml").write_text(GROUP, encoding="utf-8")
    return folder


def lm_eval_reference(model, name, shots, limit, folder, *, model_args=None, **options):
    """lm-eval 0.4.13's own run of a task over ``folder``'s files: ``simple_evaluate`` with its
    ``HFLM`` engine at batch size 1 (given ``model_args``, as ``--model_args``), samples logged (the
    reference these tests compare with)."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    from polyplatypus.tasks.lm_eval_tasks import task_manager

    lm = HFLM(pretrained=model[0], tokenizer=model[1], batch_size=1, **(model_args or {}))
    return simple_evaluate(
        model=lm,
        tasks=[name],
        num_fewshot=shots,
        limit=limit,
        log_samples=True,
        task_manager=task_manager([str(folder)]),
        **options,
    )


REVIEW_TASK = """\
task: review_label_local
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files: {{train: {train}, test: {test}}}
output_type: generate_until
training_split: train
test_split: test
fewshot_split: train
fewshot_config:
  sampler: first_n
doc_to_text: "{{{{review}}}}"
doc_to_target: "{{{{label}}}}"
target_delimiter: ""
generation_kwargs:
  until: ["\\n\\n"]
  max_gen_toks: 16
  do_sample: false
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
metadata: {{version: 1.0}}
"""

PROSE_TASK = """\
task: prose_open_local
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files: {{test: {test}}}
output_type: generate_until
test_split: test
num_fewshot: 0
doc_to_text: "{{{{opening}}}}"
doc_to_target: "{{{{rest}}}}"
generation_kwargs:
  until: ["(부정)"]
  max_gen_toks: 40
  do_sample: false
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
metadata: {{version: 1.0}}
"""

REVIEW_GROUP = """\
group: review_prose_local
task: [review_label_local, prose_open_local]
aggregate_metric_list:
  - {metric: exact_match, aggregation: mean, weight_by_size: true}
metadata: {version: 1.0}
"""

CORPUS = Path(__file__).resolve().parents[2] / "src" / "polyplatypus" / "assets" / "corpus"


def _corpus_paragraphs(prose: bool) -> list[str]:
    files = [p for p in sorted(CORPUS.glob("*.txt")) if p.name.startswith("2") != prose]
    return [t.strip() for p in files for t in p.read_text(encoding="utf-8").split("\n\n")[1:] if t.strip()]


def write_review_tasks(folder: Path) -> Path:
    """Tasks for the briefly trained tests/fixtures/tiny-gptneox-gen, which ends a review drill
    with a blank line and a prose paragraph with EOS: ``review_label_local`` (a review's label
    generated after 3 ``first_n`` shots, exact_match on it), ``prose_open_local`` (prose openings,
    0-shot, other generation kwargs) and the group ``review_prose_local`` of both."""
    folder.mkdir(parents=True, exist_ok=True)
    reviews = [(r, f" {label}") for r, label in (p.rsplit(" ", 1) for p in _corpus_paragraphs(prose=False))]
    train = _jsonl(folder / "review-train.jsonl", [{"review": r, "label": label} for r, label in reviews[:20]])
    test = _jsonl(folder / "review-test.jsonl", [{"review": r, "label": label} for r, label in reviews[200:260]])
    prose = _jsonl(
        folder / "prose-test.jsonl", [{"opening": p[:10], "rest": p[10:]} for p in _corpus_paragraphs(prose=True)]
    )
    files = {"train": json.dumps(train), "test": json.dumps(test)}
    (folder / "review_label_local.yaml").write_text(REVIEW_TASK.format(**files), encoding="utf-8")
    (folder / "prose_open_local.yaml").write_text(PROSE_TASK.format(test=json.dumps(prose)), encoding="utf-8")
    (folder / "_review_prose_local.yaml").write_text(REVIEW_GROUP, encoding="utf-8")
    return folder

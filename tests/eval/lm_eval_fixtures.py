"""Task folders for the lm-eval tests, written the way a user writes them: YAML files that
``include:`` lm-eval 0.4.13's own task files and point them at local data (``dataset_path: csv`` or
``json`` with ``dataset_kwargs.data_files``), next to a ``utils.py`` for ``!function``.

Documents for KMMLU, HAE-RAE and CLIcK are made here in each benchmark's hub schema (the real data
is on the hub, which tests never reach); KoBEST and KorNLI use the shared TSVs.
"""

from __future__ import annotations

import json
from pathlib import Path


def lm_eval_tasks_dir() -> Path:
    import lm_eval

    return Path(lm_eval.__file__).parent / "tasks"


KOBEST_UTILS = '''\
"""KoBEST v1.0 TSV columns -> the hub dataset skt/kobest_v1's fields, then lm-eval's own processing."""
from lm_eval.tasks.kobest.utils import hellaswag_process_doc


def _true(value):
    return str(value).strip().lower() == "true"


def boolq(dataset):
    return dataset.map(lambda r: {"paragraph": r["Text"], "question": r["Question"], "label": int(_true(r["Answer"]))},
                       remove_columns=dataset.column_names)


def copa(dataset):
    return dataset.map(lambda r: {"premise": r["sentence"], "question": r["question"], "alternative_1": r["1"],
                                  "alternative_2": r["2"], "label": int(r["Answer"]) - 1},
                       remove_columns=dataset.column_names)


def hellaswag(dataset):
    hub = dataset.map(lambda r: {"context": r["context"], **{f"ending_{i}": r[f"choice{i}"] for i in range(1, 5)},
                                 "label": int(r["label"])}, remove_columns=dataset.column_names)
    return hellaswag_process_doc(hub)


def sentineg(dataset):
    return dataset.map(lambda r: {"sentence": r["Text"], "label": int(r["Label"])},
                       remove_columns=dataset.column_names)


def wic(dataset):
    return dataset.map(lambda r: {"word": r["Target"], "context_1": r["SENTENCE1"], "context_2": r["SENTENCE2"],
                                  "label": int(_true(r["ANSWER"]))}, remove_columns=dataset.column_names)
'''

KOBEST_FOLDERS = {"boolq": "BoolQ", "copa": "COPA", "hellaswag": "HellaSwag", "sentineg": "SentiNeg", "wic": "WiC"}


def write_kobest_tasks(folder: Path, kobest_dir: Path) -> list[str]:
    """``kobest_<name>_tsv`` for lm-eval's five kobest tasks, and the group ``kobest_tsv``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "utils.py").write_text(KOBEST_UTILS, encoding="utf-8")
    names = []
    for short, sub in KOBEST_FOLDERS.items():
        files = {
            split: str(Path(kobest_dir) / sub / f"{stem}.tsv")
            for split, stem in (("train", "train"), ("validation", "dev"), ("test", "test"))
        }
        name = f"kobest_{short}_tsv"
        # SentiNeg's three files order and name their columns differently: read the two it uses
        columns = "  usecols: [Text, Label]\n" if short == "sentineg" else ""
        _write_task_file(
            folder / f"{name}.yaml",
            name,
            lm_eval_tasks_dir() / "kobest" / f"kobest_{short}.yaml",
            files,
            builder="csv",
            kwargs=f'  delimiter: "\\t"\n{columns}',
            extra=f"process_docs: !function utils.{short}\n",
        )
        names.append(name)
    _write_group_file(
        folder / "_kobest_tsv.yaml",
        "kobest_tsv",
        names,
        "  - {metric: acc, aggregation: mean, weight_by_size: true}\n"
        "  - {metric: f1, aggregation: mean, weight_by_size: true}\n",
        "1.0",
    )
    return names


def _write_task_file(
    path: Path, name: str, include: Path, data_files: dict, *, builder: str = "json", kwargs: str = "", extra: str = ""
) -> None:
    """A task file including one of lm-eval's, over local files (``kwargs``: more dataset_kwargs lines)."""
    path.write_text(
        f"include: {include}\ntask: {name}\ndataset_path: {builder}\ndataset_name: null\n"
        f"dataset_kwargs:\n{kwargs}  data_files: {json.dumps(data_files)}\n{extra}",
        encoding="utf-8",
    )


def _write_group_file(path: Path, group: str, names: list[str], metrics: str, version: str) -> None:
    """A group over ``names``, aggregating ``metrics`` (YAML list lines) by size."""
    path.write_text(
        f"group: {group}\ntask: [{', '.join(names)}]\naggregate_metric_list:\n{metrics}"
        f"metadata:\n  version: {version}\n",
        encoding="utf-8",
    )


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


KMMLU_SUBJECTS = {
    "Accounting": [
        ("재무제표에서 자산 총계와 같은 것은?", ["부채 총계", "자본 총계", "부채와 자본의 합계", "수익 총계"], 3),
        ("감가상각의 목적으로 가장 알맞은 것은?", ["원가 배분", "자산 평가", "현금 조달", "세금 회피"], 1),
        ("유동자산에 속하는 것은?", ["토지", "건물", "매출채권", "영업권"], 3),
    ],
    "Korean-History": [
        ("훈민정음을 반포한 왕은?", ["태조", "세종", "정조", "고종"], 2),
        ("임진왜란이 일어난 해는?", ["1392년", "1592년", "1636년", "1876년"], 2),
        ("고려를 세운 사람은?", ["왕건", "이성계", "궁예", "견훤"], 1),
    ],
}


def _copies(rows: list[dict], copies: int, key: str) -> list[dict]:
    """``rows`` and ``copies - 1`` numbered variants of them (more documents for the benchmark)."""
    return rows + [dict(r, **{key: f"{r[key]} ({n})"}) for n in range(1, copies) for r in rows]


def write_kmmlu_tasks(folder: Path, copies: int = 1) -> list[str]:
    """Two KMMLU-format subjects (test + a 5-document dev split each) and a group over them."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for subject, items in KMMLU_SUBJECTS.items():
        rows = [
            {
                "question": q,
                "A": c[0],
                "B": c[1],
                "C": c[2],
                "D": c[3],
                "answer": a,
                "Category": subject,
                "Human Accuracy": 0.5,
            }
            for q, c, a in items
        ]
        test = _copies(rows * 2 + [dict(rows[0], question=rows[0]["question"] + " (다시)")], copies, "question")
        dev = [dict(r, question=f"{r['question']} 예제 {i}") for i, r in enumerate(rows + rows[:2])]
        files = {
            "test": _jsonl(folder / f"{subject}-test.jsonl", test),
            "dev": _jsonl(folder / f"{subject}-dev.jsonl", dev),
        }
        name = "kmmlu_local_" + subject.lower().replace("-", "_")
        _write_task_file(
            folder / f"{name}.yaml", name, lm_eval_tasks_dir() / "kmmlu" / "default" / "_default_kmmlu_yaml", files
        )
        names.append(name)
    _write_group_file(
        folder / "_kmmlu_local.yaml", "kmmlu_local", names, "  - {metric: acc, weight_by_size: true}\n", "2.0"
    )
    return names


def write_haerae_task(folder: Path, copies: int = 1, name: str = "haerae_local") -> str:
    """A HAE-RAE-format task: the query holds the options, choices (A)..(E), few-shot from its test split."""
    folder.mkdir(parents=True, exist_ok=True)
    words = ["가람", "나래", "다솜", "라온", "마루", "바람", "사랑", "아라", "자리", "하늘"]
    rows = []
    for i in range(8):
        options = [words[(i + j) % len(words)] for j in range(5)]
        text = " ".join(f"({'ABCDE'[j]}) {o}" for j, o in enumerate(options))
        rows.append(
            {
                "query": f"다음 중 순우리말 '{options[i % 5]}'와 뜻이 같은 것은?\n{text}\n정답:",
                "answer": f"({'ABCDE'[i % 5]})",
                "options": options,
            }
        )
    files = {"test": _jsonl(folder / f"{name}-test.jsonl", _copies(rows, copies, "query"))}
    _write_task_file(folder / f"{name}.yaml", name, lm_eval_tasks_dir() / "haerae" / "_default_haerae_yaml", files)
    return name


def write_click_task(folder: Path, copies: int = 1) -> str:
    """A CLIcK-format task (culture, economy): ids pick the subset; a CSAT item has five choices."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(6):
        choices = [f"{k + 1}번 경제 용어 {i}" for k in range(4)]
        rows.append(
            {
                "id": f"KIIP_economy_{i}",
                "paragraph": "" if i % 2 else "한국의 중앙은행은 한국은행이다.",
                "question": f"경제 질문 {i}: 알맞은 것은?",
                "choices": choices,
                "answer": choices[i % 4],
            }
        )
    five = [f"선지 {k}" for k in range(5)]
    rows.append(
        {"id": "CSAT_economy_1", "paragraph": "", "question": "수능 경제 문제", "choices": five, "answer": five[4]}
    )
    rows.append(
        {
            "id": "KIIP_society_1",
            "paragraph": "",
            "question": "사회 질문",
            "choices": ["가", "나", "다", "라"],
            "answer": "가",
        }
    )  # filtered out by process_docs
    files = {"train": _jsonl(folder / "click-train.jsonl", _copies(rows, copies, "question"))}
    _write_task_file(
        folder / "click_local.yaml",
        "click_local_economy",
        lm_eval_tasks_dir() / "click" / "click_cul" / "_default_click_cul_yaml",
        files,
        extra="process_docs: !function lm_eval.tasks.click.click_cul.utils.extract_economy\n",
    )
    return "click_local_economy"


KORNLI_YAML = """\
task: kornli
dataset_path: csv
dataset_name: null
dataset_kwargs:
  delimiter: "\\t"
  quoting: 3
  data_files:
    validation: {dev}
    test: {test}
output_type: multiple_choice
validation_split: validation
test_split: test
fewshot_split: validation
doc_to_text: "{{{{sentence1}}}}\\n질문: {{{{sentence2}}}} 참, 거짓, 중립 중 무엇인가?\\n답:"
doc_to_choice: ["참", "중립", "거짓"]
doc_to_target: "{{{{ {{'entailment': 0, 'neutral': 1, 'contradiction': 2}}[gold_label] }}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""


def write_kornli_task(folder: Path, kornli_dir: Path) -> str:
    """The KorNLI task of docs/tasks.md over the shared XNLI-ko TSVs."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kornli.yaml").write_text(
        KORNLI_YAML.format(dev=Path(kornli_dir) / "xnli.dev.ko.tsv", test=Path(kornli_dir) / "xnli.test.ko.tsv"),
        encoding="utf-8",
    )
    return "kornli"


GENERATIVE = """\
task: kmmlu_local_generative
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files: {{test: {data}}}
output_type: generate_until
test_split: test
doc_to_text: "{{{{question}}}}"
doc_to_target: "{{{{answer}}}}"
metadata: {{version: 1.0}}
"""

MISSING_DATA = """\
task: kornli_missing
dataset_path: csv
dataset_name: null
dataset_kwargs:
  delimiter: "\\t"
  data_files: {{test: {data}}}
output_type: multiple_choice
test_split: test
doc_to_text: "{{{{sentence1}}}}"
doc_to_choice: ["a", "b"]
doc_to_target: 0
metadata: {{version: 1.0}}
"""

FIXED_ZERO = """\
include: {kmmlu}
task: kmmlu_local_zero_only
num_fewshot: 0
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files: {{test: {test}, dev: {dev}}}
"""


KEY_HELPERS = """\
def target(doc):
    return "ABCDE".index(doc["answer"][1])
"""


def write_key_tasks(folder: Path) -> None:
    """HAE-RAE copies the key tests change (gold targets, metric_list, a ``!function`` helper)."""
    for name in ("haerae_key_gold", "haerae_key_metrics", "haerae_key_function"):
        write_haerae_task(folder, name=name)
    (folder / "key_helpers.py").write_text(KEY_HELPERS, encoding="utf-8")
    task = folder / "haerae_key_function.yaml"
    task.write_text(
        task.read_text(encoding="utf-8") + "doc_to_target: !function key_helpers.target\n", encoding="utf-8"
    )


def write_redefined_tasks(folder: Path) -> None:
    """Two files defining ``haerae_twice``, and one redefining lm-eval's own ``xcopa_et``."""
    write_haerae_task(folder, name="haerae_twice")
    text = (folder / "haerae_twice.yaml").read_text(encoding="utf-8")
    (folder / "haerae_twice_again.yaml").write_text(text + 'target_delimiter: "  "\n', encoding="utf-8")
    (folder / "xcopa_et.yaml").write_text(text.replace("task: haerae_twice", "task: xcopa_et"), encoding="utf-8")


def write_all(folder: Path, kobest_dir: Path | None, kornli_dir: Path | None) -> Path:
    """Every task the lm-eval tests use, in one folder (lm-eval indexes it once per test session):
    the parity tasks, tasks that must be refused, and two copies of the HAE-RAE task that tests
    change (``haerae_changing_data``, ``haerae_changing_file``)."""
    if kobest_dir is not None:
        write_kobest_tasks(folder / "kobest", kobest_dir)
    if kornli_dir is not None:
        write_kornli_task(folder / "kornli", kornli_dir)
    write_kmmlu_tasks(folder / "kmmlu")
    write_haerae_task(folder / "haerae")
    write_click_task(folder / "click")
    write_haerae_task(folder / "changing", name="haerae_changing_data")
    write_haerae_task(folder / "changing", name="haerae_changing_file")
    write_key_tasks(folder / "keys")
    write_redefined_tasks(folder / "redefined")
    errors = folder / "refused"
    errors.mkdir(parents=True, exist_ok=True)
    test = folder / "kmmlu" / "Accounting-test.jsonl"
    (errors / "generative.yaml").write_text(GENERATIVE.format(data=test), encoding="utf-8")
    (errors / "missing.yaml").write_text(MISSING_DATA.format(data=folder / "nowhere" / "test.tsv"), encoding="utf-8")
    (errors / "zero.yaml").write_text(
        FIXED_ZERO.format(
            kmmlu=lm_eval_tasks_dir() / "kmmlu" / "default" / "_default_kmmlu_yaml",
            test=test,
            dev=folder / "kmmlu" / "Accounting-dev.jsonl",
        ),
        encoding="utf-8",
    )
    return folder

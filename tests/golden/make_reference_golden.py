"""Produce golden KoBEST values from the reference harness (Beomi/ko-lm-evaluation-harness).

This is a driver only: it imports and runs the reference harness installed in a separate
virtual environment, outside this project.  No harness code is copied here.  It is NOT part of
the project's test suite and does not run with the project's venv.

Setup (once; paths are examples, anything outside the project works):

    # 1. the harness source: GitHub Beomi/ko-lm-evaluation-harness (a fork of
    #    lm-evaluation-harness v0.3) at commit b4bd6f6a4d9473fec4ac5d0f36c0cf23da18f472, as a
    #    plain work tree in /work/refharness.  From a bare mirror G of the repository (here
    #    /work/.mirror/Beomi+ko-lm-evaluation-harness/repo) `git archive HEAD` fails
    #    because two bigbench JSON blobs are absent from the snapshot (not needed); extract
    #    blob by blob instead:
    G=/work/.mirror/Beomi+ko-lm-evaluation-harness/repo; mkdir -p /work/refharness
    cd /work/refharness && git --git-dir=$G ls-tree -r HEAD | while read mode type sha path; do
      git --git-dir=$G cat-file -e $sha 2>/dev/null || continue
      mkdir -p "$(dirname "$path")"; git --git-dir=$G cat-file blob $sha > "$path"; done

    # 2. a separate venv: the CPU torch wheel FIRST (pinned, so no CUDA build is pulled in),
    #    then the harness's dependencies, then the harness itself without dependencies.
    python3 -m venv /work/refenv
    /work/refenv/bin/pip install torch==2.13.0
    /work/refenv/bin/pip install transformers==5.24.0 datasets pandas numpy scikit-learn \
        sacrebleu==1.5.0 jsonlines numexpr pycountry pytablewriter rouge-score sqlitedict \
        tqdm-multiprocess zstandard omegaconf evaluate accelerate peft
    /work/refenv/bin/pip install --no-deps -e /work/refharness

Run (from a directory outside the project, e.g. /tmp; ~15 s on one CPU thread):

    cd /tmp && /work/refenv/bin/python /work/main/tests/golden/make_reference_golden.py \
        --model /work/main/tests/fixtures/tiny-gptneox \
        --data /work/shared/data/kobest/v1.0 \
        --out /work/main/tests/golden/reference_tiny_gptneox.json \
        --harness-commit b4bd6f6a4d9473fec4ac5d0f36c0cf23da18f472 --log /tmp/harness_stdout.log

(--harness-commit is needed when the installed harness is not a git checkout, as above.)

Run-time detours (all done below, none edits the harness):
  * ``datasets.load_dataset`` is replaced by a function building the ``skt/kobest_v1`` splits
    from the local v1.0 TSVs the way the hub's loading script does (pandas ``read_csv(sep="\\t")``,
    ``dropna()``, hub field names, a boolean label is 0 only when the value reads False).
  * ``transformers.data.metrics.squad_metrics`` (gone in transformers 5) is stubbed; only
    unrelated tasks (superglue, coqa) import it.
  * ``HFLM.__init__`` passes ``load_in_8bit=``/``device_map=`` to ``from_pretrained``, which
    transformers 5 rejects: ``AutoModelForCausalLM.from_pretrained`` is patched, for the duration
    of the constructor only, to hand back the model that we loaded ourselves in float32 on CPU.
    Everything else in ``__init__`` (tokenizer loading, device, batch size) is the harness's own.
  * ``lm.loglikelihood`` is wrapped to record each request and its result;
    ``task.construct_requests`` / ``task.fewshot_examples`` are wrapped (delegating to the
    originals) only to record which documents were evaluated and which were drawn as shots.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import subprocess
import sys
import types

TASKS = ["kobest_boolq", "kobest_copa", "kobest_hellaswag", "kobest_sentineg", "kobest_wic"]
TASK_DIRS = {
    "boolq": "BoolQ",
    "copa": "COPA",
    "hellaswag": "HellaSwag",
    "sentineg": "SentiNeg",
    "wic": "WiC",
}
SPLIT_FILES = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}


# --------------------------------------------------------------------------- data


def _bool_label(value) -> int:
    """0 only when the value reads as False (pandas parses True/TRUE/False/FALSE to bool)."""
    if isinstance(value, str):
        return 0 if value.strip().lower() == "false" else 1
    return 0 if value is False or value == False else 1  # noqa: E712 (numpy bools)


def _row_to_doc(name: str, row) -> dict:
    if name == "boolq":
        return {
            "paragraph": row["Text"],
            "question": row["Question"],
            "label": _bool_label(row["Answer"]),
        }
    if name == "copa":
        return {
            "premise": row["sentence"],
            "question": row["question"],
            "alternative_1": row["1"],
            "alternative_2": row["2"],
            "label": int(row["Answer"]) - 1,
        }
    if name == "hellaswag":
        return {
            "context": row["context"],
            "ending_1": row["choice1"],
            "ending_2": row["choice2"],
            "ending_3": row["choice3"],
            "ending_4": row["choice4"],
            "label": int(row["label"]),
        }
    if name == "sentineg":
        return {"sentence": row["Text"], "label": int(row["Label"])}
    if name == "wic":
        return {
            "word": row["Target"],
            "context_1": row["SENTENCE1"],
            "context_2": row["SENTENCE2"],
            "label": _bool_label(row["ANSWER"]),
        }
    raise KeyError(name)


def read_split(data_dir: str, name: str, split: str) -> list[dict]:
    import pandas as pd

    path = os.path.join(data_dir, TASK_DIRS[name], SPLIT_FILES[split])
    df = pd.read_csv(path, sep="\t").dropna()
    return [_row_to_doc(name, row) for _, row in df.iterrows()]


def make_load_dataset(data_dir: str):
    import datasets

    def load_dataset(path=None, name=None, **_kwargs):
        assert path == "skt/kobest_v1", path
        return datasets.DatasetDict(
            {split: datasets.Dataset.from_list(read_split(data_dir, name, split)) for split in SPLIT_FILES}
        )

    return load_dataset


def doc_key(name: str, doc: dict) -> tuple:
    """Fields that identify a doc, for the task's raw and (HellaSwag) processed docs."""
    if name == "hellaswag":
        if "query" in doc:
            return (doc["query"], *doc["choices"], int(doc["gold"]))
        return (doc["context"], doc["ending_1"], doc["ending_2"], doc["ending_3"], doc["ending_4"], int(doc["label"]))
    return tuple((k, doc[k]) for k in sorted(doc))


def index_rows(name: str, rows: list[dict]) -> dict:
    index: dict = {}
    for i, row in enumerate(rows):
        index.setdefault(doc_key(name, row), []).append(i)
    return index


# --------------------------------------------------------------------------- harness


def stub_squad_metrics() -> None:
    import transformers

    if "transformers.data.metrics.squad_metrics" in sys.modules:
        return
    import transformers.data  # exists in transformers 5

    metrics = types.ModuleType("transformers.data.metrics")
    squad = types.ModuleType("transformers.data.metrics.squad_metrics")
    metrics.squad_metrics = squad
    transformers.data.metrics = metrics
    sys.modules["transformers.data.metrics"] = metrics
    sys.modules["transformers.data.metrics.squad_metrics"] = squad


def make_lm(model_dir: str, dtype: str = "float32"):
    import torch
    import transformers
    from lm_eval.models.gpt2 import HFLM

    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype))
    model.eval()

    original = transformers.AutoModelForCausalLM.from_pretrained
    seen_kwargs = {}

    def from_pretrained(pretrained, *args, **kwargs):
        assert pretrained == model_dir, pretrained
        seen_kwargs.update(kwargs)
        return model

    transformers.AutoModelForCausalLM.from_pretrained = from_pretrained
    try:
        lm = HFLM(device="cpu", pretrained=model_dir, batch_size=1)
    finally:
        transformers.AutoModelForCausalLM.from_pretrained = original
    assert lm.gpt2 is model
    assert next(model.parameters()).dtype == getattr(torch, dtype)
    return lm, sorted(seen_kwargs)


class Recorder:
    """Wraps lm.loglikelihood; requests arrive in document order per task."""

    def __init__(self, lm):
        self.lm = lm
        self.calls: list[tuple[list, list]] = []
        original = lm.loglikelihood

        def loglikelihood(requests):
            requests = list(requests)
            results = original(requests)
            self.calls.append((requests, results))
            return results

        lm.loglikelihood = loglikelihood


def run_cell(lm, recorder, task_name: str, shots: int, limit: int, log) -> dict:
    import lm_eval.evaluator
    import lm_eval.tasks

    task_dict = lm_eval.tasks.get_task_dict([task_name])
    task = task_dict[task_name]

    seen_docs = []  # (doc, ctx) in the evaluator's order
    shot_docs = []  # few-shot docs drawn for each evaluated doc

    orig_construct = task.construct_requests
    orig_fewshot = task.fewshot_examples

    def construct_requests(doc, ctx):
        seen_docs.append(doc)
        return orig_construct(doc, ctx)

    def fewshot_examples(k, rnd):
        drawn = orig_fewshot(k=k, rnd=rnd)
        shot_docs.append(list(drawn))
        return drawn

    task.construct_requests = construct_requests
    task.fewshot_examples = fewshot_examples

    recorder.calls.clear()
    with contextlib.redirect_stdout(log):  # BoolQ prints every context
        out = lm_eval.evaluator.evaluate(
            lm=lm,
            task_dict=task_dict,
            num_fewshot=shots,
            limit=limit,
            bootstrap_iters=100,  # stderr only; not recorded
        )
    assert len(recorder.calls) == 1, len(recorder.calls)
    requests, results = recorder.calls[0]
    return {
        "task": task,
        "docs": seen_docs,
        "shot_docs": shot_docs,
        "requests": requests,
        "results": results,
        "metrics": out["results"][task_name],
    }


# --------------------------------------------------------------------------- main


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def harness_commit(harness_dir: str | None) -> str | None:
    import lm_eval

    candidates = [harness_dir] if harness_dir else []
    candidates.append(os.path.dirname(os.path.dirname(os.path.abspath(lm_eval.__file__))))
    for d in candidates:
        try:
            return subprocess.check_output(
                ["git", "-C", d, "rev-parse", "HEAD"], text=True, stderr=subprocess.DEVNULL
            ).strip()
        except Exception:
            continue
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="/work/main/tests/fixtures/tiny-gptneox")
    ap.add_argument("--data", default="/work/shared/data/kobest/v1.0")
    ap.add_argument("--out", default="/work/main/tests/golden/reference_tiny_gptneox.json")
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "bfloat16", "float16"],
        help="weights dtype; the harness then takes log-softmax and sums in it",
    )
    ap.add_argument("--shots", default="0,5")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument(
        "--harness-commit", default=None, help="recorded in provenance when the installed harness is not a git checkout"
    )
    ap.add_argument("--log", default=os.devnull, help="where the harness's stdout goes")
    ap.add_argument(
        "--max-bytes",
        type=int,
        default=1_000_000,
        help="keep every context when the JSON stays under this size, else only "
        "the first 3 docs' contexts per cell (sha256 always kept)",
    )
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)

    import datasets
    import numpy
    import pandas
    import sklearn
    import transformers

    datasets.load_dataset = make_load_dataset(args.data)
    stub_squad_metrics()

    import lm_eval  # noqa: F401  (after the stubs)

    lm, from_pretrained_kwargs = make_lm(args.model, args.dtype)
    recorder = Recorder(lm)
    max_length = lm.max_length

    def encode_ctx(ctx: str) -> list[int]:
        return [lm.eot_token_id] if ctx == "" else lm.tok_encode(ctx)

    tests = {}
    trains = {}
    cells = []
    log = open(args.log, "w", encoding="utf-8")
    for task_name in args.tasks.split(","):
        name = task_name.split("_", 1)[1]
        tests[name] = index_rows(name, read_split(args.data, name, "test"))
        trains[name] = index_rows(name, read_split(args.data, name, "train"))
        for shots in [int(s) for s in args.shots.split(",")]:
            print(f"running {task_name} {shots}-shot", file=sys.stderr, flush=True)
            cell = run_cell(lm, recorder, task_name, shots, args.limit, log)
            docs, requests, results = cell["docs"], cell["requests"], cell["results"]
            n_choices = len(requests) // len(docs)
            assert n_choices * len(docs) == len(requests)
            if shots:
                assert len(cell["shot_docs"]) == len(docs)
            out_docs = []
            for pos, doc in enumerate(docs):
                hits = tests[name].get(doc_key(name, doc), [])
                assert len(hits) >= 1, (task_name, pos)
                reqs = requests[pos * n_choices : (pos + 1) * n_choices]
                ress = results[pos * n_choices : (pos + 1) * n_choices]
                contexts = [r[0] for r in reqs]
                assert len(set(contexts)) == 1, "one context per doc"
                ctx_enc = encode_ctx(contexts[0])
                conts = [r[1] for r in reqs]
                cont_lens = [len(lm.tok_encode(c)) for c in conts]
                entry = {
                    "position": pos,
                    "doc_index": hits[0],
                    "loglikelihoods": [float(r[0]) for r in ress],
                    "is_greedy": [bool(r[1]) for r in ress],
                    "context": contexts[0],
                    "context_sha256": sha256(contexts[0]),
                    "context_tokens": len(ctx_enc),
                    "truncated": any(len(ctx_enc) + n > max_length + 1 for n in cont_lens),
                    "continuations": conts,
                    "gold": int(doc["gold"] if name == "hellaswag" else doc["label"]),
                }
                if len(hits) > 1:
                    entry["doc_index_candidates"] = hits
                if shots:
                    idx = []
                    for sd in cell["shot_docs"][pos]:
                        shits = trains[name].get(doc_key(name, sd), [])
                        assert shits, (task_name, pos)
                        idx.append(shits[0])
                    entry["fewshot_train_indices"] = idx
                out_docs.append(entry)
            m = cell["metrics"]
            rec = {"task": task_name, "shots": shots, "n_docs": len(docs)}
            rec["docs"] = out_docs
            rec["macro_f1"] = float(m["macro_f1"])
            rec["acc"] = float(m["acc"])
            if "acc_norm" in m:
                rec["acc_norm"] = float(m["acc_norm"])
            rec["n_truncated"] = sum(d["truncated"] for d in out_docs)
            cells.append(rec)
            print(
                f"  macro_f1={rec['macro_f1']:.6f} acc={rec['acc']:.4f} truncated={rec['n_truncated']}/{len(docs)}",
                file=sys.stderr,
                flush=True,
            )
    log.close()

    provenance = {
        "reference": "Beomi/ko-lm-evaluation-harness (fork of EleutherAI lm-evaluation-harness v0.3)",
        "harness_commit": args.harness_commit or harness_commit(None),
        "entry_point": "lm_eval.evaluator.evaluate (seed-42 shuffle, rnd.sample few-shot draws)",
        "lm_class": "lm_eval.models.gpt2.HFLM, model injected (from_pretrained patched during "
        "__init__; it was called with kwargs " + ", ".join(from_pretrained_kwargs) + ")",
        "model_fixture": "tests/fixtures/" + os.path.basename(os.path.normpath(args.model)),
        "model_sha256": hashlib.sha256(open(os.path.join(args.model, "model.safetensors"), "rb").read()).hexdigest(),
        "dtype": args.dtype,
        "device": "cpu",
        "batch_size": 1,
        "max_length": max_length,
        "limit": args.limit,
        "num_fewshot": [int(s) for s in args.shots.split(",")],
        "data": "KoBEST v1.0 TSVs (shared/data/kobest/v1.0), test split evaluated, train split for shots",
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "datasets": datasets.__version__,
            "pandas": pandas.__version__,
            "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "script": "tests/golden/make_reference_golden.py",
        "doc_fields": {
            "position": "order after the evaluator's shuffle (0-based)",
            "doc_index": "0-based data row of the doc in test.tsv",
            "loglikelihoods": "one per request, in the task's choice order",
            "context": "context string exactly as passed to loglikelihood (same for every choice)",
            "context_tokens": "len(tok_encode(context)) ([eot] when the context is empty)",
            "truncated": "len(context+continuation tokens) > max_length + 1 for some choice",
            "fewshot_train_indices": "0-based train.tsv rows of the drawn shots, in prompt order",
        },
    }
    data = {"provenance": provenance, "cells": cells}
    text = json.dumps(data, ensure_ascii=False, indent=1)
    if len(text.encode("utf-8")) > args.max_bytes:
        for c in cells:
            for d in c["docs"][3:]:
                d["context"] = None
        provenance["contexts"] = "full context kept for the first 3 docs of each cell only"
        text = json.dumps(data, ensure_ascii=False, indent=1)
    else:
        provenance["contexts"] = "full context kept for every doc"
        text = json.dumps(data, ensure_ascii=False, indent=1)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(f"wrote {args.out} ({len(text.encode('utf-8'))} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()

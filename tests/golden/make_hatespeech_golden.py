"""Produce golden values for `kohatespeech` and `kohatespeech_gen_bias` from the reference harness.

A sibling of make_reference_golden.py (same setup, same separate venv, same run-time detours for
the model and transformers 5; its helpers are imported from there). No harness code is copied
here: the harness's own task classes (lm_eval/tasks/kohatespeech.py), evaluator and HFLM score
the documents, and its own dataset script (lm_eval/datasets/kohatespeech/kohatespeech.py) reads
the TSVs.

The one extra detour: the tasks load ``cardy/kohatespeech`` from the hub, which is unreachable.
``datasets.load_dataset`` is replaced by a function that builds the same two splits with the
harness's dataset script: its ``_generate_examples`` reads the authors' train.tsv as "train"
and dev.tsv as "test" (skipping the header line, csv module, tab delimiter), and its
``_info().features`` (ClassLabel names) encode the labels, as ``datasets`` does when it runs the
script.

Run (from outside the project; ~1 min on one CPU thread):

    cd /tmp && /tmp/refenv/bin/python /work/main/tests/golden/make_hatespeech_golden.py \
        --model /work/main/tests/fixtures/tiny-gptneox \
        --data /work/shared/data/korean-hate-speech --harness /tmp/refharness \
        --out /work/main/tests/golden/reference_hatespeech_tiny_gptneox.json \
        --harness-commit b4bd6f6a4d9473fec4ac5d0f36c0cf23da18f472
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.util
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference_golden import Recorder, harness_commit, make_lm, run_cell, sha256, stub_squad_metrics  # noqa: E402

TASKS = ["kohatespeech", "kohatespeech_gen_bias"]
SPLIT_FILES = {"train": "train.tsv", "test": "dev.tsv"}  # as the script's _split_generators
GOLD_FIELD = {"kohatespeech": "gold", "kohatespeech_gen_bias": "contain_gender_bias"}


def dataset_script(harness: str):
    path = os.path.join(harness, "lm_eval", "datasets", "kohatespeech", "kohatespeech.py")
    spec = importlib.util.spec_from_file_location("harness_kohatespeech_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def script_rows(script, data_dir: str, split: str) -> list[dict]:
    """The raw rows the script yields for a split (strings, before ClassLabel encoding)."""
    path = os.path.join(data_dir, SPLIT_FILES[split])
    split_name = "train" if split == "train" else "valid"
    return [row for _, row in script.HateSpeech._generate_examples(None, path, split_name)]


def documents_sha256(split_rows: list[dict], features) -> str:
    """Every document of a split as the harness's dataset builds it (labels encoded), hashed."""
    encoded = [{k: (v if k == "comments" else features[k].str2int(v)) for k, v in row.items()} for row in split_rows]
    text = json.dumps(encoded, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_load_dataset(script, data_dir: str):
    import datasets

    features = script.HateSpeech._info(None).features

    def load_dataset(path=None, name=None, **_kwargs):
        assert (path, name) == ("cardy/kohatespeech", "hate_speech"), (path, name)
        return datasets.DatasetDict(
            {
                split: datasets.Dataset.from_list(script_rows(script, data_dir, split), features=features)
                for split in SPLIT_FILES
            }
        )

    return load_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default="/work/shared/data/korean-hate-speech")
    ap.add_argument("--harness", default="/tmp/refharness", help="the harness's source tree (for its dataset script)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--shots", default="0,5")
    ap.add_argument("--harness-commit", default=None)
    ap.add_argument("--log", default=os.devnull)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    import datasets
    import numpy
    import sklearn
    import transformers

    script = dataset_script(args.harness)
    datasets.load_dataset = make_load_dataset(script, args.data)
    stub_squad_metrics()
    import lm_eval  # noqa: F401  (after the stubs)

    lm, from_pretrained_kwargs = make_lm(args.model)
    recorder = Recorder(lm)
    max_length = lm.max_length
    # a document's identity: its row in the file (comments may repeat, so all matching rows are kept)
    rows = {split: script_rows(script, args.data, split) for split in SPLIT_FILES}
    index = {split: {} for split in SPLIT_FILES}
    for split, split_rows in rows.items():
        for i, row in enumerate(split_rows):
            index[split].setdefault(tuple(sorted(row.items())), []).append(i)
    features = script.HateSpeech._info(None).features

    def row_key(doc: dict) -> tuple:
        raw = {"comments": doc["comments"]}
        for name in ("contain_gender_bias", "bias", "hate"):
            raw[name] = features[name].int2str(doc[name])
        return tuple(sorted(raw.items()))

    cells = []
    log = open(args.log, "w", encoding="utf-8")
    for task_name in TASKS:
        for shots in [int(s) for s in args.shots.split(",")]:
            print(f"running {task_name} {shots}-shot", file=sys.stderr, flush=True)
            cell = run_cell(lm, recorder, task_name, shots, args.limit, log)
            docs, requests, results = cell["docs"], cell["requests"], cell["results"]
            n_choices = len(requests) // len(docs)
            out_docs = []
            for pos, doc in enumerate(docs):
                # kohatespeech's docs are processed ({query, choices, gold}); find the raw row by text
                raw = doc if "comments" in doc else None
                if raw is None:
                    comment = doc["query"].removeprefix("문장: ")
                    hits = [
                        i
                        for i, r in enumerate(rows["test"])
                        if r["comments"] == comment and features["hate"].str2int(r["hate"]) == doc["gold"]
                    ]
                else:
                    hits = index["test"].get(row_key(raw), [])
                assert hits, (task_name, pos)
                reqs = requests[pos * n_choices : (pos + 1) * n_choices]
                ress = results[pos * n_choices : (pos + 1) * n_choices]
                contexts = [r[0] for r in reqs]
                assert len(set(contexts)) == 1
                ctx_enc = [lm.eot_token_id] if contexts[0] == "" else lm.tok_encode(contexts[0])
                conts = [r[1] for r in reqs]
                entry = {
                    "position": pos,
                    "doc_index": hits[0],
                    "loglikelihoods": [float(r[0]) for r in ress],
                    "is_greedy": [bool(r[1]) for r in ress],
                    "context": contexts[0],
                    "context_sha256": sha256(contexts[0]),
                    "context_tokens": len(ctx_enc),
                    "truncated": any(len(ctx_enc) + len(lm.tok_encode(c)) > max_length + 1 for c in conts),
                    "continuations": conts,
                    "gold": int(doc[GOLD_FIELD[task_name]]),
                }
                if len(hits) > 1:
                    entry["doc_index_candidates"] = hits
                if shots:
                    shot_rows = []
                    for shot in cell["shot_docs"][pos]:
                        if "comments" in shot:
                            found = index["train"].get(row_key(shot), [])
                        else:
                            comment = shot["query"].removeprefix("문장: ")
                            found = [
                                i
                                for i, r in enumerate(rows["train"])
                                if r["comments"] == comment and features["hate"].str2int(r["hate"]) == shot["gold"]
                            ]
                        assert found, (task_name, pos)
                        shot_rows.append(found[0])
                    entry["fewshot_train_indices"] = shot_rows
                out_docs.append(entry)
            m = cell["metrics"]
            cells.append(
                {
                    "task": task_name,
                    "shots": shots,
                    "n_docs": len(docs),
                    "docs": out_docs,
                    "macro_f1": float(m["macro_f1"]),
                    "acc": float(m["acc"]),
                    "n_truncated": sum(d["truncated"] for d in out_docs),
                }
            )
            print(f"  macro_f1={m['macro_f1']:.6f} acc={m['acc']:.4f}", file=sys.stderr, flush=True)
    log.close()
    provenance = {
        "reference": "Beomi/ko-lm-evaluation-harness (fork of EleutherAI lm-evaluation-harness v0.3)",
        "harness_commit": args.harness_commit or harness_commit(args.harness),
        "entry_point": "lm_eval.evaluator.evaluate (seed-42 shuffle, rnd.sample few-shot draws)",
        "lm_class": "lm_eval.models.gpt2.HFLM, model injected (from_pretrained patched during __init__; it was "
        "called with kwargs " + ", ".join(from_pretrained_kwargs) + ")",
        "data_loading": "datasets.load_dataset replaced: the harness's lm_eval/datasets/kohatespeech/kohatespeech.py "
        "_generate_examples on train.tsv (train) and dev.tsv (test), encoded with its _info().features",
        "model_fixture": "tests/fixtures/" + os.path.basename(os.path.normpath(args.model)),
        "model_sha256": hashlib.sha256(open(os.path.join(args.model, "model.safetensors"), "rb").read()).hexdigest(),
        "data_sha256": {
            name: hashlib.sha256(open(os.path.join(args.data, name), "rb").read()).hexdigest()
            for name in SPLIT_FILES.values()
        },
        "dtype": "float32",
        "device": "cpu",
        "batch_size": 1,
        "max_length": max_length,
        "limit": args.limit,
        "num_fewshot": [int(s) for s in args.shots.split(",")],
        "data": "Korean HateSpeech labeled TSVs (shared/data/korean-hate-speech): dev.tsv evaluated, train.tsv for shots",
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "datasets": datasets.__version__,
            "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "script": "tests/golden/make_hatespeech_golden.py",
        "doc_fields": {
            "doc_index": "0-based data row of the doc in dev.tsv (header excluded)",
            "fewshot_train_indices": "0-based train.tsv rows of the drawn shots, in prompt order",
            "context": "context string exactly as passed to loglikelihood (same for every choice)",
        },
        "contexts": "full context kept for every doc",
        "split_documents": {
            split: {
                "n": len(split_rows),
                "sha256": documents_sha256(split_rows, features),
                "encoding": "sha256 of json.dumps([{comments, contain_gender_bias, bias, hate (ClassLabel ints)}"
                " in file order], ensure_ascii=False, sort_keys=True, separators=(',', ':'))",
            }
            for split, split_rows in rows.items()
        },
    }
    text = json.dumps({"provenance": provenance, "cells": cells}, ensure_ascii=False, indent=1)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(f"wrote {args.out} ({len(text.encode('utf-8'))} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()

"""How a generative cell's documents are shared out among several processes (contiguous runs of
the engine's token order, balanced by expected work), and the per-process partial files that let
a killed multi-process run resume. The real 2-process runs are in test_distributed_generation.py."""

from __future__ import annotations

import json
import random

import pytest

from polyplatypus.eval.distributed import contiguous_shares
from polyplatypus.eval.models import ModelSpec
from polyplatypus.eval.store import ResultsStore

SPEC = ModelSpec(label="tiny", path="/models/tiny")
KEY = {"model_path": "/models/tiny", "task": "lm_eval:gen", "shots": 1}


def costs_in_order(contexts, work):
    """Straightforward: the documents in token order, each with its positions not shared with the
    one before it plus its work."""
    order = sorted(range(len(contexts)), key=lambda i: contexts[i])
    cost = []
    for n, i in enumerate(order):
        shared = 0
        if n:
            before = contexts[order[n - 1]]
            while shared < min(len(before), len(contexts[i])) and before[shared] == contexts[i][shared]:
                shared += 1
        cost.append(len(contexts[i]) - shared + work[i])
    return order, cost


@pytest.mark.parametrize("parts", [1, 2, 3, 8])
def test_shares_are_contiguous_runs_of_the_token_order_balanced_by_work(parts):
    rng = random.Random(parts)
    prefixes = [[rng.randrange(50) for _ in range(rng.randint(0, 30))] for _ in range(4)]
    contexts = [rng.choice(prefixes) + [rng.randrange(50) for _ in range(rng.randint(1, 12))] for _ in range(40)]
    work = [rng.choice([16, 64, 256]) for _ in contexts]
    shares = contiguous_shares(contexts, work, parts)
    order, cost = costs_in_order(contexts, work)
    assert len(shares) == parts
    assert [i for share in shares for i in share] == order  # each once, runs of the order, rank by rank
    total, largest = sum(cost), max(cost)
    for share in shares:
        share_cost = sum(cost[order.index(i)] for i in share)
        assert abs(share_cost - total / parts) <= largest  # off the equal share by at most one document


def test_fewer_documents_than_processes_leave_some_without_work():
    shares = contiguous_shares([[1, 2], [1, 3]], [8, 8], 4)
    assert sorted(i for share in shares for i in share) == [0, 1]
    assert sum(1 for share in shares if not share) == 2


def test_documents_sharing_a_prefix_stay_together_when_the_work_allows():
    """Two groups of four documents, each group under its own long prefix: two processes take one
    group each, so neither forwards the other's prefix."""
    first, second = [7] * 40, [9] * 40
    contexts = [second + [i] for i in range(4)] + [first + [i] for i in range(4)]
    shares = contiguous_shares(contexts, [8] * 8, 2)
    assert [sorted(share) for share in shares] == [[4, 5, 6, 7], [0, 1, 2, 3]]


def write_partial(store, rank, rows, key=KEY):
    path = store.partial_path(SPEC, "lm_eval-gen", 1, rank)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [{"key": key}] + [{"request": n, "record": {"text": text}} for n, text in rows]
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    return path


def test_kept_generations_are_read_from_every_process_file_of_the_cell(tmp_path):
    store = ResultsStore(tmp_path)
    write_partial(store, 0, [(0, "가"), (1, "나")])
    one = write_partial(store, 1, [(5, "마")])
    with open(one, "a", encoding="utf-8") as handle:
        handle.write('{"request": 6, "rec')  # cut short by the kill
    write_partial(store, 3, [(7, "사")])  # a process of an earlier run with more processes
    write_partial(store, 2, [(4, "라")], key={**KEY, "shots": 2})  # another run's settings: not used
    other = store.partial_path(SPEC, "lm_eval-gen", 10, 0)  # another cell (10 shots): not this one's
    other.write_text(json.dumps({"key": KEY}) + "\n" + json.dumps({"request": 9, "record": {}}) + "\n", "utf-8")
    assert store.partial_path(SPEC, "lm_eval-gen", 1, 1).name == "lm_eval-gen_1shot.rank1.partial.jsonl"
    kept = store.kept_generations(SPEC, "lm_eval-gen", 1, KEY)
    assert {n: r["text"] for n, r in kept.items()} == {0: "가", 1: "나", 5: "마", 7: "사"}
    assert list(store.kept_generations(SPEC, "lm_eval-gen", 1, KEY, rank=1)) == [5]

    with store.keeping_generations(SPEC, "lm_eval-gen", 1, KEY, {5: {"text": "마"}}, 1) as keep:
        keep(8, {"text": "아"})  # process 1 rewrites its own file (the cut line dropped) and appends
    assert list(store.kept_generations(SPEC, "lm_eval-gen", 1, KEY, rank=1)) == [5, 8]
    assert list(store.kept_generations(SPEC, "lm_eval-gen", 1, KEY, rank=0)) == [0, 1]

    store.write_cell(SPEC, "lm_eval-gen", 1, {"model": "tiny"}, samples=None)
    left = sorted(p.name for p in (tmp_path / "cells" / "tiny").iterdir())
    assert left == ["lm_eval-gen_10shot.partial.jsonl", "lm_eval-gen_1shot.json"]  # every process's file removed


def test_a_process_generates_only_its_share_and_gets_every_record_back(monkeypatch):
    """Process 0 of 2 (the other process's gather stood in for): it generates only its run of the
    requests not kept, keeps only those, and returns every request's record in request order."""
    import types

    import accelerate.utils

    pytest.importorskip("lm_eval")
    from lm_eval.api.instance import Instance

    from polyplatypus.eval import distributed
    from polyplatypus.eval.lm_eval_cells import Generations, generate

    prompts = ["다 가", "가 나 다", "가 나", "나 가", "다", "가 다"]
    requests = [Instance("generate_until", {}, (p, {"max_gen_toks": 8}), i) for i, p in enumerate(prompts)]
    asked, kept_now = [], []

    class Engine:  # reports each request as it finishes, as SharedContextLM does
        max_gen_toks, batch_size, on_generated = 256, 1, None

        def generation_context(self, request):
            return [ord(c) for c in request.args[0]]

        def generate_until(self, requests, disable_tqdm=False):
            from polyplatypus.eval.generation import GenerationCounters

            for position, request in enumerate(requests):
                asked.append(request.args[0])
                self.on_generated(position, request.args[0] + "!")
            self.generation_counters = GenerationCounters(
                documents=len(requests), positions_forwarded=10 * len(requests)
            )
            return [request.args[0] + "!" for request in requests]

    todo = [0, 1, 3, 4, 5]  # request 2 was kept by an earlier run
    mine, theirs = contiguous_shares([[ord(c) for c in prompts[n]] for n in todo], [8] * len(todo), 2)
    theirs_work = {"documents": len(theirs), "positions_forwarded": 7}  # process 1's engine counters
    other = [(1, [(todo[i], {"text": prompts[todo[i]] + "?"}) for i in theirs], theirs_work)]  # its gather part
    monkeypatch.setattr(
        distributed, "distributed_state", lambda: types.SimpleNamespace(process_index=0, num_processes=2)
    )
    monkeypatch.setattr(accelerate.utils, "gather_object", lambda part: part + other)
    generations = Generations(kept={2: {"text": "kept"}}, keep=lambda number, record: kept_now.append(number))
    records = generate(Engine(), requests, generations)
    assert sorted(asked) == sorted(prompts[todo[i]] for i in mine) and 0 < len(mine) < len(todo)
    assert sorted(kept_now) == sorted(todo[i] for i in mine)
    expected = {todo[i]: prompts[todo[i]] + "!" for i in mine} | {todo[i]: prompts[todo[i]] + "?" for i in theirs}
    assert [r["text"] for r in records] == [expected.get(n, "kept") for n in range(len(prompts))]
    assert generations.per_process == [len(mine), len(theirs)]
    # what the engines forwarded, summed over the processes (the record's generation_work)
    assert generations.work["documents"] == len(todo) and generations.work["positions_forwarded"] == 10 * len(mine) + 7

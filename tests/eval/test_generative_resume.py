"""A generative cell killed part-way resumes: the generations finished before the kill are kept in
the cell's partial file and not generated again, and the results, samples and lm-eval files equal
those of an uninterrupted run. Both ways an engine may report: each request as it finishes
(``lm.on_generated``, the contract of our engine) and a whole call at a time (HFLM's own
``generate_until``, run in chunks)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_EVALUATE_OFFLINE="1")  # never the network

from tests.eval.generative_fixtures import write_generative_tasks  # noqa: E402

MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-gptneox-lm"
TASK = "lm_eval:copa_gen_regex_local"
LIMIT = 7


class Killed(Exception):
    """Stands for the run being killed."""


@pytest.fixture(scope="module")
def folder(tmp_path_factory, kobest_dir) -> Path:
    return write_generative_tasks(tmp_path_factory.mktemp("generative-tasks"), kobest_dir)


def run(folder, out):
    from polyplatypus.eval.runner import evaluate

    return evaluate(
        [str(MODEL)],
        [TASK],
        [1],
        include_path=[str(folder)],
        limit=LIMIT,
        device="cpu",
        progress=False,
        output=str(out),
        log_samples=True,
    )


def samples_of(out):
    path = out / "samples" / "tiny-gptneox-lm" / "lm_eval-copa_gen_regex_local_1shot.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def comparable(record):
    """A record less what differs between an uninterrupted and a resumed run: the date, the samples
    file's hash, and what the engine forwarded for the documents each run generated."""
    return {k: v for k, v in record.items() if k not in ("date", "samples_sha256", "generation_work")}


def one_by_one(monkeypatch):
    """An engine that reports each request as it finishes through ``on_generated`` (the contract)."""
    from lm_eval.models.huggingface import HFLM

    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    def reporting(self, requests, disable_tqdm=False):
        texts = []
        for number, request in enumerate(requests):
            (text,) = HFLM.generate_until(self, [request], disable_tqdm=True)
            texts.append(text)
            if getattr(self, "on_generated", None) is not None:
                self.on_generated(number, text)
        return texts

    monkeypatch.setattr(SharedContextLM, "generate_until", reporting)


@pytest.mark.parametrize("engine", ["reports each request", "whole calls"])
def test_killed_generative_cell_resumes_without_generating_finished_documents(
    folder, tmp_path, monkeypatch, engine, capsys
):
    from polyplatypus.eval import lm_eval_cells, store

    if engine == "reports each request":
        one_by_one(monkeypatch)
    else:
        monkeypatch.setattr(lm_eval_cells, "GENERATION_CHUNK", 2)
    expected = run(folder, tmp_path / "whole")

    kept = []
    original = store.ResultsStore.keeping_generations

    def killing_after_three(self, *args):
        manager = original(self, *args)

        class Wrapped:
            def __enter__(inner):
                keep = manager.__enter__()

                def keep_then_die(number, record):
                    keep(number, record)
                    kept.append(number)
                    if len(kept) == 3:
                        raise Killed

                return keep_then_die

            def __exit__(inner, *exc):
                return manager.__exit__(*exc)

        return Wrapped()

    monkeypatch.setattr(store.ResultsStore, "keeping_generations", killing_after_three)
    out = tmp_path / "killed"
    with pytest.raises(Killed):
        run(folder, out)
    partial = out / "cells" / "tiny-gptneox-lm" / "lm_eval-copa_gen_regex_local_1shot.partial.jsonl"
    assert len(partial.read_text(encoding="utf-8").splitlines()) == 1 + 3  # its key, then each finished one
    monkeypatch.setattr(store.ResultsStore, "keeping_generations", original)

    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    asked = []
    resumed_engine = SharedContextLM.generate_until

    def counting(self, requests, disable_tqdm=False):
        asked.extend(requests)
        return resumed_engine(self, requests, disable_tqdm)

    monkeypatch.setattr(SharedContextLM, "generate_until", counting)
    capsys.readouterr()
    resumed = run(folder, out)
    assert len(asked) == LIMIT - 3  # the three kept were not generated again
    assert (  # and the run says so (with --no-progress nothing else would tell)
        f"lm_eval:copa_gen_regex_local 1-shot of model tiny-gptneox-lm: resuming an interrupted run: 3 of {LIMIT} "
        "generation(s) kept" in capsys.readouterr().err
    )
    if engine == "whole calls":  # our engine, whose counters the record carries: this run's documents only
        assert expected[0]["generation_work"]["documents"] == LIMIT
        assert resumed[0]["generation_work"]["documents"] == LIMIT - 3
    else:  # lm-eval's own generate_until, wrapped: no counters
        assert "generation_work" not in resumed[0]
    assert [comparable(r) for r in resumed] == [comparable(r) for r in expected]
    assert samples_of(out) == samples_of(tmp_path / "whole")
    assert not partial.exists()


def test_a_partial_file_of_other_settings_is_not_used(folder, tmp_path, monkeypatch, capsys):
    from polyplatypus.eval import lm_eval_cells

    monkeypatch.setattr(lm_eval_cells, "GENERATION_CHUNK", 2)
    out = tmp_path / "out"
    partial = out / "cells" / "tiny-gptneox-lm" / "lm_eval-copa_gen_regex_local_1shot.partial.jsonl"
    partial.parent.mkdir(parents=True)
    partial.write_text(
        json.dumps({"key": {"other": 1}})
        + "\n"
        + json.dumps({"request": 0, "record": {"text": "엉뚱한 답"}}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    run(folder, out)
    assert all(s["resps"] != [["엉뚱한 답"]] for s in samples_of(out))
    err = capsys.readouterr().err
    assert "resuming" not in err and "kept were made with other settings: generating all again" in err


def test_engine_records_are_kept_with_stop_reason_and_token_count():
    """The engine's contract: ``on_generated(index, text)`` as each request finishes, then
    ``last_generated`` (request order) with the raw generation, stop reason and token count."""
    from types import SimpleNamespace

    from polyplatypus.eval.lm_eval_cells import Generations, generate

    class Engine:
        on_generated = None
        last_generated = "stale"

        def generate_until(self, requests, disable_tqdm=False):
            assert self.last_generated is None  # never a previous call's records
            for number in reversed(range(len(requests))):  # finishing out of order
                self.on_generated(number, f"t{requests[number]}")
            self.last_generated = [
                SimpleNamespace(text=f"t{r}", generation=f"t{r}\n\nQ:", stop_reason="stop", n_tokens=3)
                for r in requests
            ]
            return [f"t{r}" for r in requests]

    kept = {}
    records = generate(
        Engine(),
        [0, 1, 2, 3],
        Generations(
            kept={1: {"text": "t1", "generation": "t1", "stop_reason": "eos", "n_tokens": 1}},
            keep=lambda n, r: kept.setdefault(n, r),
        ),
    )
    assert [r["text"] for r in records] == ["t0", "t1", "t2", "t3"]
    assert records[1]["stop_reason"] == "eos"  # kept from before, not generated again
    assert records[0] == {"text": "t0", "generation": "t0\n\nQ:", "stop_reason": "stop", "n_tokens": 3}
    assert sorted(kept) == [0, 2, 3]


def test_a_run_killed_before_its_first_generation_resumes_without_a_false_message(
    folder, tmp_path, monkeypatch, capsys
):
    """The partial file (its key line) is written when the cell starts: a run killed before any
    generation finished, run again with the same settings, is not told that they changed."""
    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    out = tmp_path / "out"
    original = SharedContextLM.generate_until

    def killed(self, requests, disable_tqdm=False):
        raise Killed()

    monkeypatch.setattr(SharedContextLM, "generate_until", killed)
    with pytest.raises(Killed):
        run(folder, out)
    assert list((out / "cells").rglob("*.partial.jsonl"))
    monkeypatch.setattr(SharedContextLM, "generate_until", original)
    capsys.readouterr()
    run(folder, out)
    err = capsys.readouterr().err
    assert "made with other settings" not in err and "resuming" not in err

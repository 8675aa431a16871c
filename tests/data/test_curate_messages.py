"""curate() and `polyplatypus data curate` on conversation (``messages``) records: validation,
exact and near-duplicates on the user turns, KoBEST leaks in any turn, records written as they
came, and the output read back by chat training."""

from __future__ import annotations

import json
import re

import pytest

from polyplatypus.cli import main
from polyplatypus.data.conversations import conversation
from polyplatypus.data.curate import curate, format_summary
from polyplatypus.data.kobest import load_kobest
from polyplatypus.data.stats import dataset_stats
from polyplatypus.errors import ConfigError, DataError
from tests.fixtures.chat_templates import chat_tokenizer, expected_tokens, pieces

from .edits import change_characters

SYSTEM = (
    "당신은 한국어로 답하는 친절하고 정확한 도우미입니다. 모르는 것은 모른다고 말하고, 답은 짧고 분명하게, "
    "필요하면 예를 들어 설명하며, 사용자가 묻지 않은 개인 정보는 절대 묻거나 추측하지 마세요."
)
WEATHER = "이번 주말 서울 날씨가 어떨지, 우산을 챙겨야 할지 알려 주시겠어요?"
SORT_1 = "파이썬에서 리스트를 오름차순으로 정렬하는 방법을 알려 주세요."
SORT_2 = "그러면 딕셔너리를 값 기준으로 내림차순 정렬하려면 어떻게 해야 하나요?"


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def turns(*texts, system=None, **extra):
    """A conversation record: user and assistant taking turns, after ``system`` when given."""
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": ("user", "assistant")[i % 2], "content": text} for i, text in enumerate(texts)]
    return {"messages": messages, **extra}


def conversations(kobest_dir) -> list[dict]:
    """Records by id: what curation should keep, and an exact duplicate, a near duplicate and two
    KoBEST leaks (one in an assistant turn only, one in a second user turn) of them."""
    boolq = load_kobest("boolq", "test", kobest_dir)[7]
    copa = load_kobest("copa", "test", kobest_dir)[42]
    weather = turns(WEATHER, "주말 내내 비 소식이 있으니 우산을 챙기세요.", system="짧게 답하세요.", id="weather")
    weather["messages"][2]["weight"] = 0  # a key of a message, kept as it came
    return [
        weather,
        # the same user turn (spacing and an ideographic space differ), another answer, no system
        turns("  " + WEATHER.replace(" ", "\u3000", 1) + " ", "비가 올 테니 우산을 가져가세요.", id="weather-exact"),
        turns(
            SORT_1, "sorted(리스트) 또는 리스트.sort()를 쓰세요.", SORT_2, "sorted(d.items(), reverse=True)", id="sort"
        ),
        turns(SORT_1, "sort()를 쓰면 됩니다.", change_characters(SORT_2, 1), "key 인자를 쓰세요.", id="sort-near"),
        turns("아무 위키백과 문단이나 하나 인용해 주세요.", boolq["paragraph"], id="leak-assistant"),
        turns(
            "두 문장 중 원인으로 알맞은 것을 고르는 문제를 하나 내 주세요.",
            "좋습니다. 문제를 말씀해 주세요.",
            f"전제: {copa['premise']}\n1) {copa['alternative_1']}\n2) {copa['alternative_2']}",
            "정답은 2번입니다.",
            id="leak-second-user",
        ),
        # one long system prompt, different short questions: not duplicates (the system is not compared)
        turns("부산의 대표 음식은?", "돼지국밥입니다.", system=SYSTEM, id="system-1", data_source="mine"),
        turns("훈민정음을 만든 왕은?", "세종대왕입니다.", system=SYSTEM, id="system-2", data_source="mine"),
    ]


def test_conversations_are_curated_to_the_expected_records(tmp_path, kobest_dir):
    rows = conversations(kobest_dir)
    source = write_jsonl(tmp_path / "chat.jsonl", rows)
    output = tmp_path / "curated.jsonl"
    report = curate([str(source)], output, decontaminate="kobest", kobest_dir=kobest_dir)

    kept = ["weather", "sort", "system-1", "system-2"]
    written = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    by_id = {r["id"]: r for r in rows}
    assert written == [{**by_id[i], "origin": str(source)} for i in kept]  # as they came, origin last
    answer = by_id["weather"]["messages"][2]["content"]
    assert written[0]["messages"][2] == {"role": "assistant", "content": answer, "weight": 0}

    def removed(entries):
        return [(e["removed"]["id"], e.get("kept", {}).get("id")) for e in entries]

    assert removed(report["exact_duplicates"]) == [("weather-exact", "weather")]
    assert removed(report["near_duplicates"]) == [("sort-near", "sort")]
    assert removed(report["contaminated"]) == [("leak-assistant", None), ("leak-second-user", None)]
    assert [c["benchmark"]["task"] for c in report["contaminated"]] == ["boolq", "copa"]
    assert report["exact_duplicates"][0]["kept"]["user"] == WEATHER  # a conversation named by its first user turn
    counts = {"records": 8, "exact_duplicates": 1, "contaminated": 2, "near_duplicates": 1, "records_out": 4}
    assert report["kinds"] == {"messages": counts}
    assert report["stats"]["by_kind"] == {"messages": 4}
    assert "by kind: messages 8 valid -> 4 out" in format_summary(report)

    # without decontamination the leaks stay: they were found in their turns, not elsewhere
    plain = curate([str(source)], tmp_path / "plain.jsonl")
    assert plain["totals"]["contaminated"] == 0 and plain["totals"]["records_out"] == 6


def test_instruction_records_and_conversations_in_one_file(tmp_path):
    """Kinds may be mixed: each record is written in its own shape; an instruction record and a
    conversation asking the same thing are near-duplicates (similarity 1), never exact ones."""
    rows = [
        {"instruction": SORT_1, "input": "", "output": "sorted()", "id": "instruction"},
        turns(SORT_1, "sort()를 쓰세요.", id="conversation-same"),
        turns(WEATHER, "맑겠습니다. 우산은 필요 없어요.", id="conversation"),
        {"id": "instruction-2", "instruction": "한국의 국화는?", "output": "무궁화"},
    ]
    source = write_jsonl(tmp_path / "mixed.jsonl", rows)
    report = curate([str(source)], tmp_path / "out.jsonl")
    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in written] == ["instruction", "conversation", "instruction-2"]
    assert written[1] == {**rows[2], "origin": str(source)}
    assert list(written[2]) == ["id", "instruction", "input", "output", "origin"]  # as instruction records are
    assert report["exact_duplicates"] == []
    [near] = report["near_duplicates"]
    assert (near["removed"]["id"], near["kept"]["id"], near["similarity"]) == ("conversation-same", "instruction", 1.0)
    assert report["kinds"]["instruction"]["records_out"] == 2 and report["kinds"]["messages"]["records_out"] == 1
    stats = dataset_stats(written)
    assert stats["by_kind"] == {"instruction": 2, "messages": 1}
    assert stats["characters"]["prompt"]["max"] == len(WEATHER)  # a conversation's user turns
    assert stats["characters"]["output"]["max"] == len("맑겠습니다. 우산은 필요 없어요.")  # ... its assistant turns


@pytest.mark.parametrize(
    "bad, field",
    [
        ([{"role": "user", "content": "질문"}, {"role": "user", "content": "또 질문"}], "messages[1].role"),
        ([{"role": "user", "content": "질문"}, {"role": "assistant", "content": 3}], "messages[1].content"),
        ([{"role": "user", "content": "질문"}], "messages"),
        ([{"role": "user", "content": "질문"}, {"role": "assistant", "content": "답\ud800"}], "messages[1]"),
    ],
    ids=["role", "content", "no-assistant", "lone-surrogate"],
)
def test_malformed_messages_are_named_before_any_output(tmp_path, capsys, bad, field):
    source = tmp_path / "chat.jsonl"
    good = json.dumps(turns(WEATHER, "맑겠습니다."), ensure_ascii=False)
    source.write_text(good + "\n\n" + json.dumps({"messages": bad}) + "\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    code = main(["data", "curate", "--data", str(source), "--output", str(output), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert re.search(rf"chat.jsonl, record 2, field '{re.escape(field)}' \(line 3\)", err), err
    assert "Traceback" not in err
    assert not output.exists() and not (tmp_path / "out.jsonl.report.json").exists()
    report = curate([str(source)], output, skip_invalid=True)  # or skipped and counted
    reason = "lone surrogate" if field == "messages[1]" else "invalid messages"
    assert report["sources"][0]["skipped_invalid"] == {reason: 1} and report["totals"]["records_out"] == 1


def test_token_lengths_of_conversations_need_the_chat_template(tmp_path, tiny_tokenizer):
    """A prompt template cannot format a conversation: refused, naming the record, before any output."""
    source = write_jsonl(
        tmp_path / "chat.jsonl", [{"instruction": SORT_1, "output": "sorted()"}, turns(WEATHER, "맑음")]
    )
    with pytest.raises(DataError, match=r"chat.jsonl, record 2, field 'messages'.*--prompt-template chat"):
        curate([str(source)], tmp_path / "out.jsonl", tokenizer=tiny_tokenizer)
    assert not (tmp_path / "out.jsonl").exists()
    with pytest.raises(ConfigError, match="has no chat template"):  # chat: checked before any work too
        curate([str(source)], tmp_path / "out.jsonl", tokenizer=tiny_tokenizer, prompt_template="chat")
    assert not (tmp_path / "out.jsonl").exists()


def test_token_lengths_with_the_chat_template(tmp_path, tiny_gptneox_dir):
    """--prompt-template chat: the examples chat training builds, every record (instruction records
    too) rendered by the tokenizer's template; checked against the conversation written out by hand."""
    tokenizer = chat_tokenizer(tiny_gptneox_dir, "chatml")
    rows = [
        {"instruction": SORT_1, "input": "리스트: [3, 1, 2]", "output": "sorted(리스트)"},
        turns(WEATHER, "맑겠습니다.", system="짧게 답하세요."),
        turns(SORT_2, "sorted(d.items(), key=lambda kv: kv[1], reverse=True)", "왜요?", "값으로 비교하니까요."),
    ]
    source = write_jsonl(tmp_path / "mixed.jsonl", rows)
    report = curate([str(source)], tmp_path / "out.jsonl", tokenizer=tokenizer, prompt_template="chat")
    expected = [expected_tokens(tokenizer, pieces("chatml", conversation(r))) for r in rows]
    full = sorted(len(ids) for ids, _ in expected)
    trained = sorted(sum(label != -100 for label in labels) for _, labels in expected)
    tokens = report["stats"]["tokens"]
    assert tokens["prompt_template"] == report["settings"]["prompt_template"] == "chat"
    assert (tokens["full"]["count"], tokens["full"]["min"], tokens["full"]["max"]) == (3, full[0], full[-1])
    assert (tokens["output"]["min"], tokens["output"]["max"]) == (trained[0], trained[-1])
    assert "output = assistant turns + end of turn" in format_summary(report)


def test_curated_conversations_are_read_by_chat_training(tmp_path, kobest_dir, tiny_gptneox_dir):
    """The curated file goes through `train --prompt-template chat`'s data preparation: one example
    per kept record, each the kept conversation as the template renders it."""
    from polyplatypus.train import TrainConfig
    from polyplatypus.train.recipe import prepare_data

    source = write_jsonl(tmp_path / "chat.jsonl", conversations(kobest_dir))
    output = tmp_path / "curated.jsonl"
    curate([str(source)], output, decontaminate="kobest", kobest_dir=kobest_dir)
    template = tmp_path / "plain.jinja"
    template.write_text(
        "{% for m in messages %}{{ m['role'] + ':\\n' + m['content'] + '<|endoftext|>' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ 'assistant:\\n' }}{% endif %}",
        encoding="utf-8",
    )
    prepared = prepare_data(
        TrainConfig(
            base=str(tiny_gptneox_dir),
            data=str(output),
            output=str(tmp_path / "o"),
            prompt_template="chat",
            chat_template=str(template),
            cutoff_len=384,
        )
    )
    kept = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert len(prepared.train) == len(kept) == 4
    for example, record in zip(prepared.train, kept):
        text = "".join(f"{m['role']}:\n{m['content']}<|endoftext|>" for m in record["messages"])
        assert prepared.tokenizer.decode(example.input_ids) == text


def test_stats_command_counts_each_kind(tmp_path, tiny_gptneox_dir, capsys):
    rows = [{"instruction": SORT_1, "output": "sorted()"}, turns(WEATHER, "맑음"), turns(SORT_2, "sorted()")]
    source = write_jsonl(tmp_path / "mixed.jsonl", rows)
    assert main(["data", "stats", str(source), "--json", str(tmp_path / "s.json")]) == 0
    assert "kind: instruction 1, messages 2" in capsys.readouterr().out
    stats = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert stats["by_kind"] == {"instruction": 1, "messages": 2}
    assert stats["characters"]["prompt"]["max"] == max(len(SORT_1), len(SORT_2), len(WEATHER))
    assert main(["data", "stats", str(source), "--tokenizer", str(tiny_gptneox_dir)]) == 2
    assert re.search(r"mixed.jsonl, record 2, field 'messages'.*prompt template", capsys.readouterr().err)
    chat = tmp_path / "chat-tokenizer"
    chat_tokenizer(tiny_gptneox_dir, "chatml").save_pretrained(chat)
    args = ["data", "stats", str(source), "--tokenizer", str(chat), "--prompt-template", "chat"]
    assert main([*args, "--json", str(tmp_path / "t.json")]) == 0
    assert "output = assistant turns + end of turn" in capsys.readouterr().out
    tokens = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))["tokens"]
    assert tokens["prompt_template"] == "chat" and tokens["full"]["count"] == 3


@pytest.mark.parametrize("command", ["curate", "stats"])
def test_a_tokenizer_without_a_chat_template_is_refused_with_the_command_s_own_options(
    tmp_path, tiny_gptneox_dir, capsys, command
):
    """--prompt-template chat with a tokenizer that has no chat template: the error says what this
    command can do (another --tokenizer, or a prompt template), not train's --chat-template FILE,
    which data curate / data stats do not have; nothing is written."""
    source = write_jsonl(tmp_path / "chat.jsonl", [turns(WEATHER, "맑음")])
    output = tmp_path / "out.jsonl"
    args = {"curate": ["--data", str(source), "--output", str(output), "--quiet"], "stats": [str(source)]}[command]
    chat = ["--tokenizer", str(tiny_gptneox_dir), "--prompt-template", "chat"]
    assert main(["data", command, *args, *chat]) == 2
    err = capsys.readouterr().err
    assert "has no chat template; use a tokenizer that has one (--tokenizer)" in err
    assert "or a prompt template such as alpaca (--prompt-template alpaca)" in err
    assert "--chat-template" not in err and "Traceback" not in err
    assert not output.exists()


def test_chat_token_lengths_render_what_training_keeps(tmp_path, tiny_gptneox_dir):
    """Curate keeps a message's other keys in its output, but training renders role and content only:
    token lengths are measured on those, so a template that reads another key does not count it."""
    reads_extra = (
        "{% for m in messages %}{{ m['role'] + ':' + m['content'] + (m['note'] if m['note'] is defined else '') }}"
        "{{ '<|im_end|>' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}"
    )
    tokenizer = chat_tokenizer(tiny_gptneox_dir, "chatml", template=reads_extra)
    plain, noted = turns(WEATHER, "맑겠습니다."), turns(WEATHER, "맑겠습니다.")
    noted["messages"][1]["note"] = " 아주 긴 메모가 여기에 붙어 있습니다" * 10
    lengths = [
        curate(
            [str(write_jsonl(tmp_path / f"{name}.jsonl", [row]))],
            tmp_path / f"{name}-out.jsonl",
            tokenizer=tokenizer,
            prompt_template="chat",
        )["stats"]["tokens"]["full"]["max"]
        for name, row in (("plain", plain), ("noted", noted))
    ]
    assert lengths[0] == lengths[1]
    assert json.loads((tmp_path / "noted-out.jsonl").read_text(encoding="utf-8"))["messages"][1]["note"]

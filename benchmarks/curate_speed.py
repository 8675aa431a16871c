"""Time the whole curation on synthetic Korean instruction records and print records/s.

    .venv/bin/python benchmarks/curate_speed.py                       # 100,000 records
    .venv/bin/python benchmarks/curate_speed.py --records 25000 50000 100000   # memory scaling
    .venv/bin/python benchmarks/curate_speed.py --compare-datasketch   # near-dedup vs datasketch

Each run generates the records (varied Korean sentences from word banks, a few hundred
characters of prompt each), plants exact duplicates (2%, whitespace changed), near-duplicates
(5%, a few characters and particles changed) and KoBEST test documents (0.5%, verbatim or
lightly edited) when the KoBEST data is found, then runs ``polyplatypus.data.curate.curate``
with the defaults: exact and near-duplicate removal with exact Jaccard verification, and
decontamination against all five KoBEST tasks (test and validation). Each size runs in a fresh
process so that peak memory (max RSS) is that size's own. Generation and file writing are not
timed; loading, validation, the filters and writing the output and report are.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_KOBEST = ROOT.parent / "shared" / "data" / "kobest" / "v1.0"

SUBJECTS = [
    "학생들",
    "연구진",
    "우리 팀",
    "시청 직원들",
    "농부",
    "요리사",
    "개발자",
    "간호사",
    "기자",
    "관광객",
    "어린이들",
    "선생님",
    "운동선수",
    "과학자",
    "작가",
    "상인",
    "주민들",
    "회사원",
    "소방관",
    "음악가",
    "디자이너",
    "의사",
    "경찰관",
    "할머니",
    "대학원생",
    "사진작가",
    "변호사",
    "택시 기사",
    "도서관 사서",
    "우주비행사",
]
PLACES = [
    "도서관",
    "시장",
    "실험실",
    "공원",
    "회의실",
    "병원",
    "해변",
    "산속 마을",
    "지하철역",
    "박물관",
    "공장",
    "학교 운동장",
    "카페",
    "농장",
    "항구",
    "온라인 게시판",
    "미술관",
    "기차 안",
    "캠핑장",
    "놀이터",
    "체육관",
    "시청 광장",
    "공항",
]
OBJECTS = [
    "보고서",
    "새 제품",
    "지도",
    "사진",
    "설문 결과",
    "예산안",
    "요리법",
    "실험 데이터",
    "소설",
    "노래",
    "그림",
    "발표 자료",
    "여행 계획",
    "운동 일정",
    "편지",
    "코드",
    "통계표",
    "광고 문구",
    "설계도",
    "일기",
    "영화 대본",
    "수학 문제",
    "화학 반응식",
    "역사 연표",
    "기사",
    "시험지",
    "계약서",
    "메뉴판",
    "안내문",
    "드론",
]
VERBS = [
    "검토했다",
    "만들었다",
    "발표했다",
    "수정했다",
    "분석했다",
    "정리했다",
    "공유했다",
    "비교했다",
    "설명했다",
    "완성했다",
    "준비했다",
    "평가했다",
    "번역했다",
    "기록했다",
    "요약했다",
    "시험했다",
    "설계했다",
    "측정했다",
    "그렸다",
    "구입했다",
]
ADVERBS = [
    "꼼꼼하게",
    "서둘러",
    "조용히",
    "함께",
    "처음으로",
    "다시",
    "천천히",
    "밤늦게",
    "정성껏",
    "우연히",
    "매일",
    "끝내",
    "기꺼이",
    "오랫동안",
    "간단히",
    "자세히",
]
TIMES = [
    "어제",
    "지난주",
    "오늘 아침",
    "작년 겨울",
    "주말에",
    "점심시간에",
    "새벽에",
    "방학 동안",
    "회의가 끝난 뒤",
    "비가 그친 후",
]
TASKS = [
    "다음 글을 세 문장으로 요약하세요.",
    "아래 내용을 바탕으로 질문에 답하시오.",
    "다음 상황에서 가장 적절한 조언을 해 주세요.",
    "아래 문단의 핵심 주장을 찾고 근거를 평가하시오.",
    "다음 내용을 영어로 번역하세요.",
    "아래 글의 제목을 붙여 주세요.",
    "주어진 정보로 표를 만들어 정리하시오.",
    "다음 글에서 틀린 부분을 고쳐 쓰시오.",
    "아래 사례에서 배울 점을 두 가지 쓰세요.",
    "다음 이야기의 뒷부분을 이어서 쓰세요.",
]
NUMBERS = list(range(2, 1000))


SYLLABLES = (
    "가나다라마바사아자차카타파하고노도로모보소오조초코토포호구누두루무부수우주추쿠투푸후기니디리미비시이지치키티피히"
    "개내대래매배새애재채해게네데레메베세에제체헤강난당랑망방상앙장창캉탕팡항건던런먼번선언전천헌근는든른믄븐슨은즌"
)
PATTERNS = [
    "{time} {subj_i} {place}에서 {num}개의 {obj_r} {adv} {verb}.",
    "{name} 씨는 {place}에서 {obj}에 관한 {num}쪽짜리 자료를 {verb}.",
    "{subj_n} {name}의 {obj_r} 보고 {adv} {verb}.",
    "{place}의 {name} 프로젝트는 {num}명의 {subj_i} 참여한 덕분에 널리 알려졌다.",
    "{time} {name}에서 열린 행사에서 {subj_i} {obj_r} {adv} {verb}.",
    "{name}의 {obj}에는 {num}가지 오류가 있었지만 {subj_i} {adv} 바로잡았다.",
    "{subj}의 말에 따르면 {place}에 있던 {obj}의 {num}%가 {name} 방식으로 만들어졌다.",
]


def josa(word: str, pair: str) -> str:
    """word + the particle that fits its last syllable: pair is "이/가", "을/를" or "은/는"."""
    has_final = "가" <= word[-1] <= "힣" and (ord(word[-1]) - 0xAC00) % 28 != 0
    return word + pair.split("/")[0 if has_final else 1]


def pseudo_word(rng: random.Random) -> str:
    """A made-up name of two or three syllables: real data has many rare proper nouns."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))


def sentence(rng: random.Random) -> str:
    subj, obj = rng.choice(SUBJECTS), rng.choice(OBJECTS)
    return rng.choice(PATTERNS).format(
        time=rng.choice(TIMES),
        subj=subj,
        subj_i=josa(subj, "이/가"),
        subj_n=josa(subj, "은/는"),
        place=rng.choice(PLACES),
        num=rng.choice(NUMBERS),
        obj=obj,
        obj_r=josa(obj, "을/를"),
        adv=rng.choice(ADVERBS),
        verb=rng.choice(VERBS),
        name=pseudo_word(rng),
    )


def synthetic_record(rng: random.Random, index: int) -> dict:
    instruction = f"{rng.choice(TASKS)} " + " ".join(sentence(rng) for _ in range(rng.randint(1, 2)))
    input_ = " ".join(sentence(rng) for _ in range(rng.randint(0, 5)))
    output = " ".join(sentence(rng) for _ in range(rng.randint(1, 3)))
    return {
        "id": index,
        "instruction": instruction,
        "input": input_,
        "output": output,
        "data_source": rng.choice(["airoboros", "guanaco", "camelai", "scienceqa", "MATH/PRM-800K"]),
    }


PARTICLES = {"이": "가", "가": "이", "을": "를", "를": "을", "은": "는", "는": "은", "에서": "에게서"}


def near_duplicate(rng: random.Random, record: dict, index: int) -> dict:
    """A few characters changed, one particle swapped, spacing altered (Jaccard stays high)."""
    text = record["instruction"] + ("\n" + record["input"] if record["input"] else "")
    chars = list(text)
    for _ in range(rng.randint(1, 2)):
        position = rng.randrange(len(chars))
        if chars[position].strip():
            chars[position] = rng.choice("가나다라마바사아자차카타파하")
    text = "".join(chars)
    for old, new in PARTICLES.items():
        if old + " " in text:
            text = text.replace(old + " ", new + " ", 1)
            break
    text = text.replace(" ", "  ", 2)
    instruction, _, input_ = text.partition("\n")
    return {**record, "id": index, "instruction": instruction, "input": input_}


def exact_duplicate(record: dict, index: int) -> dict:
    return {**record, "id": index, "instruction": "  " + record["instruction"].replace(" ", "\u3000", 1) + " "}


def kobest_records(kobest_dir: Path | None, rng: random.Random, count: int) -> list[dict]:
    if kobest_dir is None:
        return []
    from polyplatypus.data.kobest import load_kobest

    docs = [d["paragraph"] for d in load_kobest("boolq", "test", kobest_dir)]
    docs += [
        f"{d['premise']} {d['alternative_1']} {d['alternative_2']}" for d in load_kobest("copa", "test", kobest_dir)
    ]
    docs += [d["context"] for d in load_kobest("hellaswag", "test", kobest_dir)]
    out = []
    for i in range(count):
        text = rng.choice(docs)
        if i % 2:
            text = text.replace("다.", "다!", 1).replace("이 ", "가 ", 1)
        out.append({"instruction": "다음 글을 읽고 물음에 답하시오.", "input": text, "output": "정답은 1번입니다."})
    return out


def build(records: int, seed: int, kobest_dir: Path | None) -> list[dict]:
    rng = random.Random(seed)
    base = [synthetic_record(rng, i) for i in range(int(records * 0.925))]
    rows = list(base)
    for _ in range(int(records * 0.05)):
        rows.append(near_duplicate(rng, rng.choice(base), len(rows)))
    for _ in range(int(records * 0.02)):
        rows.append(exact_duplicate(rng.choice(base), len(rows)))
    rows.extend(kobest_records(kobest_dir, rng, records - len(rows)))
    while len(rows) < records:
        rows.append(synthetic_record(rng, len(rows)))
    rng.shuffle(rows)
    return rows


def run_one(source: Path, records: int, kobest_dir: Path | None) -> dict:
    """Curate one generated file (in a fresh process: max RSS is this run's own)."""
    from polyplatypus.data.curate import curate

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    report = curate(
        [str(source)],
        source.with_name("curated.jsonl"),
        decontaminate=("kobest",) if kobest_dir else (),
        kobest_dir=kobest_dir,
    )
    elapsed = time.perf_counter() - start
    return {
        "records": records,
        "seconds": round(elapsed, 2),
        "records_per_second": round(records / elapsed),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_after_imports_mib": round(rss_before / 1024, 1),
        "totals": report["totals"],
        "timings": report["timings"],
    }


def compare_datasketch(source: Path) -> None:
    """Near-duplicate candidates of the generated prompts: datasketch's MinHash.bulk and
    MinHashLSH (no verification) against polyplatypus.data.dedup.near_duplicates (with exact
    verification), same shingles (3-grams of the dedup form) and 128 permutations."""
    from datasketch import MinHash, MinHashLSH

    from polyplatypus.data.dedup import DEFAULT_NGRAM, DEFAULT_THRESHOLD, near_duplicates
    from polyplatypus.data.normalize import dedup_form, shingle_set

    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
    forms = [dedup_form(r["instruction"] + ("\n" + r["input"] if r["input"] else "")) for r in rows]
    start = time.perf_counter()
    found = near_duplicates(forms)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    shingles = [[s.encode("utf-8") for s in shingle_set(f, DEFAULT_NGRAM)] for f in forms]
    built = time.perf_counter() - start
    start = time.perf_counter()
    signatures = MinHash.bulk(shingles, num_perm=128)
    hashed = time.perf_counter() - start
    start = time.perf_counter()
    lsh = MinHashLSH(threshold=DEFAULT_THRESHOLD, num_perm=128)
    candidates = 0
    for i, signature in enumerate(signatures):
        candidates += len(lsh.query(signature))
        lsh.insert(i, signature)
    indexed = time.perf_counter() - start
    print(
        f"{len(forms):,} prompts: polyplatypus near_duplicates {ours:.2f} s ({len(found)} removed, exact "
        f"verification included); datasketch {built + hashed + indexed:.2f} s without verification "
        f"(shingle sets {built:.2f} s, MinHash.bulk {hashed:.2f} s, MinHashLSH query+insert {indexed:.2f} s, "
        f"{candidates} candidate pairs)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[100_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kobest-dir", default=os.environ.get("POLYPLATYPUS_KOBEST_DIR") or str(DEFAULT_KOBEST))
    parser.add_argument("--no-kobest", action="store_true", help="skip decontamination")
    parser.add_argument(
        "--compare-datasketch",
        action="store_true",
        help="time near-duplicate candidates with datasketch against ours instead",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--generate", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    kobest_dir = None if args.no_kobest else Path(args.kobest_dir)
    if kobest_dir is not None and not (kobest_dir / "BoolQ" / "test.tsv").is_file():
        print(f"KoBEST data not found at {kobest_dir}; pass --kobest-dir or --no-kobest", file=sys.stderr)
        return 2
    if args.child:
        import polyplatypus.data.curate  # noqa: F401  (imports count as baseline, not as curation)

        print(json.dumps(run_one(Path(args.child), args.records[0], kobest_dir), ensure_ascii=False))
        return 0
    if args.generate:
        rows = build(args.records[0], args.seed, kobest_dir)
        Path(args.generate).write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        return 0
    if args.compare_datasketch:
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "synthetic.jsonl"
            source.write_text(
                "".join(
                    json.dumps(r, ensure_ascii=False) + "\n" for r in build(args.records[0], args.seed, kobest_dir)
                ),
                encoding="utf-8",
            )
            compare_datasketch(source)
        return 0
    for records in args.records:
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "synthetic.jsonl"
            generate = [
                sys.executable,
                __file__,
                "--generate",
                str(source),
                "--records",
                str(records),
                "--seed",
                str(args.seed),
            ]
            generate += ["--no-kobest"] if kobest_dir is None else ["--kobest-dir", str(kobest_dir)]
            subprocess.run(generate, check=True)
            command = [sys.executable, __file__, "--child", str(source), "--records", str(records)]
            command += ["--no-kobest"] if kobest_dir is None else ["--kobest-dir", str(kobest_dir)]
            result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        t = result["totals"]
        print(
            f"{records:>9,} records  {result['seconds']:>7.2f} s  {result['records_per_second']:>7,} records/s  "
            f"max RSS {result['max_rss_mib']:.0f} MiB (after imports {result['rss_after_imports_mib']:.0f})  "
            f"removed: exact {t['exact_duplicates']}, contaminated {t['contaminated']}, near {t['near_duplicates']}"
        )
        print("           stages (s): " + ", ".join(f"{k} {v}" for k, v in result["timings"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Rebuild the generated part of the bundled Korean corpus: src/polyplatypus/assets/corpus/20_review_drills.txt.

    .venv/bin/python tests/pipeline/make_corpus.py

The hand-written prose (``0*.txt``, ``1*.txt``) gives the tiny demo model ordinary Korean. The
drills written here give its short pre-training something the evaluation can see: short reviews,
one per paragraph, each followed by `` (긍정)`` or `` (부정)`` — SentiNeg's continuations, in the
layout of a few-shot prompt (examples separated by a blank line). The reviews are assembled from
word banks written for this project: about 80 predicates (good or bad for the reviewer) with the
subjects they fit, each used plain, negated (안 …, …지 않다, …지 못하다), inside a reason
("…해서 만족해요") or joined to a second predicate; a negation flips the label, and both labels
are equally common, so that the label depends on the predicate *and* its negation rather than on
either alone. SentiNeg (KoBEST) tests exactly that: its test sentences are negated reviews.

Nothing is copied from KoBEST or from the bundled KoBEST-format sample. Reviews too close to a
document of the sample's test or dev split are dropped: those the decontamination index flags
(at least half of the document's character 5-grams) and those containing every word of a
document in order. tests/pipeline/test_assets.py checks the committed file with the same rules
and that this script reproduces it (the output is deterministic).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "src" / "polyplatypus" / "assets" / "corpus"
SEED = 20240917
N_REVIEWS = 3000


# ------------------------------------------------------------------------------ Korean helpers


def _batchim(word: str) -> bool:
    last = word.rstrip()[-1]
    return "가" <= last <= "힣" and (ord(last) - 0xAC00) % 28 != 0


def _rieul(word: str) -> bool:
    last = word.rstrip()[-1]
    return "가" <= last <= "힣" and (ord(last) - 0xAC00) % 28 == 8


def josa(word: str, pair: str) -> str:
    """``word`` with the right form of a particle: pair is 이/가, 은/는, 을/를, 과/와 or 으로/로."""
    with_final, without = pair.split("/")
    if pair == "으로/로":
        return word + ("로" if not _batchim(word) or _rieul(word) else "으로")
    return word + (with_final if _batchim(word) else without)


# ------------------------------------------------------------------------------ SentiNeg drills
# A predicate: polarity (1 good for the reviewer, 0 bad), present, past and "-아서" forms, the stem
# for -지 않다 / -고, the subjects it fits ("" for none), and its short negation: "" for 안 + present,
# a string for an irregular one, None for none (then only -지 않다), NONEG for no negation at all.

NONEG = "-"


def P(polarity, present, past, reason, stem, subjects, short=""):
    return (polarity, present, past, reason, stem, subjects, short)


FOOD = ["음식", "국물", "반찬", "찌개", "떡볶이", "김밥", "국수", "빵", "케이크", "커피"]
ROOMS = ["방", "객실", "화장실", "욕실", "주방", "로비", "매장", "침구", "수영장"]
STAFF = ["직원", "사장님", "점원", "기사님", "상담원", "매니저님", "안내원", "직원분들"]
SEATS = ["운동화", "베개", "소파", "좌석", "바지", "매트리스", "구두", "의자"]
PRICES = ["가격", "요금", "수리비", "입장료", "배송비", "관리비"]
SPEED = ["배송", "처리", "답장", "충전", "환불", "교환", "인터넷 속도", "대응"]
SHOWS = ["영화", "공연", "강의", "책", "수업", "전시"]

PREDICATES = [
    P(1, "빨라요", "빨랐어요", "빨라서", "빠르", SPEED),
    P(0, "느려요", "느렸어요", "느려서", "느리", SPEED),
    P(1, "맛있어요", "맛있었어요", "맛있어서", "맛있", FOOD),
    P(0, "맛없어요", "맛없었어요", "맛없어서", "맛없", FOOD, None),
    P(1, "깨끗해요", "깨끗했어요", "깨끗해서", "깨끗하", ROOMS),
    P(0, "더러워요", "더러웠어요", "더러워서", "더럽", ROOMS),
    P(1, "친절해요", "친절했어요", "친절해서", "친절하", STAFF),
    P(0, "불친절해요", "불친절했어요", "불친절해서", "불친절하", STAFF),
    P(1, "편해요", "편했어요", "편해서", "편하", SEATS),
    P(0, "불편해요", "불편했어요", "불편해서", "불편하", SEATS),
    P(1, "편리해요", "편리했어요", "편리해서", "편리하", ["앱", "예약", "결제", "주차", "교통", "위치", "사용법"]),
    P(0, "번거로워요", "번거로웠어요", "번거로워서", "번거롭", ["앱", "예약", "결제", "주차", "반품", "회원 가입"]),
    P(1, "쉬워요", "쉬웠어요", "쉬워서", "쉽", ["조립", "설치", "사용법", "청소", "조작", "설명"]),
    P(0, "어려워요", "어려웠어요", "어려워서", "어렵", ["조립", "설치", "사용법", "청소", "조작", "설명"]),
    P(1, "튼튼해요", "튼튼했어요", "튼튼해서", "튼튼하", ["선반", "책상", "가방", "캐리어", "손잡이", "상자", "텐트"]),
    P(0, "허술해요", "허술했어요", "허술해서", "허술하", ["포장", "마감", "바느질", "시공", "잠금장치", "상자"]),
    P(1, "꼼꼼해요", "꼼꼼했어요", "꼼꼼해서", "꼼꼼하", ["포장", "마감", "바느질", "시공", "검수", "설명"]),
    P(1, "조용해요", "조용했어요", "조용해서", "조용하", ["방", "동네", "카페", "청소기", "선풍기", "세탁기", "객실"]),
    P(
        0,
        "시끄러워요",
        "시끄러웠어요",
        "시끄러워서",
        "시끄럽",
        ["방", "동네", "카페", "청소기", "선풍기", "세탁기", "객실"],
    ),
    P(1, "선명해요", "선명했어요", "선명해서", "선명하", ["화면", "사진", "영상", "글씨", "소리", "색깔", "인쇄"]),
    P(0, "흐려요", "흐렸어요", "흐려서", "흐리", ["화면", "사진", "영상", "글씨", "인쇄"]),
    P(1, "부드러워요", "부드러웠어요", "부드러워서", "부드럽", ["수건", "이불", "고기", "빵", "담요", "옷감"]),
    P(0, "거칠어요", "거칠었어요", "거칠어서", "거칠", ["수건", "이불", "고기", "빵", "담요", "옷감"]),
    P(1, "신선해요", "신선했어요", "신선해서", "신선하", ["채소", "생선", "과일", "우유", "달걀", "재료"]),
    P(1, "넓어요", "넓었어요", "넓어서", "넓", ["방", "주차장", "거실", "매장", "객실", "화장실"]),
    P(0, "좁아요", "좁았어요", "좁아서", "좁", ["방", "주차장", "거실", "매장", "객실", "화장실"]),
    P(1, "가벼워요", "가벼웠어요", "가벼워서", "가볍", ["노트북", "유모차", "캐리어", "자전거", "가방", "청소기"]),
    P(0, "무거워요", "무거웠어요", "무거워서", "무겁", ["노트북", "유모차", "캐리어", "자전거", "가방", "청소기"]),
    P(1, "저렴해요", "저렴했어요", "저렴해서", "저렴하", PRICES),
    P(0, "비싸요", "비쌌어요", "비싸서", "비싸", PRICES),
    P(1, "합리적이에요", "합리적이었어요", "합리적이라서", "합리적이", PRICES, None),
    P(0, "터무니없어요", "터무니없었어요", "터무니없어서", "터무니없", PRICES, None),
    P(1, "따뜻해요", "따뜻했어요", "따뜻해서", "따뜻하", ["패딩", "장갑", "이불", "목도리", "온수", "잠옷"]),
    P(0, "차가워요", "차가웠어요", "차가워서", "차갑", ["국", "밥", "피자", "수프", "만두", "라면"]),
    P(1, "자세해요", "자세했어요", "자세해서", "자세하", ["설명", "안내", "설명서", "상담", "지도"]),
    P(0, "부실해요", "부실했어요", "부실해서", "부실하", ["설명", "안내", "설명서", "구성", "반찬"]),
    P(
        1,
        "만족스러워요",
        "만족스러웠어요",
        "만족스러워서",
        "만족스럽",
        ["서비스", "결과", "품질", "구성", "수리", "식사"],
    ),
    P(
        0,
        "실망스러워요",
        "실망스러웠어요",
        "실망스러워서",
        "실망스럽",
        ["서비스", "결과", "품질", "구성", "수리", "식사"],
    ),
    P(1, "훌륭해요", "훌륭했어요", "훌륭해서", "훌륭하", ["품질", "서비스", "음식", "공연", "전망", "솜씨"], None),
    P(
        0,
        "형편없어요",
        "형편없었어요",
        "형편없어서",
        "형편없",
        ["품질", "서비스", "음식", "공연", "전망", "솜씨"],
        None,
    ),
    P(1, "좋아요", "좋았어요", "좋아서", "좋", ["품질", "전망", "음질", "분위기", "위치", "성능", "맛"]),
    P(0, "나빠요", "나빴어요", "나빠서", "나쁘", ["품질", "전망", "음질", "분위기", "위치", "성능"]),
    P(1, "깔끔해요", "깔끔했어요", "깔끔해서", "깔끔하", ["포장", "마감", "인테리어", "맛", "디자인", "방"]),
    P(1, "예뻐요", "예뻤어요", "예뻐서", "예쁘", ["디자인", "색깔", "무늬", "그릇", "조명", "포장지"]),
    P(0, "촌스러워요", "촌스러웠어요", "촌스러워서", "촌스럽", ["디자인", "색깔", "무늬", "그릇", "조명", "포장지"]),
    P(1, "정확해요", "정확했어요", "정확해서", "정확하", ["시계", "체중계", "내비게이션", "번역", "계산", "예보"]),
    P(1, "아늑해요", "아늑했어요", "아늑해서", "아늑하", ["방", "카페", "숙소", "거실", "객실"]),
    P(1, "든든해요", "든든했어요", "든든해서", "든든하", ["점심", "도시락", "식사", "아침밥", "국밥"]),
    P(1, "시원해요", "시원했어요", "시원해서", "시원하", ["바람", "에어컨", "냉면", "그늘", "국물"]),
    P(0, "눅눅해요", "눅눅했어요", "눅눅해서", "눅눅하", ["과자", "튀김", "김", "이불", "빨래"]),
    P(1, "바삭해요", "바삭했어요", "바삭해서", "바삭하", ["과자", "튀김", "김", "치킨", "군만두"]),
    P(0, "짜요", "짰어요", "짜서", "짜", ["국물", "된장국", "찌개", "반찬", "젓갈"]),
    P(0, "싱거워요", "싱거웠어요", "싱거워서", "싱겁", ["국물", "된장국", "찌개", "반찬", "김치"]),
    P(0, "비려요", "비렸어요", "비려서", "비리", ["생선", "회", "조개", "고등어", "오징어"]),
    P(1, "달콤해요", "달콤했어요", "달콤해서", "달콤하", ["복숭아", "포도", "참외", "고구마", "수박", "사과"]),
    P(0, "지루해요", "지루했어요", "지루해서", "지루하", SHOWS),
    P(1, "재미있어요", "재미있었어요", "재미있어서", "재미있", SHOWS),
    P(1, "유익해요", "유익했어요", "유익해서", "유익하", ["강의", "책", "수업", "상담", "체험"]),
    P(1, "잘 맞아요", "잘 맞았어요", "잘 맞아서", "잘 맞", ["사이즈", "치수", "뚜껑", "신발", "장갑"], "잘 안 맞아요"),
    P(
        1,
        "잘 돼요",
        "잘 됐어요",
        "잘 돼서",
        "잘 되",
        ["연결", "와이파이", "결제", "인식", "충전", "예약"],
        "잘 안 돼요",
    ),
    P(
        1,
        "마음에 들어요",
        "마음에 들었어요",
        "마음에 들어서",
        "마음에 들",
        ["디자인", "색깔", "모양", "향", "분위기", "구성"],
        "마음에 안 들어요",
    ),
    P(1, "좋아해요", "좋아했어요", "좋아해서", "좋아하", ["아이", "강아지", "고양이", "부모님", "조카", "친구"]),
    P(
        1,
        "잘 들려요",
        "잘 들렸어요",
        "잘 들려서",
        "잘 들리",
        ["소리", "목소리", "음악", "안내 방송", "통화 소리"],
        "잘 안 들려요",
    ),
    P(1, "오래가요", "오래갔어요", "오래가서", "오래가", ["배터리", "향", "건전지", "보온", "신발"], "오래 안 가요"),
    P(
        0,
        "금방 닳아요",
        "금방 닳았어요",
        "금방 닳아서",
        "금방 닳",
        ["밑창", "건전지", "지우개", "칫솔", "타이어"],
        None,
    ),
    P(
        0,
        "자꾸 끊겨요",
        "자꾸 끊겼어요",
        "자꾸 끊겨서",
        "끊기",
        ["연결", "와이파이", "통화", "영상", "음악"],
        "안 끊겨요",
    ),
    P(0, "새요", "샜어요", "새서", "새", ["물통", "보온병", "텀블러", "물병", "수도꼭지", "지붕"]),
    P(0, "번져요", "번졌어요", "번져서", "번지", ["잉크", "마스카라", "사인펜", "물감", "형광펜"]),
    P(0, "구겨져요", "구겨졌어요", "구겨져서", "구겨지", ["셔츠", "치마", "원피스", "블라우스", "커튼"]),
    P(0, "나요", "났어요", "나서", "나", ["냄새", "잡음", "곰팡이 냄새", "탄 냄새", "소음"]),
    P(0, "생겨요", "생겼어요", "생겨서", "생기", ["보풀", "얼룩", "곰팡이", "녹", "흠집"]),
    P(1, "있어요", "있었어요", "있어서", "있", ["효과", "실속", "재미", "힘"], NONEG),
    P(0, "없어요", "없었어요", "없어서", "없", ["효과", "실속", "재미", "힘"], NONEG),
    P(1, "추천할 만해요", "추천할 만했어요", "추천할 만해서", "추천할 만하", [""], None),
    P(1, "믿을 만해요", "믿을 만했어요", "믿을 만해서", "믿을 만하", ["품질", "제품", "업체", "후기", "가게"], None),
    P(1, "다시 가고 싶어요", "다시 가고 싶었어요", "다시 가고 싶어서", "다시 가고 싶", [""], None),
    P(1, "또 사고 싶어요", "또 사고 싶었어요", "또 사고 싶어서", "또 사고 싶", [""], None),
]
PREDICATES = [p for p in PREDICATES]

PLAIN_ADVERBS = ["", "", "", "정말 ", "아주 ", "꽤 ", "진짜 ", "생각보다 ", "확실히 ", "무척 ", "너무 "]
NEG_PREFIXES = ["", "", "", "별로 ", "전혀 ", "그다지 ", "생각보다 ", "하나도 "]
GOOD_ENDINGS = [
    "좋아요",
    "만족해요",
    "마음에 들어요",
    "추천해요",
    "기분이 좋았어요",
    "주변에도 권했어요",
    "감동했어요",
    "행복했어요",
    "최고예요",
    "다음에도 이용할게요",
    "흡족해요",
]
BAD_ENDINGS = [
    "아쉬워요",
    "실망했어요",
    "별로였어요",
    "후회해요",
    "짜증 났어요",
    "돈이 아까웠어요",
    "화가 났어요",
    "속상했어요",
    "기분이 상했어요",
    "불만이에요",
    "최악이에요",
    "다시는 이용 안 할래요",
]


VERB_LIKE = {"있어요", "없어요", "나요", "생겨요", "새요", "번져요", "구겨져요", "좋아해요"}


def _is_adjective(pred) -> bool:
    return " " not in pred[1] and pred[1] not in VERB_LIKE


def _can_negate(pred) -> bool:
    return pred[6] != NONEG


def _negations(pred, rng, past: bool = False) -> list[str]:
    """Negated forms of a predicate (polite endings)."""
    polarity, present, past_form, _, stem, _, short = pred
    end = "않았어요" if past else "않아요"
    prefix = rng.choice(NEG_PREFIXES)
    forms = [f"{prefix}{stem}지 {end}"]
    if polarity and (stem.endswith("하") or stem == "오래가"):  # a hoped-for quality is missing
        forms.append(f"{stem}지 {'못했어요' if past else '못해요'}")
    if short == "":
        soft = prefix if prefix in ("별로 ", "생각보다 ") else ""
        forms.append(f"{soft}안 {past_form if past else present}")
    elif short is not None and not past:
        forms.append(short)
    return forms


def _negated_reason(pred, rng) -> str:
    _, _, _, reason, stem, _, short = pred
    if short == "" and rng.random() < 0.5:
        return f"안 {reason}"
    return f"{stem}지 않아서"


def _subject(pred, rng, particle="이/가") -> str:
    subject = rng.choice(pred[5])
    return josa(subject, particle) + " " if subject else ""


def review_sentence(rng) -> tuple[str, int]:
    pred = rng.choice(PREDICATES)
    polarity, present, past, reason, stem, subjects, _ = pred
    subj = _subject(pred, rng)
    kind = rng.randrange(8)
    if not _can_negate(pred) and kind in (2, 3, 6, 7):
        kind = 0
    tense_past = rng.random() < 0.3
    if not subj and kind in (4, 5):
        kind = 0
    if kind <= 1:  # plain
        adverb = rng.choice(PLAIN_ADVERBS) if _is_adjective(pred) else ""
        return f"{subj}{adverb}{past if tense_past else present}", polarity
    if kind <= 3:  # negated
        return f"{subj}{rng.choice(_negations(pred, rng, tense_past))}", 1 - polarity
    if kind <= 5:  # reason, then how the reviewer felt
        label = polarity
        if kind == 5 and _can_negate(pred):
            reason, label = _negated_reason(pred, rng), 1 - polarity
        ending = rng.choice(GOOD_ENDINGS if label else BAD_ENDINGS)
        return f"{subj}{reason} {ending}", label
    # one subject, two predicates of the same overall polarity, either possibly negated
    label = rng.randrange(2)
    subject = rng.choice(PAIRED_SUBJECTS)
    first, second = rng.sample(BY_SUBJECT[subject], 2)
    while first[0] != second[0] and len(set(first[5]) & set(second[5])) * 2 > len(set(first[5]) | set(second[5])):
        # not two opposites ("가볍고 무겁지 않아요")
        first, second = rng.sample(BY_SUBJECT[subject], 2)
    if not (_can_negate(first) and _can_negate(second)):
        return f"{josa(subject, '이/가')} {rng.choice(PLAIN_ADVERBS)}{first[1]}", first[0]
    head = f"{first[4]}지 않고" if first[0] != label else f"{first[4]}고"
    if second[0] != label:
        tail = rng.choice(_negations(second, rng, tense_past))
        tail = tail.split(" ", 1)[1] if tail.startswith(("별로 ", "전혀 ", "그다지 ", "생각보다 ", "하나도 ")) else tail
    else:
        tail = rng.choice(["", "", "또 "]) + (second[2] if tense_past else second[1])
    return f"{josa(subject, '이/가')} {head} {tail}", label


BY_SUBJECT: dict[str, list[tuple]] = {}
for _pred in PREDICATES:
    for _subject_name in _pred[5]:
        if _subject_name:
            BY_SUBJECT.setdefault(_subject_name, []).append(_pred)
PAIRED_SUBJECTS = sorted(s for s, preds in BY_SUBJECT.items() if len(preds) >= 3)


def review_drills(rng, n: int) -> list[str]:
    lines, seen = [], set()
    counts = [0, 0]
    while len(lines) < n:
        text, label = review_sentence(rng)
        if text in seen or counts[label] >= n // 2:
            continue
        seen.add(text)
        counts[label] += 1
        lines.append(f"{text} ({'긍정' if label else '부정'})")
    return lines


# ------------------------------------------------------------------------------ leakage filter


def sample_documents(splits=("test", "validation")) -> list[str]:
    """Every content field of every document of the bundled KoBEST-format sample in ``splits``."""
    from polyplatypus.data.decontam import KOBEST_TEXT_FIELDS
    from polyplatypus.data.kobest import load_kobest
    from polyplatypus.pipeline.config import resolve_builtin

    sample = resolve_builtin("builtin:kobest_sample")
    texts = []
    for task, fields in KOBEST_TEXT_FIELDS.items():
        for split in splits:
            for doc in load_kobest(task, split, sample):
                texts += [doc[f] for f in fields]
    return texts


def _words(text: str) -> list[str]:
    return re.findall(r"[\w\[\]]+", text)


def contains_words_in_order(line: str, text: str) -> bool:
    """All words of ``text`` appear in ``line`` in the same order (e.g. with an adverb added)."""
    words, pool = _words(text), iter(_words(line))
    return bool(words) and all(any(w == p for p in pool) for w in words)


class LeakFilter:
    """Finds corpus units (lines) too close to the bundled sample: to a document of its test or dev
    split, by the decontamination index's containment (at least half of the document's character
    5-grams) or by holding every word of a document field of two or more words, in order; or
    holding any text of the sample (any split) of eight letters or more."""

    def __init__(self):
        from polyplatypus.data.decontam import BenchmarkIndex, kobest_texts
        from polyplatypus.data.normalize import letters_form
        from polyplatypus.pipeline.config import resolve_builtin

        sample = resolve_builtin("builtin:kobest_sample")
        self.index = BenchmarkIndex(kobest_texts(sample))
        self.texts = [t for t in sample_documents() if len(_words(t)) >= 2]
        self._word_sets = [set(_words(t)) for t in self.texts]
        every = sample_documents(("train", "validation", "test"))
        self._forms = sorted({f for f in map(letters_form, every) if len(f) >= 8})
        self._letters_form = letters_form

    def leaks(self, units: list[str]) -> dict[int, str]:
        """The units too close to the sample, by index, with the sample text they are close to."""
        found = {c.record: c.text.text for c in self.index.search(units)}
        for i, unit in enumerate(units):
            if i in found:
                continue
            words = set(_words(unit))
            for text, needed in zip(self.texts, self._word_sets):
                if needed <= words and contains_words_in_order(unit, text):
                    found[i] = text
                    break
            else:
                form = self._letters_form(unit)
                for text in self._forms:
                    if text in form:
                        found[i] = text
                        break
        return found


# ------------------------------------------------------------------------------ output


def _unit(text: str) -> str:
    """The part of a corpus line compared with the sample: the review without its label."""
    return re.sub(r" \((긍정|부정)\)$", "", text)


def build(rng: random.Random, n_reviews: int = N_REVIEWS, quiet: bool = False) -> dict[str, list[str]]:
    leak = LeakFilter()
    reviews = review_drills(rng, n_reviews)
    bad = set(leak.leaks([_unit(x) for x in reviews]))
    if not quiet:
        print(f"reviews: {len(reviews) - len(bad)} kept, {len(bad)} dropped as too close to the sample")
    return {"20_review_drills.txt": [x for i, x in enumerate(reviews) if i not in bad]}


HEADERS = {
    "20_review_drills.txt": "후기 연습. 짧은 후기 끝에 괄호로 평가를 붙였다. 좋았다는 뜻이면 (긍정), 나빴다는 뜻이면 (부정)이다. "
    "'안', '-지 않다', '-지 못하다'가 붙으면 뜻이 반대가 된다.",
}


def render(name: str, paragraphs: list[str]) -> str:
    return HEADERS[name] + "\n\n" + "\n\n".join(paragraphs) + "\n"


def main() -> None:
    rng = random.Random(SEED)
    for name, paragraphs in build(rng).items():
        text = render(name, paragraphs)
        (OUT / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / name}: {len(text.encode('utf-8')) / 1000:.0f} kB")


if __name__ == "__main__":
    main()

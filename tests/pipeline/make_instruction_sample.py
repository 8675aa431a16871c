"""Rebuild the bundled Korean instruction sample: src/polyplatypus/assets/instructions/ko_platypus_sample.jsonl.

    .venv/bin/python tests/pipeline/make_instruction_sample.py

The committed JSONL is what the package ships and reads (``builtin:instructions/...``); this
script is how it was made.

A few hundred records in the KOpen-Platypus format (``instruction``, ``input``, ``output``,
``data_source``, plus an ``id``), spread over the Open-Platypus source categories, written for
this project: computed problems (the answers are calculated here, so they are right) and
hand-written question/answer pairs. Answers are short so that a tiny model can be fine-tuned on
the sample in the demo. No two records are near-duplicates at the default threshold, and none
contains a KoBEST document.

tests/pipeline/test_instruction_sample.py checks that this script reproduces the committed file.
"""

from __future__ import annotations

import json
import math
import random
from fractions import Fraction
from pathlib import Path

OUT = (
    Path(__file__).resolve().parents[2]
    / "src"
    / "polyplatypus"
    / "assets"
    / "instructions"
    / "ko_platypus_sample.jsonl"
)
SEED = 20240917
CATEGORIES = (
    "MATH/PRM-800K",
    "theoremqa",
    "scibench",
    "scienceqa",
    "reclor",
    "leetcode_ne",
    "tigerbot-kaggle",
    "airoboros",
    "guanaco",
    "camelai",
    "ARB",
)


def _num(value: float, digits: int = 2) -> str:
    """A number without a useless fractional part: 12, 3.5, 0.27."""
    rounded = round(value, digits)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.{digits}f}".rstrip("0").rstrip(".")


def _frac(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _josa(word: str, pair: str) -> str:
    """Attach the right particle to a Korean word: pair is "은/는", "이/가", "을/를", "와/과"."""
    with_final, without_final = pair.split("/")
    last = word[-1]
    if "가" <= last <= "힣":
        has_final = (ord(last) - 0xAC00) % 28 != 0
    else:  # digits and Latin letters: read aloud
        has_final = last in "013678LMNlmn"
    return word + (with_final if has_final else without_final)


def _euro(word: str) -> str:
    """word + 으로/로 (로 after a vowel or ㄹ)."""
    last = word[-1]
    if "가" <= last <= "힣":
        final = (ord(last) - 0xAC00) % 28
        return word + ("로" if final in (0, 8) else "으로")
    return word + ("로" if last in "124579" else "으로")


def _poly(*terms: tuple[int | Fraction, str]) -> str:
    """A polynomial written the usual way: 1x³ → x³, + -3x → - 3x, 0 terms dropped."""
    text = ""
    for coef, power in terms:
        if coef == 0:
            continue
        magnitude = abs(coef)
        body = (_frac(Fraction(magnitude)) if magnitude != 1 or not power else "") + power
        if not text:
            text = ("-" if coef < 0 else "") + body
        else:
            text += (" - " if coef < 0 else " + ") + body
    return text or "0"


NAMES = [
    "민수",
    "지영",
    "서준",
    "하은",
    "도윤",
    "수아",
    "예준",
    "지우",
    "현우",
    "서연",
    "준호",
    "유나",
    "태민",
    "소희",
    "건우",
    "다은",
    "시우",
    "채원",
    "우진",
    "나연",
]


# --- MATH/PRM-800K: computed school mathematics ------------------------------------------


def _math(rng: random.Random) -> list[dict]:
    out = []

    def add(instruction, output, input_=""):
        out.append({"instruction": instruction, "input": input_, "output": output, "data_source": "MATH/PRM-800K"})

    a, x, b = 3, 5, 7
    add(
        f"방정식 {a}x + {b} = {_josa(str(a * x + b), '을/를')} 만족하는 x의 값을 구하시오.",
        f"상수항을 이항하면 {a}x = {a * x}입니다. 양변을 {_euro(str(a))} 나누면 x = {x}입니다.",
    )
    a, x, b = 4, -2, 9
    add(
        f"어떤 수에 {_josa(str(a), '을/를')} 곱한 다음 {_josa(str(b), '을/를')} 더했더니 {a * x + b}이 되었습니다. 어떤 수는 무엇일까요?",
        f"어떤 수를 x라 하면 {a}x + {b} = {a * x + b}이므로 {a}x = {a * x}, x = {x}입니다.",
    )
    a, x, b = 7, 6, 5
    add(
        f"일차방정식 {a}x - {b} = {a * x - b}의 해를 풀이 과정과 함께 적어 주세요.",
        f"-{b}를 우변으로 옮기면 {a}x = {a * x}이고, 이를 {a}로 나눈 몫 x = {x}가 해입니다.",
    )

    add(
        "첫째항이 2이고 공차가 3인 등차수열에서 첫째항부터 제10항까지의 합은 얼마인가?",
        f"합 공식 S = n(2a + (n-1)d)/2에 a = 2, d = 3, n = 10을 넣으면 S = 10×(4 + 27)/2 = {10 * (4 + 27) // 2}입니다.",
    )
    add(
        "5, 9, 13, 17, …처럼 4씩 커지는 수를 12개 더하면 합이 얼마가 될까요?",
        f"첫째항 5, 공차 4인 등차수열의 12항까지 합입니다. 마지막 항은 5 + 11×4 = 49이므로 합은 12×(5 + 49)/2 = {12 * 54 // 2}입니다.",
    )
    add(
        "-3부터 시작해 2씩 늘어나는 수열의 처음 열다섯 항의 총합을 계산하라.",
        f"제15항은 -3 + 14×2 = 25이고, 합은 15 × (-3 + 25) ÷ 2 = {15 * 22 // 2}입니다.",
    )

    add(
        "민수는 가로 4m, 세로 3m인 직사각형 모양의 텃밭을 만들려고 한다. 텃밭의 넓이와 울타리를 두를 둘레의 길이를 각각 구하여라.",
        "넓이는 4 × 3 = 12제곱미터이고, 둘레는 2 × (4 + 3) = 14미터입니다.",
    )
    add(
        "서연이네 거실 바닥은 폭 5m, 길이 6m입니다. 1제곱미터에 타일 4장이 들어간다면 타일은 모두 몇 장 필요할까요?",
        "바닥 넓이는 5 × 6 = 30제곱미터이므로 타일은 30 × 4 = 120장이 필요합니다.",
    )
    add(
        "한 변이 7cm인 정사각형과 넓이가 같고 가로가 2cm인 직사각형의 세로 길이를 구하시오.",
        f"정사각형의 넓이는 7 × 7 = 49제곱센티미터입니다. 직사각형의 세로는 49 ÷ 2 = {_num(49 / 2)}cm입니다.",
    )

    add(
        "정가가 89,000원인 운동화를 20% 할인해서 산다면 지불할 금액은 얼마입니까?",
        f"할인 금액은 89,000 × 0.2 = 17,800원이므로 지불할 금액은 {89000 - 17800:,}원입니다.",
    )
    add(
        "45,000원짜리 전기 주전자에 15% 할인 쿠폰을 쓰면 얼마를 아낄 수 있고 결제 금액은 얼마인가요?",
        f"아끼는 금액은 45,000 × 15/100 = {45000 * 15 // 100:,}원이고, 결제 금액은 {45000 - 6750:,}원입니다.",
    )
    add(
        "어떤 외투의 가격이 160,000원에서 104,000원으로 내렸다. 할인율은 몇 퍼센트인가?",
        "가격이 56,000원 내렸으므로 할인율은 56,000 ÷ 160,000 × 100 = 35%입니다.",
    )

    for a, b, phrase in [
        (84, 36, "두 자연수 {a}, {b}의 최대공약수와 최소공배수를 차례로 구하시오."),
        (
            126,
            90,
            "사과 {a}개와 배 {b}개를 남김없이 똑같이 나누어 담으려고 합니다. 최대 몇 개의 바구니에 담을 수 있나요?",
        ),
        (
            45,
            75,
            "가로 {a}cm, 세로 {b}cm인 종이를 빈틈없이 같은 크기의 정사각형으로 자를 때 가장 큰 정사각형의 한 변은?",
        ),
    ]:
        g = math.gcd(a, b)
        answer = {
            84: f"유클리드 호제법으로 최대공약수는 {g}, 최소공배수는 {a} × {b} ÷ {g} = {a * b // g}입니다.",
            126: f"{a}와 {b}의 최대공약수인 {g}개의 바구니에 담을 수 있고, 바구니마다 사과 {a // g}개, 배 {b // g}개가 들어갑니다.",
            45: f"두 길이의 최대공약수인 {g}cm입니다. 정사각형은 가로로 {a // g}개, 세로로 {b // g}개 나옵니다.",
        }[a]
        add(phrase.format(a=a, b=b), answer)

    for target, phrase in [
        (5, "서로 다른 주사위 두 개를 동시에 던질 때, 나온 눈의 합이 {t}일 확률을 기약분수로 나타내시오."),
        (8, "주사위를 두 번 굴려 나온 두 수를 더했더니 {t}이었다. 이런 일이 일어날 확률은 얼마일까?"),
        (10, "두 개의 정육면체 주사위 눈의 합이 {t} 이상이 될 확률을 구하라."),
    ]:
        if target == 10:
            ways = sum(1 for i in range(1, 7) for j in range(1, 7) if i + j >= target)
            answer = f"합이 10, 11, 12인 경우는 각각 3, 2, 1가지로 모두 {ways}가지이므로 확률은 {ways}/36 = {_frac(Fraction(ways, 36))}입니다."
        else:
            ways = sum(1 for i in range(1, 7) for j in range(1, 7) if i + j == target)
            prob = Fraction(ways, 36)
            answer = f"전체 36가지 중 합이 {target}인 경우는 {ways}가지이므로 확률은 {ways}/36" + (
                f" = {_frac(prob)}입니다." if prob.denominator != 36 else "입니다."
            )
        add(phrase.format(t=target), answer)

    add(
        "동아리 회원 8명 가운데 순서를 고려하지 않고 대표 3명을 뽑는 방법은 모두 몇 가지인가?",
        f"조합의 수 C(8, 3) = 8! / (3! × 5!) = {math.comb(8, 3)}가지입니다.",
    )
    add(
        "10명이 모인 자리에서 모두가 서로 한 번씩 악수를 하면 악수는 총 몇 번 하게 될까요?",
        f"두 사람을 고르는 조합과 같으므로 C(10, 2) = 10 × 9 ÷ 2 = {math.comb(10, 2)}번입니다.",
    )
    add(
        "후보 6명 중 4명을 골라 한 줄로 세우는 방법의 수와, 순서 없이 고르기만 하는 방법의 수를 비교하시오.",
        f"순서를 고려하면 순열 P(6, 4) = {math.perm(6, 4)}가지, 고르기만 하면 조합 C(6, 4) = {math.comb(6, 4)}가지입니다.",
    )

    add(
        "이차방정식 x² - 7x + 10 = 0의 두 근을 인수분해를 이용하여 구하시오.",
        "(x - 2)(x - 5) = 0으로 인수분해되므로 두 근은 x = 2, x = 5입니다.",
    )
    add(
        "두 수의 합이 1이고 곱이 -12일 때, 두 수를 근으로 하는 이차방정식을 세우고 풀어라.",
        "근과 계수의 관계에서 x² - x - 12 = 0이고, (x + 3)(x - 4) = 0이므로 두 수는 -3과 4입니다.",
    )
    add(
        "근의 공식을 써서 x² - 8x + 7 = 0을 풀고, 판별식의 값도 함께 쓰세요.",
        "판별식 D = 64 - 28 = 36 > 0이므로 서로 다른 두 실근이 있습니다. x = (8 ± 6)/2이므로 x = 7 또는 x = 1입니다.",
    )

    add(
        "하은의 중간고사 다섯 과목 점수가 88, 92, 75, 81, 94점일 때 평균 점수를 구하세요.",
        f"점수의 합은 {88 + 92 + 75 + 81 + 94}점이고 과목 수는 5개이므로 평균은 {(88 + 92 + 75 + 81 + 94) // 5}점입니다.",
    )
    add(
        "준호가 네 번의 쪽지 시험에서 70, 65, 90, 85점을 받았다. 다섯 번째 시험까지의 평균이 80점이 되려면 몇 점이 필요한가?",
        f"다섯 번의 총점이 400점이어야 하므로 400 - {70 + 65 + 90 + 85} = {400 - (70 + 65 + 90 + 85)}점이 필요합니다.",
    )
    add(
        "자료 95, 98, 87, 91, 79의 중앙값과 범위를 구하시오.",
        "크기 순으로 79, 87, 91, 95, 98이므로 중앙값은 91이고, 범위는 98 - 79 = 19입니다.",
    )

    add(
        "2의 10제곱을 계산하고, 그 수의 일의 자리 숫자를 말하시오.",
        f"2^10 = {2**10}이므로 일의 자리 숫자는 {2**10 % 10}입니다.",
    )
    add(
        "3을 다섯 번 곱한 값은 세 자리 수입니다. 그 수의 각 자리 숫자의 합은?",
        f"3^5 = {3**5}이고, 각 자리 숫자의 합은 2 + 4 + 3 = 9입니다.",
    )
    add(
        "7^2024의 일의 자리 숫자는 무엇인지 규칙을 찾아 답하시오.",
        "7의 거듭제곱의 일의 자리는 7, 9, 3, 1이 4개씩 반복됩니다. 2024는 4로 나누어떨어지므로 일의 자리 숫자는 1입니다.",
    )

    add(
        "지수는 용돈 50,000원을 받아 문구점에서 한 권에 2,500원인 공책을 몇 권 사고, 남은 돈의 절반으로 친구 생일 선물을 샀다. "
        "선물을 사고 남은 돈이 12,500원이라면 지수가 산 공책은 몇 권인가?",
        "선물을 사기 전 남은 돈은 12,500 × 2 = 25,000원입니다. 공책에 쓴 돈은 50,000 - 25,000 = 25,000원이므로 공책은 25,000 ÷ 2,500 = 10권입니다.",
    )
    add(
        "물탱크에 A 수도관만 열면 6시간, B 수도관만 열면 3시간 만에 물이 가득 찬다. 빈 탱크에 두 수도관을 동시에 열었다가 1시간 뒤 B를 잠갔다. "
        "탱크가 가득 찰 때까지 걸리는 전체 시간은?",
        "한 시간에 A는 1/6, B는 1/3을 채웁니다. 처음 1시간 동안 1/2이 차고, 남은 1/2은 A만으로 3시간이 걸립니다. 따라서 전체 4시간입니다.",
    )
    add(
        "어느 반 학생 30명 중 축구를 좋아하는 학생은 18명, 야구를 좋아하는 학생은 15명이고, 둘 다 좋아하지 않는 학생은 4명이다. "
        "축구와 야구를 모두 좋아하는 학생은 몇 명인가?",
        "둘 중 하나 이상 좋아하는 학생은 30 - 4 = 26명입니다. 포함배제 원리로 18 + 15 - 26 = 7명이 둘 다 좋아합니다.",
    )
    add(
        "민호는 집에서 학교까지 갈 때는 시속 4km로 걷고, 돌아올 때는 같은 길을 시속 6km로 걸었다. 왕복에 걸린 시간이 모두 1시간 15분이었다면 "
        "집에서 학교까지의 거리는 몇 km인가?",
        "거리를 d라 하면 d/4 + d/6 = 5/4입니다. 양변에 12를 곱하면 3d + 2d = 15이므로 d = 3km입니다.",
    )
    return out


# --- theoremqa: applying a named theorem ------------------------------------------------


def _theorem(rng: random.Random) -> list[dict]:
    out = []

    def add(instruction, output, input_=""):
        out.append({"instruction": instruction, "input": input_, "output": output, "data_source": "theoremqa"})

    add(
        "직각삼각형에서 직각을 낀 두 변의 길이가 6cm와 8cm이다. 피타고라스 정리를 써서 빗변의 길이를 구하라.",
        "빗변을 c라 하면 c² = 6² + 8² = 36 + 64 = 100이므로 c = 10cm입니다.",
    )
    add(
        "사다리 길이가 13m이고 사다리 아래쪽 끝이 벽에서 5m 떨어져 있다. 사다리 꼭대기는 지면에서 몇 m 높이에 닿는가?",
        "피타고라스 정리에 따라 높이² = 13² - 5² = 169 - 25 = 144이므로 높이는 12m입니다.",
    )
    add(
        "좌표평면 위의 두 점 (1, 2)와 (9, 17) 사이의 거리를 구하시오.",
        "가로 차이는 8, 세로 차이는 15이므로 거리는 √(8² + 15²) = √289 = 17입니다.",
    )
    add(
        "세 변의 길이가 7, 24, 25인 삼각형은 직각삼각형인지 판별하시오.",
        "7² + 24² = 49 + 576 = 625 = 25²이므로 피타고라스 정리의 역에 의해 직각삼각형입니다.",
    )

    for a, e, p, phrase in [
        (3, 100, 7, "페르마의 소정리를 이용하여 {a}^{e}을 {p}로 나눈 나머지를 구하시오."),
        (2, 50, 13, "{p}가 소수라는 사실을 활용해 {a}^{e} mod {p}의 값을 계산하라."),
        (
            5,
            40,
            11,
            "오늘이 월요일이라면 {a}^{e}일 뒤가 무슨 요일인지가 아니라, {a}^{e}을 {p}로 나눈 나머지만 먼저 구해 보시오.",
        ),
        (6, 33, 17, "합동식 {a}^{e} ≡ r (mod {p})을 만족하는 0 이상 {p} 미만의 정수 r은?"),
    ]:
        r = pow(a, e, p)
        add(
            phrase.format(a=a, e=e, p=p),
            f"{_josa(str(p), '은/는')} 소수이고 {_josa(str(a), '과/와')} 서로소이므로 {a}^{p - 1} ≡ 1 (mod {p})입니다. "
            f"{e} = {p - 1}×{e // (p - 1)} + {e % (p - 1)}이므로 {a}^{e} ≡ {a}^{e % (p - 1)} ≡ {r} (mod {p})입니다.",
        )

    add(
        "이항정리를 사용하여 (x + 2)^5의 전개식에서 x^3의 계수를 구하시오.",
        f"계수는 C(5, 3) × 2² = 10 × 4 = {math.comb(5, 3) * 4}입니다.",
    )
    add(
        "(a + b)^4를 전개했을 때 나타나는 모든 항의 계수를 순서대로 쓰고, 계수의 합을 구하라.",
        "계수는 1, 4, 6, 4, 1이고 합은 2⁴ = 16입니다. 파스칼의 삼각형 다섯째 줄과 같습니다.",
    )
    add("(1 + x)^7의 전개식에서 x⁴ 항의 계수는 무엇인가요?", f"C(7, 4) = {math.comb(7, 4)}입니다.")
    add("이항정리로 (2x - 1)^6의 상수항을 구하시오.", "상수항은 x의 차수가 0인 항이므로 C(6, 0)(2x)^0(-1)^6 = 1입니다.")

    add(
        "함수 f(x) = 2x³ - 3x² + 4x의 도함수를 구하고 x = 1에서의 미분계수를 계산하라.",
        "f'(x) = 6x² - 6x + 4이므로 f'(1) = 6 - 6 + 4 = 4입니다.",
    )
    add(
        "곡선 y = x³ + 2x² - 5x 위의 점 (2, 6)에서 접선의 기울기는 얼마인가?",
        "y' = 3x² + 4x - 5이므로 x = 2에서 기울기는 12 + 8 - 5 = 15입니다.",
    )
    add(
        "g(x) = 3x³ - 7x가 극값을 갖는 x의 값을 모두 구하시오.",
        "g'(x) = 9x² - 7 = 0에서 x = ±√7/3입니다. 이 점들의 좌우에서 g'(x)의 부호가 바뀌므로 두 점 모두 극값을 갖습니다.",
    )

    add(
        "정적분 ∫₀² (3x² + 2) dx의 값을 미적분학의 기본정리로 구하시오.",
        "부정적분 F(x) = x³ + 2x를 이용하면 F(2) - F(0) = 8 + 4 = 12입니다.",
    )
    add(
        "y = 6x² + 1의 그래프와 x축, 직선 x = 0, x = 1로 둘러싸인 부분의 넓이를 구하라.",
        "구간에서 함수가 양수이므로 넓이는 ∫₀¹ (6x² + 1) dx = [2x³ + x]₀¹ = 3입니다.",
    )
    add(
        "속도가 v(t) = 3t² + 4 (m/s)인 물체가 t = 0초부터 3초까지 이동한 거리는?",
        "이동 거리는 ∫₀³ (3t² + 4) dt = [t³ + 4t]₀³ = 27 + 12 = 39m입니다.",
    )

    add(
        "2×2 행렬 A = [[2, 3], [1, 4]]의 행렬식을 구하고 역행렬이 존재하는지 판단하시오.",
        "det(A) = 2×4 - 3×1 = 5입니다. 0이 아니므로 역행렬이 존재합니다.",
    )
    add(
        "연립방정식 5x + 2y = 1, 10x + 4y = 3이 유일한 해를 가지는지 계수 행렬의 행렬식으로 판단하라.",
        "계수 행렬 [[5, 2], [10, 4]]의 행렬식은 20 - 20 = 0이므로 유일한 해가 없습니다. 실제로 두 식은 모순이어서 해가 존재하지 않습니다.",
    )
    add(
        "크라메르 공식을 이용해 x - 2y = 4, 3x + 6y = 0을 푸시오.",
        "D = 1×6 - (-2)×3 = 12, Dx = 4×6 - (-2)×0 = 24, Dy = 1×0 - 4×3 = -12이므로 x = 2, y = -1입니다.",
    )

    add("오일러 피 함수 φ(36)의 값을 구하시오.", "36 = 2² × 3²이므로 φ(36) = 36 × (1 - 1/2) × (1 - 1/3) = 12입니다.")
    add(
        "1 이상 45 이하의 자연수 중 45와 서로소인 수는 몇 개인가?",
        "45 = 3² × 5이므로 φ(45) = 45 × 2/3 × 4/5 = 24개입니다.",
    )
    add(
        "97이 소수일 때 φ(97)과 φ(97²)을 각각 구하라.",
        "소수 p에 대해 φ(p) = p - 1 = 96이고, φ(p²) = p² - p = 9409 - 97 = 9312입니다.",
    )
    add(
        "오일러 정리를 이용해 3^40을 100으로 나눈 나머지를 구하시오.",
        f"φ(100) = 40이고 3과 100은 서로소이므로 3^40 ≡ 1 (mod 100)입니다. 나머지는 {pow(3, 40, 100)}입니다.",
    )

    add(
        "첫째항이 8이고 공비가 1/2인 무한등비급수가 수렴하는지 판단하고, 수렴한다면 그 합을 구하시오.",
        "|공비| < 1이므로 수렴하고, 합은 8 / (1 - 1/2) = 16입니다.",
    )
    add(
        "순환소수 0.363636…을 무한등비급수의 합으로 보고 기약분수로 나타내라.",
        "0.36 + 0.0036 + …은 첫째항 36/100, 공비 1/100인 급수이므로 합은 (36/100)/(99/100) = 36/99 = 4/11입니다.",
    )
    add(
        "공을 9m 높이에서 떨어뜨렸더니 튀어 오를 때마다 직전 높이의 1/3만큼 올라갔다. 공이 멈출 때까지 움직인 총 거리는?",
        "내려간 거리 9m에, 올라갔다 내려온 거리 2 × (3 + 1 + 1/3 + …) = 2 × 3/(1 - 1/3) = 9m를 더해 총 18m입니다.",
    )
    return out


# --- scibench: physics and chemistry calculations --------------------------------------


def _scibench(rng: random.Random) -> list[dict]:
    out = []

    def add(instruction, output, input_=""):
        out.append({"instruction": instruction, "input": input_, "output": output, "data_source": "scibench"})

    add(
        "높이 20m인 곳에서 공을 가만히 놓았다. 공기 저항을 무시할 때 공이 땅에 닿는 순간의 속력은 몇 m/s인가? (g = 9.8 m/s²)",
        f"역학적 에너지 보존에 따라 v = √(2gh) = √(2 × 9.8 × 20) ≈ {_num(math.sqrt(2 * 9.8 * 20), 1)} m/s입니다.",
    )
    add(
        "다리 위에서 돌을 떨어뜨렸더니 3초 뒤 수면에 닿았다. 다리의 높이를 구하라. (g = 9.8 m/s²)",
        f"자유 낙하 거리 h = ½gt² = 0.5 × 9.8 × 3² = {_num(0.5 * 9.8 * 9, 1)}m입니다.",
    )
    add(
        "공을 연직 위로 14.7m/s로 던졌다. 최고점에 도달하는 데 걸리는 시간과 최고 높이는?",
        f"t = v/g = 14.7/9.8 = 1.5초이고, 최고 높이는 v²/(2g) = {_num(14.7**2 / 19.6, 2)}m입니다.",
    )

    add(
        "이상기체 2몰이 온도 300K, 부피 10L의 용기에 들어 있다. 기체의 압력은 몇 기압인가? (R = 0.082 L·atm/(mol·K))",
        f"PV = nRT에서 P = nRT/V = 2 × 0.082 × 300 / 10 ≈ {_num(2 * 0.082 * 300 / 10)} atm입니다.",
    )
    add(
        "0°C, 1기압에서 산소 기체 0.5몰이 차지하는 부피는 몇 L인지 이상기체 방정식으로 계산하시오.",
        f"V = nRT/P = 0.5 × 0.082 × 273 / 1 ≈ {_num(0.5 * 0.082 * 273, 1)} L입니다.",
    )
    add(
        "일정한 압력에서 27°C, 6L인 기체를 127°C로 가열하면 부피는 얼마가 되는가?",
        "샤를 법칙에 따라 V₂ = V₁ × T₂/T₁ = 6 × 400/300 = 8L입니다. 온도는 반드시 켈빈으로 바꿔 계산합니다.",
    )

    add(
        "10Ω 저항에 5V의 전압을 걸었다. 흐르는 전류와 저항에서 소비되는 전력을 구하시오.",
        "옴의 법칙에 의해 I = V/R = 0.5 A이고, 전력은 P = VI = 2.5 W입니다.",
    )
    add(
        "220V 콘센트에 연결된 1100W 전기 히터에 흐르는 전류는 몇 A이며, 히터의 저항은 얼마인가?",
        "I = P/V = 1100/220 = 5 A이고, R = V/I = 220/5 = 44Ω입니다.",
    )
    add(
        "12V 전지에 4Ω과 2Ω 저항을 직렬로 연결했을 때 회로에 흐르는 전류와 4Ω 양단의 전압은?",
        "합성 저항은 6Ω이므로 I = 12/6 = 2 A이고, 4Ω 양단의 전압은 2 × 4 = 8V입니다.",
    )

    add(
        "질량 2kg인 물체가 3m/s의 속력으로 움직이고 있을 때 운동 에너지는 몇 J인가?",
        "운동 에너지 E = ½mv² = 0.5 × 2 × 3² = 9 J입니다.",
    )
    add(
        "1500kg 자동차가 시속 72km로 달린다. 이 차를 멈추려면 브레이크가 해야 하는 일은 몇 kJ인가?",
        "72km/h = 20m/s이므로 운동 에너지는 ½ × 1500 × 20² = 300,000 J, 즉 300kJ의 일을 해야 합니다.",
    )
    add(
        "0.2kg짜리 야구공의 운동량이 3kg·m/s라면 공의 속력과 운동 에너지는 각각 얼마인가?",
        "속력은 p/m = 3/0.2 = 15m/s이고, 운동 에너지는 p²/(2m) = 9/0.4 = 22.5 J입니다.",
    )

    add(
        "물(H₂O) 36g은 몇 몰이며, 그 안에 든 물 분자는 몇 개인가? (아보가드로수 6.02×10²³)",
        "물의 몰질량은 18 g/mol이므로 36g은 2몰이고, 분자 수는 2 × 6.02×10²³ = 1.204×10²⁴개입니다.",
    )
    add(
        "이산화탄소 11g이 표준 상태에서 차지하는 부피를 구하시오. (표준 상태 기체 1몰 = 22.4L)",
        "CO₂의 몰질량은 44 g/mol이므로 11g은 0.25몰이고, 부피는 0.25 × 22.4 = 5.6L입니다.",
    )
    add(
        "포도당(C₆H₁₂O₆) 90g을 물에 녹여 500mL 용액을 만들었다. 몰 농도는?",
        "포도당의 몰질량은 180 g/mol이므로 0.5몰이고, 몰 농도는 0.5 ÷ 0.5L = 1 M입니다.",
    )
    add(
        "염화나트륨 117g에 들어 있는 나트륨 이온은 몇 몰인가?",
        "NaCl의 몰질량은 58.5 g/mol이므로 117 ÷ 58.5 = 2몰이고, NaCl 1몰에 Na⁺가 1몰이므로 2몰입니다.",
    )

    add(
        "진동수가 440Hz이고 파장이 0.78m인 음파의 전파 속력을 구하라.",
        f"파동의 속력은 v = fλ = 440 × 0.78 = {_num(440 * 0.78, 1)} m/s입니다.",
    )
    add(
        "주기가 0.02초인 파동의 진동수는 몇 Hz인가? 이 파동이 6m/s로 진행하면 파장은?",
        "진동수 f = 1/T = 50Hz이고, 파장 λ = v/f = 6/50 = 0.12m입니다.",
    )
    add(
        "소리의 속력이 340m/s일 때, 번개를 본 뒤 3초 후에 천둥소리를 들었다면 번개가 친 곳까지의 거리는?",
        "빛은 거의 즉시 도착하므로 거리 = 340 × 3 = 1020m입니다.",
    )

    add(
        "물 200g의 온도를 30°C만큼 올리는 데 필요한 열량은 몇 J인가? (물의 비열 4.18 J/(g·°C))",
        f"Q = mcΔT = 200 × 4.18 × 30 = {_num(200 * 4.18 * 30, 1)} J입니다.",
    )
    add(
        "80°C의 물 100g과 20°C의 물 200g을 섞었을 때 열평형 온도는 몇 °C인가?",
        "잃은 열량과 얻은 열량이 같으므로 100(80 - T) = 200(T - 20)에서 T = 40°C입니다.",
    )
    add(
        "1000W 전기 포트로 물 1kg을 20°C에서 100°C까지 데우는 데 최소 몇 초가 걸리는가? (물의 비열 4.18 J/(g·°C))",
        f"필요한 열량은 1000 × 4.18 × 80 = {1000 * 4.18 * 80:,.0f} J이므로 시간은 약 {_num(1000 * 4.18 * 80 / 1000, 0)}초입니다.",
    )

    add(
        "길이가 1m인 단진자의 주기를 구하시오. 진폭은 작다고 가정하고 g = 9.8 m/s²를 사용하라.",
        f"T = 2π√(L/g) = 2π√(1/9.8) ≈ {_num(2 * math.pi * math.sqrt(1 / 9.8))}초입니다.",
    )
    add(
        "진자의 길이를 4배로 늘리면 주기는 어떻게 변하는가?",
        "주기는 √L에 비례하므로 √4 = 2배가 됩니다. 질량과는 관계가 없습니다.",
    )
    add(
        "용수철 상수가 200N/m인 용수철을 0.1m 늘였을 때 저장된 탄성 퍼텐셜 에너지는?",
        "E = ½kx² = 0.5 × 200 × 0.1² = 1 J입니다.",
    )

    add(
        "질량이 3kg인 물체에 4m/s²의 가속도가 생기려면 알짜힘이 얼마나 필요한가?",
        "뉴턴 운동 제2법칙 F = ma에 따라 F = 3 × 4 = 12 N이 필요합니다.",
    )
    add(
        "정지해 있던 1200kg 승용차가 10초 만에 속력 25m/s에 도달했다. 평균 가속도와 알짜힘을 구하시오.",
        "평균 가속도는 25/10 = 2.5 m/s²이고, 알짜힘은 1200 × 2.5 = 3000 N입니다.",
    )
    return out


# --- scienceqa: multiple choice science questions ----------------------------------------

_ANIMAL_CLASSES = {
    "포유류": (["고래", "박쥐", "캥거루", "돌고래"], "새끼를 낳아 젖을 먹여 기르는 동물"),
    "조류": (["펭귄", "타조", "독수리", "참새"], "깃털과 부리가 있고 알을 낳는 동물"),
    "파충류": (["거북", "도마뱀", "악어", "뱀"], "비늘로 덮인 피부를 가지고 주로 땅에 알을 낳는 변온 동물"),
    "양서류": (["개구리", "도롱뇽", "두꺼비"], "어릴 때는 아가미로, 자라서는 폐와 피부로 호흡하는 동물"),
    "어류": (["상어", "연어", "고등어"], "물속에서 아가미로 호흡하고 지느러미로 헤엄치는 동물"),
    "곤충": (["개미", "메뚜기", "나비"], "몸이 머리, 가슴, 배로 나뉘고 다리가 세 쌍인 동물"),
}


def _scienceqa(rng: random.Random) -> list[dict]:
    out = []

    def add(instruction, output, input_=""):
        out.append({"instruction": instruction, "input": input_, "output": output, "data_source": "scienceqa"})

    letters = "ABCD"
    classes = list(_ANIMAL_CLASSES)
    stems = [
        "다음 중 {c}에 속하는 동물을 고르세요.",
        "보기에서 {c}로 분류되는 동물은 어느 것입니까?",
        "{c}의 예로 알맞은 것을 하나 고르시오.",
    ]
    for index, (cls, (members, definition)) in enumerate(_ANIMAL_CLASSES.items()):
        for k in range(2):
            answer = members[k]
            others = [c for c in classes if c != cls]
            rng.shuffle(others)
            wrong = [_ANIMAL_CLASSES[c][0][(index + k) % len(_ANIMAL_CLASSES[c][0])] for c in others[:3]]
            options = wrong + [answer]
            rng.shuffle(options)
            choice = letters[options.index(answer)]
            add(
                stems[(index + k) % len(stems)].format(c=cls),
                f"정답은 ({choice}) {answer}입니다. {_josa(cls, '은/는')} {definition}이며, {_josa(answer, '은/는')} "
                f"이 특징을 지닙니다.",
                " ".join(f"({letters[i]}) {o}" for i, o in enumerate(options)),
            )
    add(
        "구리 전선과 고무장갑 가운데 전기가 더 잘 통하는 물체는 무엇이며, 그 까닭은 무엇인가요?",
        "구리 전선입니다. 금속에는 자유롭게 움직이는 전자가 많아 전류가 잘 흐르지만, 고무장갑은 전기가 잘 통하지 않는 절연체입니다.",
    )
    add(
        "전지, 전구, 집게 전선으로 만든 회로에서 전구에 불이 들어오게 하려면 나무젓가락과 알루미늄 포일 중 무엇을 집게 사이에 물려야 할까요?",
        "알루미늄 포일입니다. 알루미늄은 금속이어서 전기가 통하는 도체이고, 나무젓가락은 전기가 통하지 않아 회로가 끊깁니다.",
    )
    add(
        "쇠못은 전류를 잘 흘려보내는 도체인지, 유리컵처럼 전류를 막는 절연체인지 구분해 보세요.",
        "쇠못은 도체입니다. 철은 금속이라 자유 전자가 많아 전류가 잘 흐릅니다. 유리는 자유 전자가 거의 없어 절연체로 쓰입니다.",
    )
    add(
        "감전 사고를 막기 위해 전선의 겉을 감싸는 재료로 은과 플라스틱 중 어느 것이 알맞은가요?",
        "플라스틱입니다. 플라스틱은 전기가 통하지 않는 절연체여서 안쪽의 금속 전선을 만져도 전류가 몸으로 흐르지 않게 막아 줍니다.",
    )
    changes = [
        ("종이가 불에 탄다", "얼음이 녹는다"),
        ("철못이 녹슨다", "유리컵이 깨진다"),
        ("우유가 상해서 시큼해진다", "설탕이 물에 녹는다"),
    ]
    for chem, phys in changes:
        add(
            f"'{chem}'와 '{phys}' 중 화학 변화는 어느 것인지 설명하시오.",
            f"'{chem}'가 화학 변화입니다. 처음과 성질이 다른 새로운 물질이 생기기 때문입니다. 반면 "
            f"'{phys}'는 물질의 모양이나 상태만 바뀌는 물리 변화입니다.",
        )
    facts = [
        (
            "태양계에서 크기가 가장 큰 행성은 무엇인가요?",
            "목성입니다. 목성의 지름은 지구의 약 11배이며, 주로 수소와 헬륨으로 이루어진 거대 가스 행성입니다.",
        ),
        (
            "달의 모양이 날마다 바뀌어 보이는 이유는 무엇인가요?",
            "달이 지구 주위를 공전하면서 태양 빛을 받는 면 중 지구에서 보이는 부분이 달라지기 때문입니다. 달 자체의 모양이 변하는 것은 아닙니다.",
        ),
        (
            "식물의 뿌리가 하는 일을 두 가지 쓰시오.",
            "첫째, 흙 속의 물과 양분을 흡수합니다. 둘째, 식물체를 땅에 단단히 고정해 쓰러지지 않게 합니다.",
        ),
        (
            "물이 끓는 온도는 높은 산 위에서 왜 100°C보다 낮아지나요?",
            "높은 곳일수록 기압이 낮아서 물이 더 낮은 온도에서 끓습니다. 그래서 산 위에서는 밥이 설익기 쉽습니다.",
        ),
        (
            "그림자가 생기는 까닭을 빛의 성질로 설명하세요.",
            "빛은 곧게 나아가는 성질이 있어서 불투명한 물체를 만나면 통과하지 못합니다. 빛이 가려진 물체 뒤쪽에 그림자가 생깁니다.",
        ),
        (
            "지층에서 화석이 발견되면 알 수 있는 사실은 무엇인가요?",
            "화석을 통해 그 지층이 쌓일 당시의 환경과 살았던 생물을 알 수 있습니다. 예를 들어 조개 화석이 나오면 그곳이 과거에 바다였음을 짐작할 수 있습니다.",
        ),
    ]
    for question, answer in facts:
        add(question, answer)
    return out


# --- reclor: logical reasoning ----------------------------------------------------------


def _reclor(rng: random.Random) -> list[dict]:
    out = []

    def add(instruction, input_, output):
        out.append({"instruction": instruction, "input": input_, "output": output, "data_source": "reclor"})

    letters = "ABCD"
    pairs = [
        ("고래", "포유류", "해양 생물", "흰긴수염고래"),
        ("장미", "꽃", "식물", "덩굴장미"),
        ("시인", "작가", "예술가", "윤동주"),
        ("노트북", "전자 기기", "상품", "지영의 새 노트북"),
        ("참새", "새", "동물", "마당에 앉은 참새"),
        ("찌개", "국물 요리", "음식", "김치찌개"),
    ]
    stems = [
        "다음 전제가 모두 참일 때 반드시 참인 진술을 고르시오.",
        "아래 두 문장으로부터 논리적으로 도출되는 결론은?",
        "주어진 전제에서 타당하게 추론할 수 있는 것은 무엇인가?",
    ]
    for index, (a, b, c, thing) in enumerate(pairs):
        premise = f"모든 {_josa(a, '은/는')} {b}이다. {_josa(thing, '은/는')} {a}이다."
        right = f"{_josa(thing, '은/는')} {b}이다."
        wrong = [
            f"모든 {_josa(b, '은/는')} {a}이다.",
            f"{_josa(thing, '은/는')} {_josa(b, '이/가')} 아니다.",
            f"어떤 {c}도 {_josa(b, '이/가')} 아니다.",
        ]
        options = wrong + [right]
        rng.shuffle(options)
        choice = letters[options.index(right)]
        add(
            stems[index % 3],
            premise + "\n" + " ".join(f"({letters[i]}) {o}" for i, o in enumerate(options)),
            f"정답은 ({choice})입니다. {a} 전체가 {b}에 포함되므로 {a}의 하나인 {thing}도 {b}에 포함됩니다. "
            f"역인 '모든 {_josa(b, '은/는')} {a}이다'는 전제만으로 알 수 없습니다.",
        )
    conditionals = [
        ("비가 오면", "운동장 수업이 취소된다", "운동장 수업이 취소되지 않았다", "비가 오지 않았다"),
        ("기온이 영하로 내려가면", "호수가 언다", "호수가 얼지 않았다", "기온이 영하로 내려가지 않았다"),
        ("회원 카드가 있으면", "10% 할인을 받는다", "지영은 할인을 받지 못했다", "지영에게는 회원 카드가 없다"),
        ("공장이 가동되면", "굴뚝에서 연기가 난다", "오늘 굴뚝에서 연기가 나지 않았다", "오늘 공장은 가동되지 않았다"),
    ]
    for cond, result, observed, conclusion in conditionals:
        add(
            "다음 논증의 결론이 타당한지 판단하고 그 근거가 되는 추론 규칙을 밝히시오.",
            f"{cond} {result}. {observed}. 그러므로 {conclusion}.",
            "타당한 논증입니다. 'P이면 Q이다'와 'Q가 아니다'에서 'P가 아니다'를 이끌어 내는 후건 부정(대우)을 "
            "사용했습니다.",
        )
    fallacies = [
        (
            "이 약을 먹은 뒤 감기가 나았다. 따라서 이 약이 감기를 낫게 했다.",
            "선후 인과의 오류",
            "시간상 먼저 일어난 일을 원인으로 단정했습니다. 감기는 약 없이도 저절로 나을 수 있습니다.",
        ),
        (
            "유명 배우가 이 정수기를 쓴다고 했으니 이 정수기의 성능은 뛰어날 것이다.",
            "부적절한 권위에 호소하는 오류",
            "배우는 정수기 성능을 판단할 전문가가 아니므로 근거로 삼기 어렵습니다.",
        ),
        (
            "우리 반 학생 세 명이 수학을 싫어하니 이 학교 학생들은 모두 수학을 싫어한다.",
            "성급한 일반화의 오류",
            "세 명이라는 적은 사례로 전체 학생에 대한 결론을 내렸습니다.",
        ),
        (
            "그 정책에 반대하는 사람은 나라의 발전을 바라지 않는 사람이다.",
            "흑백 논리의 오류",
            "정책에 반대하면서도 나라의 발전을 바랄 수 있는데 두 가지 선택지만 있는 것처럼 말했습니다.",
        ),
        (
            "그의 주장은 틀렸다. 그는 예전에 시험에서 부정행위를 했기 때문이다.",
            "인신공격의 오류",
            "주장의 내용이 아니라 주장하는 사람의 과거 행동을 근거로 삼았습니다.",
        ),
        (
            "모두가 이 게임을 하니까 이 게임은 분명 교육적으로 유익하다.",
            "군중에 호소하는 오류",
            "많은 사람이 한다는 사실은 그것이 유익하다는 증거가 되지 못합니다.",
        ),
    ]
    for text, name, why in fallacies:
        add("다음 글에 나타난 논리적 오류의 이름을 쓰고 이유를 설명하시오.", text, f"{name}입니다. {why}")
    arguments = [
        (
            "한 도시에서 자전거 도로를 늘린 뒤 교통사고가 줄었다. 시장은 자전거 도로 덕분이라고 주장한다.",
            "같은 기간에 과속 단속 카메라가 크게 늘었다는 사실이 밝혀진다면 시장의 주장은 약해집니다. 사고 감소의 다른 원인이 있을 수 있기 때문입니다.",
        ),
        (
            "어느 회사는 재택근무를 도입한 뒤 직원들의 업무 만족도가 높아졌으므로 생산성도 높아졌다고 결론지었다.",
            "이 결론은 '만족도가 높으면 생산성도 높다'는 숨은 전제에 기대고 있습니다. 생산성 자체를 측정한 자료가 필요합니다.",
        ),
        (
            "도서관 이용자가 줄었다. 관장은 전자책이 보급되었기 때문이라며 종이책 구입 예산을 줄이자고 한다.",
            "이용자 감소가 전자책 때문인지 먼저 확인해야 합니다. 개관 시간 단축이나 시설 노후화 같은 다른 원인을 배제하지 않았다는 점이 약점입니다.",
        ),
        (
            "한 식품 회사가 새 음료를 출시하면서 시음회 참가자의 90%가 맛있다고 답했다는 결과를 광고에 실었다. 그런데 시음회는 "
            "그 회사의 기존 음료를 정기 구매하는 회원들만 초대해서 열렸다. 회사는 이 결과로 새 음료가 전 국민의 입맛을 사로잡을 것이라고 주장한다.",
            "표본이 편향되어 있습니다. 이미 그 회사 음료를 좋아하는 회원들만 조사했으므로 결과를 전체 소비자에게 일반화할 수 없습니다.",
        ),
        (
            "어느 고등학교는 아침 자율 학습 시간을 없앤 학기에 학생들의 평균 성적이 조금 올랐다. 교장은 충분한 수면이 성적을 올렸다며 "
            "다른 학교들도 아침 자율 학습을 폐지해야 한다고 주장했다. 같은 학기에 그 학교는 시험의 난이도를 낮추었다.",
            "성적 상승의 원인으로 수면 외에 시험 난이도 하락이 있습니다. 다른 원인을 통제하지 않았으므로 수면 효과라고 단정할 수 없습니다.",
        ),
        (
            "시의회 의원은 지난 3년간 공원 근처 아파트값이 다른 지역보다 빨리 올랐다는 통계를 근거로, 도심에 공원을 더 지으면 시민 전체의 "
            "자산이 늘어날 것이라고 말했다. 그러나 공원 근처 아파트는 대부분 새로 지은 대단지였다.",
            "가격 상승이 공원 때문인지 신축 대단지라는 특성 때문인지 구분되지 않습니다. 또 일부 지역의 가격 상승을 시민 전체의 자산 증가로 확대한 것도 비약입니다.",
        ),
    ]
    for text, answer in arguments:
        add("다음 논증의 약점을 지적하시오.", text, answer)
    return out


# --- leetcode_ne: programming problems -----------------------------------------------------

_LEETCODE = [
    (
        "정수 배열 nums와 정수 target이 주어질 때, 더해서 target이 되는 두 원소의 인덱스를 반환하는 파이썬 함수를 작성하세요.",
        "def two_sum(nums, target):\n    seen = {}\n    for i, x in enumerate(nums):\n        if target - x in seen:\n            return [seen[target - x], i]\n        seen[x] = i\n    return []",
    ),
    (
        "문자열이 앞에서 읽으나 뒤에서 읽으나 같은 회문인지 판별하는 함수를 만드세요. 영문자와 숫자만 비교하고 대소문자는 무시합니다.",
        "def is_palindrome(s):\n    t = [c.lower() for c in s if c.isalnum()]\n    return t == t[::-1]",
    ),
    (
        "'(', ')', '{', '}', '[', ']'로 이루어진 문자열의 괄호 짝이 올바른지 검사하는 함수를 작성하시오.",
        "def is_valid(s):\n    pair = {')': '(', '}': '{', ']': '['}\n    stack = []\n    for c in s:\n        if c in pair:\n            if not stack or stack.pop() != pair[c]:\n                return False\n        else:\n            stack.append(c)\n    return not stack",
    ),
    (
        "정수 배열에서 합이 가장 큰 연속 부분 배열의 합을 O(n) 시간에 구하는 코드를 작성하세요.",
        "카데인 알고리즘을 씁니다.\ndef max_sub_array(nums):\n    best = cur = nums[0]\n    for x in nums[1:]:\n        cur = max(x, cur + x)\n        best = max(best, cur)\n    return best",
    ),
    (
        "오름차순으로 정렬된 리스트에서 target의 위치를 이진 탐색으로 찾아 반환하고, 없으면 -1을 반환하는 함수를 구현하라.",
        "def search(nums, target):\n    lo, hi = 0, len(nums) - 1\n    while lo <= hi:\n        mid = (lo + hi) // 2\n        if nums[mid] == target:\n            return mid\n        if nums[mid] < target:\n            lo = mid + 1\n        else:\n            hi = mid - 1\n    return -1",
    ),
    (
        "한 번에 계단을 1칸 또는 2칸 오를 수 있을 때 n칸 계단을 오르는 방법의 수를 구하는 함수를 작성하세요.",
        "피보나치 수열과 같은 점화식입니다.\ndef climb_stairs(n):\n    a, b = 1, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
    ),
    (
        "두 문자열이 서로의 애너그램(철자 순서만 바꾼 단어)인지 확인하는 파이썬 코드를 보여 주세요.",
        "from collections import Counter\n\ndef is_anagram(s, t):\n    return Counter(s) == Counter(t)",
    ),
    (
        "0부터 n까지의 수 중 하나가 빠진 길이 n의 배열에서 빠진 수를 찾는 함수를 작성하세요.",
        "0부터 n까지의 합에서 배열의 합을 빼면 됩니다.\ndef missing_number(nums):\n    n = len(nums)\n    return n * (n + 1) // 2 - sum(nums)",
    ),
    (
        "주식 가격 배열 prices가 주어질 때 한 번 사고 한 번 팔아서 얻을 수 있는 최대 이익을 계산하는 함수를 구현하시오.",
        "def max_profit(prices):\n    low, best = float('inf'), 0\n    for p in prices:\n        low = min(low, p)\n        best = max(best, p - low)\n    return best",
    ),
    (
        "문자열 배열에서 모든 문자열의 가장 긴 공통 접두사를 찾는 함수를 작성하라. 없으면 빈 문자열을 반환한다.",
        "def longest_common_prefix(strs):\n    if not strs:\n        return ''\n    prefix = strs[0]\n    for s in strs[1:]:\n        while not s.startswith(prefix):\n            prefix = prefix[:-1]\n    return prefix",
    ),
    (
        "로마 숫자 문자열을 정수로 바꾸는 함수를 작성하세요. 예: 'MCMXCIV'는 1994입니다.",
        "def roman_to_int(s):\n    v = {'I': 1, 'V': 5, 'X': 10, 'L': 50, 'C': 100, 'D': 500, 'M': 1000}\n    total = 0\n    for a, b in zip(s, s[1:] + ' '):\n        total += -v[a] if b != ' ' and v[a] < v[b] else v[a]\n    return total",
    ),
    (
        "정렬된 두 리스트를 하나의 정렬된 리스트로 병합하는 함수를 sorted() 없이 구현하시오.",
        "def merge(a, b):\n    i = j = 0\n    out = []\n    while i < len(a) and j < len(b):\n        if a[i] <= b[j]:\n            out.append(a[i]); i += 1\n        else:\n            out.append(b[j]); j += 1\n    return out + a[i:] + b[j:]",
    ),
    (
        "양의 정수를 이진수로 나타냈을 때 1의 개수를 세는 함수를 만드세요.",
        "def hamming_weight(n):\n    count = 0\n    while n:\n        n &= n - 1\n        count += 1\n    return count",
    ),
    (
        "32비트 정수의 자릿수를 거꾸로 뒤집은 값을 반환하되, 범위를 넘으면 0을 반환하는 함수를 작성하시오.",
        "def reverse(x):\n    sign = -1 if x < 0 else 1\n    r = sign * int(str(abs(x))[::-1])\n    return r if -2**31 <= r < 2**31 else 0",
    ),
    (
        "배열을 오른쪽으로 k칸 회전시키는 함수를 작성하세요. 예: [1,2,3,4,5], k=2 → [4,5,1,2,3]",
        "def rotate(nums, k):\n    k %= len(nums)\n    nums[:] = nums[-k:] + nums[:-k]\n    return nums",
    ),
    (
        "1부터 n까지 출력하되 3의 배수는 'Fizz', 5의 배수는 'Buzz', 15의 배수는 'FizzBuzz'로 바꾼 리스트를 반환하시오.",
        "def fizz_buzz(n):\n    out = []\n    for i in range(1, n + 1):\n        s = ('Fizz' if i % 3 == 0 else '') + ('Buzz' if i % 5 == 0 else '')\n        out.append(s or str(i))\n    return out",
    ),
    (
        "문자열에서 처음으로 한 번만 등장하는 문자의 인덱스를 구하고, 없으면 -1을 반환하라.",
        "from collections import Counter\n\ndef first_uniq_char(s):\n    count = Counter(s)\n    for i, c in enumerate(s):\n        if count[c] == 1:\n            return i\n    return -1",
    ),
    (
        "정수 n이 주어질 때 n보다 작은 소수의 개수를 에라토스테네스의 체로 구하시오.",
        "def count_primes(n):\n    if n < 3:\n        return 0\n    sieve = [True] * n\n    sieve[0] = sieve[1] = False\n    for i in range(2, int(n ** 0.5) + 1):\n        if sieve[i]:\n            sieve[i*i::i] = [False] * len(sieve[i*i::i])\n    return sum(sieve)",
    ),
    (
        "정렬된 배열에서 중복을 제자리에서 제거하고 남은 원소의 개수를 반환하는 함수를 작성하시오.",
        "def remove_duplicates(nums):\n    k = 0\n    for x in nums:\n        if k == 0 or nums[k - 1] != x:\n            nums[k] = x\n            k += 1\n    return k",
    ),
    (
        "m×n 행렬의 전치 행렬을 반환하는 함수를 한 줄로 작성하세요.",
        "def transpose(matrix):\n    return [list(row) for row in zip(*matrix)]",
    ),
    (
        "'aaabcc'를 'a3b1c2'처럼 연속된 문자와 개수로 압축하는 함수를 만드시오.",
        "from itertools import groupby\n\ndef compress(s):\n    return ''.join(f'{c}{len(list(g))}' for c, g in groupby(s))",
    ),
    (
        "배열에서 과반수(절반 초과)를 차지하는 원소를 O(1) 추가 공간으로 찾는 방법을 코드로 보여 주세요.",
        "보이어-무어 투표 알고리즘입니다.\ndef majority(nums):\n    cand, cnt = None, 0\n    for x in nums:\n        if cnt == 0:\n            cand = x\n        cnt += 1 if x == cand else -1\n    return cand",
    ),
    (
        "문장에서 단어의 순서를 뒤집는 함수를 작성하세요. 예: '나는 오늘 학교에 간다' → '간다 학교에 오늘 나는'",
        "def reverse_words(s):\n    return ' '.join(reversed(s.split()))",
    ),
    (
        "연결 리스트에 사이클이 있는지 O(1) 공간으로 판별하는 알고리즘을 설명하고 코드를 작성하라.",
        "플로이드의 토끼와 거북이 알고리즘을 씁니다.\ndef has_cycle(head):\n    slow = fast = head\n    while fast and fast.next:\n        slow, fast = slow.next, fast.next.next\n        if slow is fast:\n            return True\n    return False",
    ),
    (
        "이진 트리의 최대 깊이를 재귀로 구하는 함수를 작성하시오. 노드는 left, right 속성을 가진다.",
        "def max_depth(root):\n    if root is None:\n        return 0\n    return 1 + max(max_depth(root.left), max_depth(root.right))",
    ),
]

# Examples and constraints shown with each problem (the "input" of the record), in order.
_LEETCODE_INPUTS = [
    "예시 1: nums = [2, 7, 11, 15], target = 9 → [0, 1]\n예시 2: nums = [3, 2, 4], target = 6 → [1, 2]\n정답은 하나만 존재한다고 가정합니다.",
    '예시: "A man, a plan, a canal: Panama" → True, "race a car" → False\n빈 문자열은 회문으로 봅니다.',
    '예시: "()[]{}" → True, "(]" → False, "([)]" → False\n문자열 길이는 1 이상 10,000 이하입니다.',
    "예시: [-2, 1, -3, 4, -1, 2, 1, -5, 4] → 6 (부분 배열 [4, -1, 2, 1])\n배열에는 원소가 하나 이상 있습니다.",
    "예시: nums = [-1, 0, 3, 5, 9, 12], target = 9 → 4, target = 2 → -1\n배열의 원소는 모두 서로 다릅니다.",
    "예시: n = 2 → 2 (1+1, 2), n = 3 → 3 (1+1+1, 1+2, 2+1)\n1 ≤ n ≤ 45",
    '예시: s = "anagram", t = "nagaram" → True / s = "rat", t = "car" → False\n두 문자열은 영어 소문자로만 이루어져 있습니다.',
    "예시: [3, 0, 1] → 2, [9, 6, 4, 2, 3, 5, 7, 0, 1] → 8\n배열의 수는 모두 서로 다릅니다.",
    "예시: [7, 1, 5, 3, 6, 4] → 5 (1에 사서 6에 팔기), [7, 6, 4, 3, 1] → 0\n파는 날은 사는 날보다 뒤여야 합니다.",
    '예시: ["flower", "flow", "flight"] → "fl", ["dog", "racecar", "car"] → ""',
    "규칙: 작은 값이 큰 값 앞에 오면 뺍니다(IV = 4, IX = 9, XL = 40, CM = 900).\n입력은 1부터 3999 사이의 올바른 로마 숫자입니다.",
    "예시: a = [1, 2, 4], b = [1, 3, 4] → [1, 1, 2, 3, 4, 4]\n두 리스트의 길이는 0 이상 50 이하입니다.",
    "예시: 11 (이진수 1011) → 3, 128 (이진수 10000000) → 1\n입력은 32비트 부호 없는 정수입니다.",
    "예시: 123 → 321, -123 → -321, 120 → 21\n부호 있는 32비트 범위는 -2³¹ 이상 2³¹ - 1 이하입니다.",
    "제자리에서 바꾸는 방법도 함께 생각해 보세요.\n1 ≤ len(nums) ≤ 10⁵, 0 ≤ k ≤ 10⁵",
    '예시: n = 5 → ["1", "2", "Fizz", "4", "Buzz"]\n1 ≤ n ≤ 10⁴',
    '예시: "leetcode" → 0, "loveleetcode" → 2, "aabb" → -1\n문자열은 영어 소문자만 포함합니다.',
    "예시: n = 10 → 4 (2, 3, 5, 7), n = 0 → 0\n0 ≤ n ≤ 5 × 10⁶",
    "예시: [0, 0, 1, 1, 1, 2, 2, 3, 3, 4] → 5, 배열 앞부분은 [0, 1, 2, 3, 4]가 됩니다.\n추가 메모리는 O(1)만 사용하세요.",
    "예시: [[1, 2, 3], [4, 5, 6]] → [[1, 4], [2, 5], [3, 6]]\n행렬의 크기는 최대 1000 × 1000입니다.",
    "빈 문자열은 빈 문자열로 돌려주고, 한 글자만 반복되면 'a5'처럼 씁니다.\n입력은 영문 소문자로만 이루어집니다.",
    "예시: [3, 2, 3] → 3, [2, 2, 1, 1, 1, 2, 2] → 2\n과반수 원소는 항상 존재합니다.",
    "단어 사이 공백이 여러 개이거나 앞뒤에 공백이 있어도 결과에는 단어 사이 공백 하나만 남겨야 합니다.",
    "노드 클래스는 val과 next 속성을 가집니다. 리스트의 노드 수는 0 이상 10⁴ 이하입니다.",
    "예시: [3, 9, 20, null, null, 15, 7] 모양의 트리 → 3\n빈 트리의 깊이는 0입니다.",
]


def _leetcode(rng: random.Random) -> list[dict]:
    return [
        {"instruction": q, "input": i, "output": a, "data_source": "leetcode_ne"}
        for (q, a), i in zip(_LEETCODE, _LEETCODE_INPUTS, strict=True)
    ]


# --- tigerbot-kaggle: data analysis ---------------------------------------------------------

_KAGGLE = [
    (
        "pandas 데이터프레임 df의 'age' 열에 있는 결측치를 그 열의 중앙값으로 채우는 방법을 알려 주세요.",
        "df['age'] = df['age'].fillna(df['age'].median())\n중앙값은 이상치의 영향을 덜 받아서 나이처럼 치우친 분포에 평균보다 적합합니다.",
    ),
    (
        "데이터프레임에서 완전히 똑같은 행을 제거하려면 어떻게 하나요?",
        "df = df.drop_duplicates()\n특정 열 기준으로만 중복을 판단하려면 subset=['열이름']을, 마지막 행을 남기려면 keep='last'를 지정합니다.",
    ),
    (
        "'city' 열별로 'price' 열의 평균을 구하는 pandas 코드를 작성하세요.",
        "df.groupby('city')['price'].mean()\n여러 통계를 함께 보려면 .agg(['mean', 'median', 'count'])를 사용할 수 있습니다.",
    ),
    (
        "범주형 변수 'color'를 원-핫 인코딩하는 가장 간단한 방법은?",
        "pd.get_dummies(df, columns=['color'])를 사용합니다. 선형 모델에서 다중공선성을 피하려면 drop_first=True를 추가합니다.",
    ),
    (
        "scikit-learn으로 데이터를 학습용 80%, 평가용 20%로 나누는 코드를 보여 주세요.",
        "from sklearn.model_selection import train_test_split\nX_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42, stratify=y)",
    ),
    (
        "특성 값의 범위가 크게 다를 때 표준화를 해야 하는 이유와 방법을 설명하세요.",
        "거리나 기울기를 쓰는 모델은 큰 값의 특성에 끌려가기 때문입니다. StandardScaler를 학습 데이터에만 fit한 뒤 학습과 평가 데이터에 transform하여 평균 0, 분산 1로 맞춥니다.",
    ),
    (
        "두 수치형 열 사이의 상관관계를 확인하는 방법을 알려 줘.",
        "df[['height', 'weight']].corr()로 피어슨 상관계수를 구합니다. 관계가 단조적이지만 선형이 아니라면 method='spearman'을 씁니다.",
    ),
    (
        "분류 모델의 혼동 행렬을 출력하는 코드를 작성하세요.",
        "from sklearn.metrics import confusion_matrix\nprint(confusion_matrix(y_test, y_pred))\n행은 실제 클래스, 열은 예측 클래스를 나타냅니다.",
    ),
    (
        "5겹 교차 검증으로 랜덤 포레스트의 정확도를 평가하는 방법은?",
        "from sklearn.model_selection import cross_val_score\nscores = cross_val_score(RandomForestClassifier(random_state=0), X, y, cv=5)\nprint(scores.mean(), scores.std())",
    ),
    (
        "모델이 학습 데이터에서는 정확도가 99%인데 검증 데이터에서는 70%입니다. 무엇이 문제이고 어떻게 해결하나요?",
        "과적합입니다. 모델 복잡도를 낮추거나 규제를 강화하고, 데이터를 늘리거나 교차 검증으로 하이퍼파라미터를 조정하세요. 트리 모델이라면 max_depth를 줄여 봅니다.",
    ),
    (
        "정밀도와 재현율의 차이를 스팸 메일 분류 예시로 설명해 주세요.",
        "정밀도는 스팸이라고 예측한 메일 중 실제 스팸의 비율이고, 재현율은 실제 스팸 중 모델이 찾아낸 비율입니다. 중요한 메일을 놓치면 안 되므로 스팸 필터는 정밀도를 특히 중시합니다.",
    ),
    (
        "문자열로 된 'date' 열을 날짜형으로 바꾸고 월 정보를 새 열로 만드는 코드를 작성하세요.",
        "df['date'] = pd.to_datetime(df['date'], format='%Y-%m-%d')\ndf['month'] = df['date'].dt.month",
    ),
    (
        "판매 데이터를 지역을 행으로, 연도를 열로 하는 피벗 테이블로 만들어 매출 합계를 보려고 합니다.",
        "df.pivot_table(index='region', columns='year', values='sales', aggfunc='sum', fill_value=0)",
    ),
    (
        "IQR 방법으로 'income' 열의 이상치를 걸러내는 코드를 작성하시오.",
        "q1, q3 = df['income'].quantile([0.25, 0.75])\niqr = q3 - q1\nmask = df['income'].between(q1 - 1.5 * iqr, q3 + 1.5 * iqr)\ndf = df[mask]",
    ),
    (
        "학습된 랜덤 포레스트에서 특성 중요도를 높은 순으로 보려면?",
        "pd.Series(model.feature_importances_, index=X.columns).sort_values(ascending=False)\n불순도 기반 중요도는 값의 종류가 많은 특성을 과대평가할 수 있어 순열 중요도와 비교해 보는 것이 좋습니다.",
    ),
    (
        "ROC AUC 점수는 무엇을 의미하며 어떻게 계산하나요?",
        "양성 샘플이 음성 샘플보다 높은 점수를 받을 확률입니다. 0.5는 무작위 수준, 1은 완벽한 구분입니다. roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])로 계산합니다.",
    ),
    (
        "고객 정보 표와 주문 표를 고객 ID로 합치는 pandas 코드를 작성하세요. 주문이 없는 고객도 남겨야 합니다.",
        "merged = customers.merge(orders, on='customer_id', how='left')\nhow='left'이므로 주문이 없는 고객은 주문 열이 NaN으로 채워집니다.",
    ),
    (
        "'category' 열에 각 값이 몇 번 나오는지 비율로 확인하려면?",
        "df['category'].value_counts(normalize=True)\n결측치도 포함하려면 dropna=False를 추가합니다.",
    ),
    (
        "CSV 파일을 읽을 때 한글이 깨집니다. 어떻게 해결하나요?",
        "파일 인코딩을 지정하세요. pd.read_csv('data.csv', encoding='cp949') 또는 encoding='utf-8-sig'를 시도합니다. 엑셀에서 저장한 한글 CSV는 cp949인 경우가 많습니다.",
    ),
    (
        "'score' 열의 분포를 히스토그램으로 그리는 코드를 작성하세요.",
        "import matplotlib.pyplot as plt\ndf['score'].plot.hist(bins=20)\nplt.xlabel('score')\nplt.show()",
    ),
    (
        "불균형한 이진 분류 데이터에서 로지스틱 회귀를 학습할 때 쓸 수 있는 방법은?",
        "LogisticRegression(class_weight='balanced')로 소수 클래스에 가중치를 주거나, 오버샘플링을 적용합니다. 평가는 정확도 대신 F1이나 PR AUC로 합니다.",
    ),
    (
        "실험 결과를 매번 똑같이 재현하려면 무엇을 고정해야 하나요?",
        "난수 시드를 고정합니다. numpy는 np.random.seed(42), scikit-learn 모델과 분할 함수에는 random_state=42를 넘기고, 라이브러리 버전도 기록해 둡니다.",
    ),
    (
        "결정 트리와 랜덤 포레스트의 차이를 간단히 설명하세요.",
        "결정 트리는 하나의 트리로 예측해 해석은 쉽지만 과적합되기 쉽습니다. 랜덤 포레스트는 부트스트랩 표본과 무작위 특성으로 만든 여러 트리의 예측을 평균해 분산을 줄입니다.",
    ),
    (
        "회귀 모델의 성능을 평가할 때 RMSE와 MAE 중 무엇을 써야 하나요?",
        "큰 오차에 더 큰 벌점을 주고 싶으면 RMSE, 이상치의 영향을 줄이고 해석을 쉽게 하려면 MAE를 씁니다. 두 지표를 함께 보고하는 경우도 많습니다.",
    ),
    (
        "텍스트 데이터를 TF-IDF 벡터로 바꾸는 코드를 작성하세요.",
        "from sklearn.feature_extraction.text import TfidfVectorizer\nvec = TfidfVectorizer(max_features=5000)\nX = vec.fit_transform(texts)",
    ),
]

# Data described with some of the questions (the "input" of the record), in order; "" for none.
_KAGGLE_INPUTS = [
    "df는 2023년 건강검진 수검자 12,000명의 자료이며 열은 id, age, sex, height, weight입니다. age 열의 약 7%가 비어 있습니다.",
    "온라인 쇼핑몰 주문 기록을 여러 파일에서 합치다 보니 같은 주문이 두세 번씩 들어간 것 같습니다.",
    "부동산 실거래가 자료로 열은 city, district, area_m2, price(만 원), year입니다.",
    "color 열에는 red, blue, green, black 네 가지 값이 있고 모델은 로지스틱 회귀를 쓸 예정입니다.",
    "X는 (5000, 20) 크기의 특성 행렬이고 y는 0과 1로 된 레이블인데 1의 비율이 12%입니다.",
    "키(cm), 연봉(원), 나이(세)를 함께 써서 k-최근접 이웃 모델을 학습하려고 합니다.",
    "",
    "",
    "",
    "결정 트리 max_depth=None으로 학습했고, 특성은 40개, 학습 샘플은 800개입니다.",
    "",
    "날짜는 '2024-03-15' 형식의 문자열로 저장되어 있고 데이터는 3년 치 일별 매출입니다.",
    "열은 region(서울, 부산, 대구 등), year(2021~2023), sales(원)입니다.",
    "income 열은 오른쪽으로 길게 꼬리가 있는 분포이며 최댓값이 평균의 40배가 넘습니다.",
    "",
    "",
    "customers 표에는 customer_id, name, join_date가, orders 표에는 order_id, customer_id, amount가 있습니다.",
    "category 열에는 30여 개의 상품 분류가 있고 일부 행은 비어 있습니다.",
    "공공데이터 포털에서 내려받은 CSV를 pd.read_csv('data.csv')로 읽으니 UnicodeDecodeError가 났습니다.",
    "",
    "사기 거래 탐지 데이터에서 사기 비율은 0.5%에 불과합니다.",
    "",
    "",
    "",
    "뉴스 기사 본문 2만 건을 주제별로 분류하려고 합니다. texts는 문자열 리스트입니다.",
]


def _kaggle(rng: random.Random) -> list[dict]:
    return [
        {"instruction": q, "input": i, "output": a, "data_source": "tigerbot-kaggle"}
        for (q, a), i in zip(_KAGGLE, _KAGGLE_INPUTS, strict=True)
    ]


# --- airoboros: open-ended writing and general knowledge -----------------------------------

_AIROBOROS = [
    (
        "가을 들판을 주제로 네 줄짜리 짧은 시를 지어 주세요.",
        "",
        "황금빛 물결이 바람에 눕고\n허수아비는 빈 하늘을 지킨다\n낟알 하나에 여름이 담겨\n들판은 조용히 고개를 숙인다",
    ),
    (
        "'티끌 모아 태산'이라는 속담의 뜻과 쓰임을 예문과 함께 설명하세요.",
        "",
        "아주 작은 것이라도 꾸준히 모으면 나중에 큰 덩어리가 된다는 뜻입니다. 예: 하루 천 원씩 저금했더니 일 년 뒤 꽤 큰돈이 되었으니 티끌 모아 태산이라는 말이 맞다.",
    ),
    (
        "팀장에게 다음 주 금요일 휴가를 요청하는 정중한 이메일을 써 주세요.",
        "",
        "제목: 휴가 신청드립니다\n\n팀장님, 안녕하세요. 개인 사정으로 다음 주 금요일에 연차 휴가를 사용하고자 합니다. 진행 중인 업무는 목요일까지 마무리하고 인수인계하겠습니다. 검토 부탁드립니다. 감사합니다.",
    ),
    (
        "로봇이 처음으로 눈을 보는 장면을 세 문장으로 묘사하세요.",
        "",
        "센서에 닿은 하얀 입자는 어떤 데이터베이스에도 없는 모양이었다. 로봇은 손바닥 위에서 사라지는 눈송이를 몇 번이고 다시 측정했다. 녹아 없어지는 것도 아름다울 수 있다는 사실을 처음 기록했다.",
    ),
    (
        "초보자를 위한 일주일 달리기 계획을 간단히 짜 주세요.",
        "",
        "월: 걷기 5분 후 1분 달리기·2분 걷기 6회\n수: 같은 방식으로 8회\n금: 2분 달리기·2분 걷기 5회\n주말: 30분 가볍게 걷기\n매번 준비 운동과 정리 운동을 하세요.",
    ),
    (
        "'시간은 금이다'를 다른 비유로 표현한 문장을 세 개 만들어 주세요.",
        "",
        "1. 시간은 한 번 쏟으면 다시 담을 수 없는 물이다.\n2. 시간은 매일 아침 새로 충전되지만 이월되지 않는 통장이다.\n3. 시간은 씨앗과 같아서 어디에 심느냐에 따라 거두는 것이 달라진다.",
    ),
    (
        "중세 성을 배경으로 한 추리 소설의 첫 문장을 써 주세요.",
        "",
        "성의 종이 열두 번 울렸을 때 연회장의 촛불은 모두 꺼져 있었고, 영주의 의자에는 아무도 없었다.",
    ),
    (
        "만약 인류가 잠을 잘 필요가 없다면 사회는 어떻게 달라질지 짧게 상상해 보세요.",
        "",
        "하루가 사실상 길어져 24시간 운영하는 학교와 직장이 늘어날 것입니다. 밤 문화와 야간 산업이 커지는 대신 휴식의 의미가 달라져, 쉬는 시간을 법으로 보장하자는 논의가 생길 수도 있습니다.",
    ),
    (
        "고양이의 시점에서 주인이 출근하는 아침을 짧게 써 주세요.",
        "",
        "집사는 오늘도 그 시끄러운 상자를 끄고 허둥지둥 털옷을 입었다. 밥그릇은 채웠으니 용서해 주기로 한다. 문이 닫히면 이 집의 창가 자리는 다시 내 차지다.",
    ),
    (
        "자기소개서에 쓸 '협업 경험' 문단을 100자 내외로 예시로 작성해 주세요.",
        "",
        "대학 졸업 작품에서 네 명이 앱을 개발할 때 일정 관리를 맡았습니다. 매주 진행 상황을 공유하는 회의를 만들어 갈등을 줄였고, 마감 이틀 전에 완성해 최우수상을 받았습니다.",
    ),
    (
        "바다를 한 번도 본 적 없는 사람에게 바다를 설명해 주세요.",
        "",
        "끝이 보이지 않을 만큼 넓은 소금물이 하늘과 맞닿아 있다고 상상해 보세요. 물결이 쉬지 않고 밀려왔다 물러나며 파도 소리를 내고, 바람에서는 짭조름한 냄새가 납니다.",
    ),
    (
        "친구의 생일 축하 카드에 쓸 따뜻한 메시지를 두 문장으로 적어 주세요.",
        "",
        "늘 곁에서 웃게 해 줘서 고마워. 올해는 네가 바라는 일들이 하나씩 이루어지는 해가 되기를 진심으로 응원할게!",
    ),
    (
        "동네 빵집을 홍보하는 짧은 문구를 만들어 주세요. 갓 구운 빵과 친절함을 강조해 주세요.",
        "",
        "매일 아침 7시, 오븐에서 막 나온 빵 냄새로 하루를 시작하세요. 이웃처럼 반겨 주는 우리 동네 빵집이 기다립니다.",
    ),
    (
        "'행복'이라는 단어로 삼행시를 지어 주세요.",
        "",
        "행: 행운은 멀리 있지 않고\n복: 복잡한 하루 속 작은 웃음에 숨어 있다.",
    ),
    (
        "우주 정거장에서 보내는 하루 일과를 일기 형식으로 짧게 써 주세요.",
        "",
        "오늘은 지구를 열여섯 번 돌았다. 아침에는 식물 재배 실험을 점검하고, 오후에는 두 시간 동안 근력 운동을 했다. 창밖으로 보이는 오로라가 유난히 푸르렀다.",
    ),
    (
        "발표 불안을 줄이는 방법을 세 가지 제안해 주세요.",
        "",
        "1. 발표 내용을 소리 내어 여러 번 연습합니다.\n2. 첫 1분의 도입부를 외워 두면 긴장이 빨리 풀립니다.\n3. 청중 가운데 호의적인 얼굴 몇 명을 정해 번갈아 바라봅니다.",
    ),
    (
        "오래된 등대지기가 마지막 근무를 마치는 장면을 짧게 묘사하세요.",
        "",
        "노인은 마지막으로 렌즈를 닦고 불을 켰다. 사십 년 동안 한 번도 꺼지지 않았던 빛이 바다 위로 길게 뻗었다. 내일부터는 기계가 이 일을 맡는다.",
    ),
    (
        "환경 보호를 위해 일상에서 실천할 수 있는 일 다섯 가지를 알려 주세요.",
        "",
        "장바구니와 텀블러를 가지고 다니기, 가까운 거리는 걷거나 자전거 타기, 사용하지 않는 전자 제품 플러그 뽑기, 분리배출 제대로 하기, 음식은 먹을 만큼만 사기.",
    ),
    (
        "어린이에게 무지개가 생기는 이유를 쉽게 설명해 주세요.",
        "",
        "햇빛은 사실 여러 색깔이 섞여 있어요. 비가 그친 뒤 공기 중의 작은 물방울이 햇빛을 꺾으면 색깔들이 서로 나뉘어 빨주노초파남보 띠로 보이는 거예요.",
    ),
    (
        "퇴근길 지하철 풍경을 다섯 문장 이내로 묘사하세요.",
        "",
        "창문에 비친 얼굴들은 하나같이 피곤해 보였다. 누군가는 휴대폰 화면에 빠져 있었고, 누군가는 손잡이에 기대 졸았다. 역에 설 때마다 사람들이 밀물처럼 빠져나갔다.",
    ),
    (
        "거절을 부드럽게 하는 말하기 방법을 예문과 함께 알려 주세요.",
        "",
        '먼저 제안에 고마움을 표하고, 이유를 짧게 말한 뒤 대안을 제시합니다. 예: "불러 줘서 고마워. 이번 주말은 선약이 있어서 어렵지만 다음 달에 같이 가자."',
    ),
    (
        "여름 방학 동안 읽을 만한 책을 고르는 기준을 세 가지 제시하세요.",
        "",
        "첫째, 평소 관심 있는 주제와 연결된 책을 고릅니다. 둘째, 방학 기간에 끝낼 수 있는 분량인지 확인합니다. 셋째, 문학과 비문학을 골고루 섞어 생각의 폭을 넓힙니다.",
    ),
    (
        "시간 여행자가 조선 시대 장터에 도착했을 때 처음 느낀 점을 써 주세요.",
        "",
        "흙먼지와 장국 냄새가 한꺼번에 밀려왔다. 상인들의 외침은 알아들을 듯 말 듯했고, 사람들은 내 이상한 옷차림을 힐끔거렸다. 주머니 속 스마트폰은 아무 쓸모가 없었다.",
    ),
    (
        "집중력을 높이는 공부 환경을 만드는 팁을 알려 주세요.",
        "",
        "책상 위에는 지금 공부하는 자료만 두고, 휴대폰은 다른 방에 둡니다. 밝은 조명과 적당한 실내 온도를 유지하고, 25분 공부 후 5분 쉬는 방식으로 리듬을 만듭니다.",
    ),
    (
        "비 오는 날에 어울리는 음식 세 가지를 추천하고 이유를 말해 주세요.",
        "",
        "파전은 빗소리와 부치는 소리가 비슷해 잘 어울린다고들 합니다. 뜨끈한 칼국수는 몸을 데워 주고, 따뜻한 호박죽은 속을 편안하게 해 줍니다.",
    ),
]

# Context given with some of the requests (the record's "input"), by instruction.
_AIROBOROS_CONTEXT = {
    "팀장에게 다음 주 금요일 휴가를 요청하는 정중한 이메일을 써 주세요.": "저는 입사 2년 차 마케팅팀 사원이고, 금요일에는 가족 행사가 있습니다. 목요일까지 끝내야 하는 보고서가 하나 있습니다.",
    "초보자를 위한 일주일 달리기 계획을 간단히 짜 주세요.": "30대 직장인이며 운동을 거의 하지 않았습니다. 평일 저녁 30분, 주말에는 한 시간 정도 시간을 낼 수 있고 무릎이 약한 편입니다.",
    "중세 성을 배경으로 한 추리 소설의 첫 문장을 써 주세요.": "등장인물: 영주, 젊은 하녀, 떠돌이 음유시인. 분위기는 어둡고 긴장감 있게, 첫 문장에서 사건이 이미 벌어졌음을 알려 주세요.",
    "자기소개서에 쓸 '협업 경험' 문단을 100자 내외로 예시로 작성해 주세요.": "지원 직무는 모바일 앱 개발자이고, 대학 때 네 명이 함께 졸업 작품을 만들면서 일정 관리를 맡은 경험이 있습니다.",
    "동네 빵집을 홍보하는 짧은 문구를 만들어 주세요. 갓 구운 빵과 친절함을 강조해 주세요.": "빵집 이름은 '햇살제과'이고 아침 7시에 문을 엽니다. 대표 메뉴는 우유식빵과 단팥빵이며, 주 고객은 출근길 직장인입니다.",
    "발표 불안을 줄이는 방법을 세 가지 제안해 주세요.": "다음 주에 회사에서 임원들 앞에서 10분간 신제품 기획안을 발표해야 하는데, 사람들 앞에 서면 목소리가 떨리고 내용을 잊어버립니다.",
    "여름 방학 동안 읽을 만한 책을 고르는 기준을 세 가지 제시하세요.": "중학교 2학년 학생이 읽을 책입니다. 평소 과학에 관심이 많지만 긴 소설은 끝까지 읽기 어려워합니다.",
    "집중력을 높이는 공부 환경을 만드는 팁을 알려 주세요.": "자격증 시험이 두 달 남았는데 집에서 공부하면 자꾸 휴대폰을 보게 되고, 책상이 침대 바로 옆에 있습니다.",
    "환경 보호를 위해 일상에서 실천할 수 있는 일 다섯 가지를 알려 주세요.": "네 식구가 아파트에 살고 있고, 아이들은 초등학생입니다. 가족이 함께 쉽게 시작할 수 있는 일이면 좋겠습니다.",
    "비 오는 날에 어울리는 음식 세 가지를 추천하고 이유를 말해 주세요.": "혼자 사는 자취생이라 조리 도구는 프라이팬과 냄비 하나뿐이고, 재료비는 한 끼에 만 원을 넘기고 싶지 않습니다.",
}


def _airoboros(rng: random.Random) -> list[dict]:
    return [
        {"instruction": q, "input": i or _AIROBOROS_CONTEXT.get(q, ""), "output": a, "data_source": "airoboros"}
        for q, i, a in _AIROBOROS
    ]


# --- guanaco: everyday conversation ---------------------------------------------------------

_GUANACO = [
    (
        "다음 문장을 자연스러운 영어로 번역해 주세요.",
        "오늘 회의는 오후 세 시로 미뤄졌습니다.",
        "Today's meeting has been postponed to 3 p.m.",
    ),
    (
        "다음 영어 문장을 한국어로 옮겨 주세요.",
        "Practice makes perfect.",
        "연습이 완벽을 만든다. (자연스럽게는 '꾸준히 연습하면 잘하게 된다'는 뜻입니다.)",
    ),
    (
        "감기에 걸렸을 때 집에서 할 수 있는 관리 방법을 알려 주세요.",
        "",
        "충분히 쉬고 물을 자주 마시세요. 실내 습도를 50% 안팎으로 유지하면 목이 덜 아픕니다. 고열이 사흘 이상 이어지거나 숨이 차면 병원을 찾아야 합니다.",
    ),
    (
        "설날에 한국에서는 어떤 음식을 먹나요?",
        "",
        "대표적으로 떡국을 먹습니다. 떡국을 먹으면 나이를 한 살 더 먹는다고 여깁니다. 그 밖에 전, 갈비찜, 식혜 같은 음식을 준비하는 집이 많습니다.",
    ),
    (
        "영어 단어를 효율적으로 외우는 방법이 있을까요?",
        "",
        "단어를 따로 외우기보다 예문과 함께 익히고, 하루·사흘·일주일 간격으로 반복하는 간격 반복이 효과적입니다. 직접 문장을 만들어 써 보면 더 오래 기억됩니다.",
    ),
    (
        "월급의 몇 퍼센트를 저축하는 게 좋을까요?",
        "",
        "흔히 소득의 20% 이상을 권하지만 상황에 따라 다릅니다. 먼저 생활비 3~6개월 치의 비상금을 만들고, 그다음 목표에 맞춰 저축 비율을 정하는 것이 현실적입니다.",
    ),
    (
        "아침에 일찍 일어나는 습관을 만들고 싶어요.",
        "",
        "기상 시간을 한 번에 당기지 말고 15분씩 앞당기세요. 주말에도 같은 시간에 일어나고, 자기 전 한 시간은 화면을 멀리하면 훨씬 쉬워집니다.",
    ),
    (
        "서울에서 당일치기로 다녀올 만한 여행지를 추천해 주세요.",
        "",
        "수원 화성은 전철로 갈 수 있고 성곽길 산책이 좋습니다. 가평의 남이섬, 인천 강화도의 역사 유적도 하루 일정으로 알맞습니다.",
    ),
    (
        "화분의 잎이 누렇게 변하는데 왜 그럴까요?",
        "",
        "물을 너무 자주 주어 뿌리가 상했거나, 햇빛이 부족한 경우가 흔합니다. 흙 겉면이 마른 뒤에 물을 주고, 밝은 창가로 옮겨 보세요.",
    ),
    (
        "존댓말과 반말은 언제 구분해서 써야 하나요?",
        "",
        "처음 만난 사람, 나이나 직급이 높은 사람에게는 존댓말을 씁니다. 친한 친구나 나이가 어린 사람이라도 상대가 허락하기 전까지는 존댓말을 쓰는 것이 예의입니다.",
    ),
    (
        "노트북 배터리를 오래 쓰는 방법을 알려 주세요.",
        "",
        "화면 밝기를 낮추고 쓰지 않는 프로그램과 블루투스를 끄세요. 배터리를 늘 100%로 충전해 두기보다 20~80% 사이를 유지하면 수명에도 좋습니다.",
    ),
    (
        "면접에서 '단점이 무엇인가요?'라는 질문에는 어떻게 답하면 좋을까요?",
        "",
        "업무에 치명적이지 않은 실제 단점을 말하고, 그것을 고치려고 노력한 구체적인 방법을 덧붙이세요. 예를 들어 일을 혼자 끌어안는 편이라 주간 공유 회의를 만든 경험을 말할 수 있습니다.",
    ),
    (
        "김치찌개를 맛있게 끓이는 요령이 있나요?",
        "",
        "잘 익은 김치를 쓰고, 돼지고기와 김치를 먼저 기름에 충분히 볶은 뒤 물을 부으세요. 김칫국물을 조금 넣고 마지막에 두부와 대파를 올리면 맛이 깊어집니다.",
    ),
    (
        "스마트폰을 덜 보려면 어떻게 해야 할까요?",
        "",
        "알림을 꼭 필요한 앱만 남기고 끄세요. 화면을 흑백으로 바꾸거나, 침실에는 충전기를 두지 않는 것도 도움이 됩니다. 앱별 사용 시간 제한 기능을 활용해 보세요.",
    ),
    ("다음 문장을 더 공손한 표현으로 바꿔 주세요.", "내일까지 자료 보내.", "내일까지 자료를 보내 주실 수 있을까요?"),
    (
        "반려견을 처음 키울 때 준비해야 할 것은 무엇인가요?",
        "",
        "사료와 밥그릇, 물그릇, 방석이나 켄넬, 목줄과 배변 패드가 필요합니다. 데려온 뒤에는 동물병원에서 건강 검진과 예방 접종 일정을 확인하세요.",
    ),
    (
        "물을 하루에 얼마나 마셔야 하나요?",
        "",
        "성인은 보통 하루 1.5~2리터가 권장되지만 체중과 활동량, 날씨에 따라 다릅니다. 목이 마르기 전에 조금씩 자주 마시는 것이 좋습니다.",
    ),
    (
        "'수고하셨습니다'를 윗사람에게 써도 되나요?",
        "",
        "전통적으로는 윗사람에게 쓰기 조심스러운 표현으로 여겨졌지만 지금은 직장에서 널리 씁니다. 더 정중하게 하려면 '고생 많으셨습니다' 또는 '감사합니다'로 바꿔 말할 수 있습니다.",
    ),
    (
        "전세와 월세의 차이를 간단히 알려 주세요.",
        "",
        "전세는 큰 보증금을 맡기고 매달 임대료를 내지 않는 방식이고, 계약이 끝나면 보증금을 돌려받습니다. 월세는 보증금이 적은 대신 매달 임대료를 냅니다.",
    ),
    (
        "불면증이 있을 때 도움이 되는 생활 습관은?",
        "",
        "매일 같은 시간에 자고 일어나고, 오후에는 카페인을 피하세요. 잠이 오지 않으면 억지로 누워 있지 말고 일어나 조용한 활동을 하다가 졸릴 때 다시 눕습니다.",
    ),
    (
        "다음 문장에서 맞춤법이 틀린 부분을 고쳐 주세요.",
        "어제 친구를 만낫는데 너무 반가웟다.",
        "어제 친구를 만났는데 너무 반가웠다. ('만낫는데'→'만났는데', '반가웟다'→'반가웠다')",
    ),
    (
        "처음 등산을 가려는데 무엇을 챙겨야 하나요?",
        "",
        "발목을 잡아 주는 등산화, 물과 간식, 얇은 겉옷, 작은 구급약을 챙기세요. 일몰 시간을 확인하고 처음에는 왕복 세 시간 이내의 낮은 산을 고르는 것이 좋습니다.",
    ),
    (
        "영수증을 잃어버렸는데 환불을 받을 수 있을까요?",
        "",
        "카드로 결제했다면 카드 결제 내역으로 구매 사실을 증명할 수 있어 환불해 주는 매장이 많습니다. 매장마다 규정이 다르니 먼저 고객센터에 문의해 보세요.",
    ),
    (
        "한국어에서 '-요'와 '-습니다'는 어떻게 다른가요?",
        "",
        "'-습니다'는 공식적이고 격식 있는 자리에서, '-요'는 부드럽고 친근한 존댓말로 일상 대화에서 씁니다. 뉴스나 발표는 주로 '-습니다'를 사용합니다.",
    ),
    (
        "재택근무할 때 집중이 잘 안 돼요. 조언해 주세요.",
        "",
        "출근하듯 옷을 갈아입고 일하는 공간을 침실과 분리하세요. 하루 할 일을 아침에 세 가지로 정하고, 점심시간과 퇴근 시간을 정해 지키면 리듬이 생깁니다.",
    ),
]

# Context given with some of the questions (the record's "input"), by instruction.
_GUANACO_CONTEXT = {
    "감기에 걸렸을 때 집에서 할 수 있는 관리 방법을 알려 주세요.": "어제부터 목이 칼칼하고 콧물이 나는데 열은 37.5도 정도입니다. 내일 출근은 해야 하는 상황입니다.",
    "월급의 몇 퍼센트를 저축하는 게 좋을까요?": "사회초년생이고 세후 월급은 250만 원입니다. 월세로 50만 원을 내고 있으며 아직 비상금은 따로 없습니다.",
    "서울에서 당일치기로 다녀올 만한 여행지를 추천해 주세요.": "부모님을 모시고 가려고 합니다. 오래 걷는 것은 힘드시고, 자동차 없이 대중교통으로 다녀오고 싶습니다.",
    "화분의 잎이 누렇게 변하는데 왜 그럴까요?": "거실 안쪽에 둔 몬스테라이고, 물은 사흘에 한 번씩 흠뻑 주고 있습니다. 아래쪽 잎부터 노랗게 변하고 있어요.",
    "면접에서 '단점이 무엇인가요?'라는 질문에는 어떻게 답하면 좋을까요?": "은행 창구직 면접을 앞두고 있습니다. 저는 꼼꼼한 편이지만 일 처리 속도가 느리다는 말을 가끔 들었습니다.",
    "반려견을 처음 키울 때 준비해야 할 것은 무엇인가요?": "다음 달에 생후 3개월 된 말티즈를 분양받기로 했습니다. 원룸에 혼자 살고 낮에는 여덟 시간 정도 집을 비웁니다.",
    "처음 등산을 가려는데 무엇을 챙겨야 하나요?": "10월 말에 친구 둘과 북한산에 가려고 합니다. 셋 다 등산은 처음이고 운동화만 가지고 있습니다.",
    "재택근무할 때 집중이 잘 안 돼요. 조언해 주세요.": "원룸에서 일하고 있어서 책상과 침대가 한 공간에 있습니다. 오후만 되면 졸리고 메신저 알림에 자주 흐름이 끊깁니다.",
    "불면증이 있을 때 도움이 되는 생활 습관은?": "요즘 새벽 두세 시가 넘어야 잠이 들고, 아침 일곱 시에 일어나야 합니다. 저녁에 커피를 한 잔씩 마시는 편입니다.",
}


def _guanaco(rng: random.Random) -> list[dict]:
    return [
        {"instruction": q, "input": i or _GUANACO_CONTEXT.get(q, ""), "output": a, "data_source": "guanaco"}
        for q, i, a in _GUANACO
    ]


# --- camelai: chemistry, biology and physics explanations -----------------------------------

_CAMEL = [
    (
        "온도가 효소의 활성에 어떤 영향을 미치는지 설명하시오.",
        "온도가 오르면 분자 운동이 활발해져 반응 속도가 빨라지다가 최적 온도에서 가장 높아집니다. 그보다 뜨거워지면 단백질인 효소의 구조가 변성되어 활성이 급격히 떨어집니다.",
    ),
    (
        "삼투 현상이 무엇인지 배추를 소금에 절이는 예로 설명하세요.",
        "삼투는 반투과성 막을 사이에 두고 물이 농도가 낮은 쪽에서 높은 쪽으로 이동하는 현상입니다. 배추에 소금을 뿌리면 바깥 농도가 높아져 세포 속 물이 빠져나오고 배추가 숨이 죽습니다.",
    ),
    (
        "산과 염기가 만나 일어나는 중화 반응의 예와 생성물을 쓰시오.",
        "염산과 수산화나트륨이 반응하면 염화나트륨과 물이 생깁니다. HCl + NaOH → NaCl + H₂O. 수소 이온과 수산화 이온이 결합해 물이 되는 것이 핵심입니다.",
    ),
    (
        "촉매가 화학 반응 속도를 빠르게 하는 원리는 무엇인가요?",
        "촉매는 활성화 에너지가 더 낮은 다른 반응 경로를 제공합니다. 그래서 같은 온도에서도 반응할 수 있는 분자가 많아집니다. 촉매 자신은 반응 후에도 변하지 않고 평형의 위치도 바꾸지 않습니다.",
    ),
    (
        "DNA 복제가 반보존적이라는 말의 의미를 설명하시오.",
        "이중 나선이 풀린 뒤 각 가닥이 틀이 되어 새 가닥이 합성됩니다. 그래서 새로 만들어진 DNA 두 분자는 각각 원래 가닥 하나와 새 가닥 하나로 이루어집니다.",
    ),
    (
        "광합성과 세포 호흡을 비교하여 설명하세요.",
        "광합성은 엽록체에서 빛에너지로 이산화탄소와 물을 포도당과 산소로 바꾸는 과정입니다. 세포 호흡은 미토콘드리아에서 포도당을 분해해 ATP를 얻고 이산화탄소와 물을 내놓는 반대 방향의 과정입니다.",
    ),
    (
        "뉴턴의 운동 제3법칙을 로켓 발사에 적용해 설명하시오.",
        "로켓이 연료를 태운 가스를 아래로 세게 밀어내면, 가스도 같은 크기의 힘으로 로켓을 반대 방향인 위로 밉니다. 이 반작용 덕분에 공기가 없는 우주에서도 로켓이 나아갈 수 있습니다.",
    ),
    (
        "전자기 유도 현상과 그 활용 예를 설명하세요.",
        "코일을 지나는 자기장이 변하면 코일에 전류가 유도되는 현상입니다. 발전기는 자석이나 코일을 회전시켜 전기를 만들고, 교통카드와 무선 충전기도 이 원리를 이용합니다.",
    ),
    (
        "이온 결합과 공유 결합의 차이를 예를 들어 설명하시오.",
        "이온 결합은 금속이 전자를 잃고 비금속이 전자를 얻어 생긴 양이온과 음이온이 끌어당기는 결합으로, 염화나트륨이 예입니다. 공유 결합은 비금속 원자들이 전자쌍을 함께 쓰는 결합으로, 물 분자가 예입니다.",
    ),
    (
        "pH가 3인 용액과 pH가 5인 용액의 수소 이온 농도는 몇 배 차이가 나나요?",
        "pH는 수소 이온 농도의 상용로그에 음의 부호를 붙인 값입니다. pH가 2 차이 나므로 pH 3 용액의 수소 이온 농도가 10² = 100배 더 큽니다.",
    ),
    (
        "르샤틀리에 원리에 따라 발열 반응의 온도를 높이면 평형은 어느 쪽으로 이동하나요?",
        "온도를 높이면 계는 열을 흡수하는 방향, 즉 흡열 방향인 역반응 쪽으로 평형이 이동합니다. 따라서 생성물의 양이 줄어듭니다.",
    ),
    (
        "체세포 분열과 감수 분열의 차이를 정리하시오.",
        "체세포 분열은 한 번 나뉘어 유전적으로 같은 딸세포 2개를 만들고 염색체 수가 유지됩니다. 감수 분열은 연속 두 번 나뉘어 염색체 수가 절반인 생식세포 4개를 만들며 유전적 다양성이 생깁니다.",
    ),
    (
        "백신이 질병을 예방하는 원리를 면역의 관점에서 설명하세요.",
        "백신은 약하게 만들거나 일부만 담은 병원체를 몸에 넣어 면역 반응을 미리 일으킵니다. 이때 생긴 기억 세포가 나중에 진짜 병원체가 들어오면 빠르고 강하게 항체를 만들어 병을 막습니다.",
    ),
    (
        "생태계에서 분해자가 하는 역할은 무엇인가요?",
        "세균과 곰팡이 같은 분해자는 죽은 생물과 배설물을 분해해 무기물로 되돌립니다. 이 무기물은 다시 생산자인 식물이 흡수해 물질이 생태계 안에서 순환하게 됩니다.",
    ),
    (
        "열역학 제2법칙을 일상적인 예로 설명해 주세요.",
        "고립계의 엔트로피는 저절로 줄어들지 않는다는 법칙입니다. 뜨거운 커피가 식어 방 온도와 같아지는 일은 저절로 일어나지만, 식은 커피가 주변 열을 모아 다시 뜨거워지는 일은 일어나지 않습니다.",
    ),
    (
        "방사성 동위 원소의 반감기가 10년일 때 40년 후에는 처음 양의 몇 분의 몇이 남나요?",
        "40년은 반감기의 4배이므로 (1/2)⁴ = 1/16이 남습니다.",
    ),
    (
        "성층권의 오존층이 중요한 이유는 무엇인가요?",
        "오존층은 태양에서 오는 해로운 자외선 대부분을 흡수합니다. 오존층이 얇아지면 피부암과 백내장이 늘고 농작물과 해양 플랑크톤도 피해를 입습니다.",
    ),
    (
        "혈액 속 적혈구의 기능과 그 기능을 가능하게 하는 물질을 쓰시오.",
        "적혈구는 폐에서 받은 산소를 온몸의 조직으로 운반합니다. 적혈구 안의 헤모글로빈이 산소가 많은 곳에서는 산소와 결합하고 적은 곳에서는 산소를 내놓기 때문입니다.",
    ),
    (
        "물이 다른 비슷한 크기의 분자보다 끓는점이 높은 까닭을 설명하시오.",
        "물 분자 사이에는 강한 수소 결합이 있어 분자들을 떼어 놓는 데 많은 에너지가 필요합니다. 그래서 분자량이 비슷한 메테인보다 끓는점이 훨씬 높습니다.",
    ),
    (
        "전기 회로에서 저항을 직렬로 연결할 때와 병렬로 연결할 때 합성 저항은 어떻게 달라지나요?",
        "직렬 연결의 합성 저항은 각 저항의 합이라 커지고, 병렬 연결은 역수의 합의 역수라 가장 작은 저항보다도 작아집니다. 예를 들어 6Ω 두 개는 직렬이면 12Ω, 병렬이면 3Ω입니다.",
    ),
    (
        "유전자 재조합 기술로 인슐린을 생산하는 과정을 간단히 설명하세요.",
        "사람의 인슐린 유전자를 잘라 플라스미드에 끼워 넣고, 이를 대장균에 넣습니다. 대장균이 증식하면서 인슐린 단백질을 만들면 이를 분리하고 정제해 의약품으로 씁니다.",
    ),
    (
        "금속이 열을 잘 전달하는 이유는 무엇인가요?",
        "금속에는 원자에 묶이지 않은 자유 전자가 많습니다. 뜨거운 쪽의 자유 전자가 빠르게 움직이며 에너지를 차가운 쪽으로 옮기기 때문에 열전도가 빠릅니다.",
    ),
    (
        "호르몬과 신경에 의한 신호 전달의 차이를 비교하시오.",
        "신경은 전기 신호로 특정 부위에 빠르게 전달하지만 효과가 짧습니다. 호르몬은 혈액을 따라 온몸으로 운반되어 느리게 작용하지만 표적 세포에 오래 영향을 줍니다.",
    ),
    (
        "빛의 굴절 때문에 물속의 다리가 짧아 보이는 이유를 설명하세요.",
        "물에서 나온 빛이 공기로 들어가며 경계면에서 꺾입니다. 우리 눈은 빛이 곧게 왔다고 판단하므로 다리가 실제보다 수면 가까이에 있는 것처럼, 즉 짧아 보입니다.",
    ),
    (
        "산화와 환원을 전자의 이동으로 정의하고 예를 드시오.",
        "산화는 전자를 잃는 것, 환원은 전자를 얻는 것입니다. 아연판을 황산구리 용액에 넣으면 아연은 전자를 잃어 산화되고, 구리 이온은 전자를 얻어 구리로 환원되어 석출됩니다.",
    ),
]


def _camel(rng: random.Random) -> list[dict]:
    return [{"instruction": q, "input": "", "output": a, "data_source": "camelai"} for q, a in _CAMEL]


# --- ARB: harder reasoning (probability, statistics, law) ---------------------------------


def _arb(rng: random.Random) -> list[dict]:
    out = []

    def add(instruction, output, input_=""):
        out.append({"instruction": instruction, "input": input_, "output": output, "data_source": "ARB"})

    p, s, q = 0.01, 0.90, 0.95
    positive = p * s + (1 - p) * (1 - q)
    add(
        "어떤 질병의 유병률은 1%이다. 검사의 민감도는 90%, 특이도는 95%이다. 검사 결과가 양성일 때 실제로 질병이 있을 확률을 베이즈 정리로 구하시오.",
        f"P(질병|양성) = {_num(p * s, 4)} / {_num(positive, 4)} ≈ {_num(p * s / positive * 100, 1)}%입니다. "
        "유병률이 낮으면 양성이어도 실제 환자일 확률이 생각보다 낮습니다.",
    )
    add(
        "공장 A가 전체 부품의 60%, 공장 B가 40%를 만든다. 불량률은 A가 2%, B가 5%이다. 불량품 하나를 골랐을 때 B에서 만들었을 확률은?",
        f"P(불량) = 0.6×0.02 + 0.4×0.05 = 0.032이므로 P(B|불량) = 0.02/0.032 = {_num(0.02 / 0.032 * 100, 1)}%입니다.",
    )
    add(
        "상자 1에는 흰 공 3개와 검은 공 1개, 상자 2에는 흰 공 1개와 검은 공 3개가 있다. 상자 하나를 무작위로 골라 공을 꺼냈더니 흰 공이었다. 상자 1이었을 확률은?",
        "P(흰|1) = 3/4, P(흰|2) = 1/4이고 상자를 고를 확률은 각각 1/2이므로 P(1|흰) = (3/8)/(3/8 + 1/8) = 3/4입니다.",
    )

    add(
        "자료 2, 4, 4, 4, 5, 5, 7, 9의 평균과 모분산, 모표준편차를 구하시오.",
        "평균은 5, 모분산은 Σ(x - 평균)²/n = 32/8 = 4, 모표준편차는 2입니다.",
    )
    add(
        "어느 반 수학 점수의 평균이 70점, 표준편차가 10점이다. 85점을 받은 학생의 표준점수(z 점수)는?",
        "z = (85 - 70)/10 = 1.5입니다. 평균보다 표준편차의 1.5배만큼 높은 점수라는 뜻입니다.",
    )
    add(
        "모든 자료에 5를 더하고 다시 2를 곱하면 평균과 표준편차는 각각 어떻게 변하는가?",
        "평균은 (원래 평균 + 5) × 2가 되고, 표준편차는 더하기의 영향을 받지 않아 원래의 2배가 됩니다.",
    )

    add(
        "확률 1/6로 10,000원을 받고, 그렇지 않으면 2,000원을 잃는 게임이 있다. 이 게임의 기댓값을 구하고 참가가 유리한지 판단하시오.",
        "기댓값 = 1/6 × 10,000 - 5/6 × 2,000 = 0원입니다. 장기적으로 유리하지도 불리하지도 않습니다.",
    )
    add(
        "복권 한 장이 1,000원이고, 100장 중 1장이 50,000원에 당첨된다. 복권 한 장의 기대 순이익은?",
        "기대 당첨금은 50,000 × 1/100 = 500원이므로 기대 순이익은 500 - 1,000 = -500원입니다.",
    )
    add(
        "동전을 앞면이 나올 때까지 던질 때, 던지는 횟수의 기댓값은 얼마인가?",
        "성공 확률 1/2인 기하분포이므로 기댓값은 1/(1/2) = 2번입니다.",
    )

    add(
        "성공 확률이 1/2인 독립 시행을 5번 반복할 때 정확히 2번 성공할 확률을 구하시오.",
        f"C(5, 2) × (1/2)^5 = 10/32 = {_frac(Fraction(10, 32))}입니다.",
    )
    add(
        "명중률이 1/3인 궁수가 활을 네 번 쏠 때 적어도 한 번 맞힐 확률은?",
        "한 번도 맞히지 못할 확률은 (2/3)^4 = 16/81이므로 구하는 확률은 1 - 16/81 = 65/81입니다.",
    )
    add(
        "불량률이 10%인 제품 100개를 검사할 때 불량품 개수의 평균과 분산을 구하시오.",
        "이항분포 B(100, 0.1)이므로 평균은 np = 10개, 분산은 np(1 - p) = 9입니다.",
    )

    laws = [
        (
            "갑이 을에게 자전거를 10만 원에 팔겠다고 제안했고, 을은 8만 원이라면 사겠다고 답했다. 계약은 성립했는가?",
            "성립하지 않았습니다. 을의 답은 청약의 내용을 바꾼 것이어서 승낙이 아니라 새로운 청약으로 봅니다. 갑이 8만 원에 동의해야 계약이 성립합니다.",
        ),
        (
            "미성년자가 부모의 동의 없이 고가의 노트북을 할부로 샀다. 이 계약의 효력은 어떻게 되는가?",
            "미성년자가 법정대리인의 동의 없이 한 법률행위는 원칙적으로 취소할 수 있습니다. 다만 용돈처럼 처분을 허락받은 재산 범위 안의 거래라면 취소할 수 없습니다.",
        ),
        (
            "정당방위가 인정되기 위한 요건을 설명하시오.",
            "현재의 부당한 침해가 있어야 하고, 자기나 타인의 법익을 지키기 위한 행위여야 하며, 그 방어 행위가 사회적으로 상당해야 합니다. 침해가 끝난 뒤의 보복은 정당방위가 아닙니다.",
        ),
        (
            "소멸시효 제도가 존재하는 이유를 두 가지 드시오.",
            "오랫동안 계속된 사실 상태를 존중해 법적 안정성을 지키기 위해서입니다. 또한 시간이 지나 증거가 사라진 뒤 분쟁이 생기는 것을 막고, 권리 위에 잠자는 자는 보호하지 않는다는 취지입니다.",
        ),
    ]
    for question, answer in laws:
        add(question, answer)
    return out


GENERATORS = {
    "MATH/PRM-800K": _math,
    "theoremqa": _theorem,
    "scibench": _scibench,
    "scienceqa": _scienceqa,
    "reclor": _reclor,
    "leetcode_ne": _leetcode,
    "tigerbot-kaggle": _kaggle,
    "airoboros": _airoboros,
    "guanaco": _guanaco,
    "camelai": _camel,
    "ARB": _arb,
}


def build_sample(seed: int = SEED) -> list[dict]:
    """The sample records, shuffled deterministically, with ids ko-sample-0001, ..."""
    rng = random.Random(seed)
    records = []
    for category in CATEGORIES:
        records.extend(GENERATORS[category](rng))
    rng.shuffle(records)
    return [{"id": f"ko-sample-{i:04d}", **r} for i, r in enumerate(records, start=1)]


def sample_text(seed: int = SEED) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in build_sample(seed))


def main() -> None:  # pragma: no cover - maintenance entry point
    from polyplatypus.utils.io import atomic_write_text

    atomic_write_text(OUT, sample_text())
    print(f"wrote {len(build_sample())} records to {OUT}")


if __name__ == "__main__":  # pragma: no cover
    main()

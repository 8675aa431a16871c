"""Light edits a person makes when rewording text: used to plant near-duplicates and
lightly edited benchmark documents."""

from __future__ import annotations

# Edits a person makes when rewording an instruction lightly.
PARTICLE_SWAPS = [
    ("은 ", "는 "),
    ("는 ", "은 "),
    ("이 ", "가 "),
    ("가 ", "이 "),
    ("을 ", "를 "),
    ("를 ", "을 "),
    ("에서 ", "에 "),
    ("으로 ", "로 "),
]


def swap_particle(text: str, occurrence: int = 0) -> str:
    """Swap the first particle found (the occurrence-th of the first pattern that matches)."""
    for old, new in PARTICLE_SWAPS:
        parts = text.split(old)
        if len(parts) > occurrence + 1:
            return old.join(parts[: occurrence + 1]) + new + old.join(parts[occurrence + 1 :])
    raise AssertionError(f"no particle to swap in {text!r}")


def change_characters(text: str, count: int) -> str:
    """Replace ``count`` Hangul syllables spread over the text with another syllable."""
    positions = [i for i, c in enumerate(text) if "가" <= c <= "힣"]
    chars = list(text)
    for k in range(count):
        i = positions[(k + 1) * len(positions) // (count + 1)]
        chars[i] = "휘" if chars[i] != "휘" else "훠"
    return "".join(chars)


def alter_whitespace(text: str) -> str:
    """Spacing only: the first space doubled, the second removed (a 띄어쓰기 change), a trailing
    newline added."""
    first = text.find(" ")
    second = text.find(" ", first + 1)
    if first < 0 or second < 0:
        raise AssertionError(f"not enough spaces in {text!r}")
    return text[:first] + "  " + text[first + 1 : second] + text[second + 1 :] + "\n"

"""Every path a result is written to is made of sanitised parts and checked to lie inside its
folder; writes replace a symbolic link instead of writing through it (hub-cache snapshots)."""

from __future__ import annotations

import os

import pytest

from polyplatypus.errors import OutputError
from polyplatypus.utils.io import atomic_copy, atomic_write_text, inside, safe_part


@pytest.mark.parametrize(
    "name, part",
    [
        ("kobest_copa_5shot", "kobest_copa_5shot"),  # ordinary names are kept as they are
        ("lm_eval-x/../../escaped_0shot", "lm_eval-x_.._.._escaped_0shot"),
        ("..", "_."),
        (".", "_"),
        ("", "_"),
        ("run:1", "run_1"),
        ("a\\b", "a_b"),
        (".hidden.tmp", "_hidden.tmp"),
    ],
)
def test_safe_part_is_one_plain_name(name, part):
    assert safe_part(name) == part
    assert os.sep not in part and part not in (".", "..")


def test_inside_refuses_parts_and_links_that_lead_out(tmp_path):
    root = tmp_path / "out"
    assert inside(root, "cells", "m", "t.json") == root / "cells" / "m" / "t.json"
    for parts in (("..", "x.json"), ("cells/../..", "x"), ("a", "")):
        with pytest.raises(OutputError, match="not a plain name"):
            inside(root, *parts)
    (root / "cells").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (root / "cells" / "m").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OutputError, match="leads outside"):
        inside(root, "cells", "m", "t.json")


def test_writes_replace_a_link_and_leave_its_target_alone(tmp_path):
    blob = tmp_path / "blobs" / "abc"
    blob.parent.mkdir()
    blob.write_text("the hub's file\n")
    for name, write in (
        ("README.md", lambda p: atomic_write_text(p, "ours\n")),
        ("card.yaml", lambda p: atomic_copy(source, p)),
    ):
        source = tmp_path / "source.txt"
        source.write_text("ours\n")
        link = tmp_path / "snapshot" / name
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(blob)
        write(link)
        assert not link.is_symlink() and link.read_text() == "ours\n"
        assert blob.read_text() == "the hub's file\n"

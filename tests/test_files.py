"""Atomic writes: a file is either the old one or the whole new one, never half of it."""

import pytest

from segue.files import replaced_atomically, write_atomically


def test_write_atomically_replaces_the_whole_file(tmp_path):
    path = tmp_path / "deep" / "take.mid"
    write_atomically(path, b"first")
    write_atomically(path, "second")
    assert path.read_text() == "second" and [p.name for p in path.parent.iterdir()] == ["take.mid"]


def test_a_failed_write_leaves_the_old_file_and_no_leftovers(tmp_path):
    path = tmp_path / "take.mid"
    path.write_bytes(b"the take")
    with pytest.raises(RuntimeError):
        with replaced_atomically(path) as temporary:
            temporary.write_bytes(b"half of the ne")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"the take" and [p.name for p in tmp_path.iterdir()] == ["take.mid"]

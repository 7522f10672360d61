"""Path rules (PathUtils.validatePath)."""

import pytest
from hypothesis import given, strategies as st

from zkpy.errors import Code, KeeperException
from zkpy.paths import _VALID_PATH, _name_error, path_error, validate_path


@pytest.mark.parametrize("path", ["/", "/a", "/a/b", "/a-b.c_d", "/\u00e9\u4e2d", "/a/.b", "/a/..b"])
def test_valid(path):
    assert path_error(path) is None


@pytest.mark.parametrize("path", ["", "a", "/a/", "//", "/a//b", "/.", "/a/..", "/a\0b", "/a\u0001",
                                  "/a\u007f", "/a\ud800", "/a\uf8ff", "/a\ufff0", "/a\U0001f600", None])
def test_invalid(path):
    assert path_error(path) is not None
    with pytest.raises(KeeperException) as info:
        validate_path(path)
    assert info.value.code == Code.BADARGUMENTS


def test_sequential_allows_trailing_slash():
    assert path_error("/queue/", is_sequential=True) is None


@given(st.text(alphabet=["/", ".", "a", "\0", "\u0001", "\u001f", " ", "\u007f", "\u009f", "\u00a0",
                         "\ud800", "\uf8ff", "\uf900", "\uffef", "\ufff0", "\u00e9", "\U0001f600"], max_size=12))
def test_fast_path_agrees_with_the_character_walk(name):
    # The regular expression may only accept what the walk accepts, and it
    # must accept every valid path (or valid paths lose their speed).
    path = "/" + name
    if path.endswith("/"):
        return
    assert (_VALID_PATH.match(path) is not None) == (_name_error(path) is None)

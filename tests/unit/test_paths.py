"""Path rules (PathUtils.validatePath)."""

import pytest

from zkpy.errors import Code, KeeperException
from zkpy.paths import path_error, validate_path


@pytest.mark.parametrize("path", ["/", "/a", "/a/b", "/a-b.c_d", "/\u00e9\u4e2d", "/a/.b", "/a/..b"])
def test_valid(path):
    assert path_error(path) is None


@pytest.mark.parametrize("path", ["", "a", "/a/", "//", "/a//b", "/.", "/a/..", "/a\0b", "/a\u0001",
                                  "/a\u007f", "/a\ud800", "/a\uf8ff", "/a\ufff0", None])
def test_invalid(path):
    assert path_error(path) is not None
    with pytest.raises(KeeperException) as info:
        validate_path(path)
    assert info.value.code == Code.BADARGUMENTS


def test_sequential_allows_trailing_slash():
    assert path_error("/queue/", is_sequential=True) is None

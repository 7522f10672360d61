"""The Java text conventions zkpy's tools reproduce, against golden values
captured from Java 17 / ZooKeeper 3.8.0 (so they hold without Java here):
jute's record toString, HashSet/HashMap iteration order, Java dates, and
the AdminServer's Jackson layout."""

from __future__ import annotations

import os
import time

import pytest

from zkpy.cli.java_format import (
    date_to_string, java_hash_order, java_long_hash, java_string_hash, medium_date_time, short_long_date_time,
)
from zkpy.cli.txn_log_toolkit import format_txn, op2string
from zkpy.jute.records import (
    ACL, CloseSessionTxn, CreateSessionTxn, CreateTxn, DeleteTxn, ErrorTxn, Id, MultiTxn, SetACLTxn, SetDataTxn,
    Txn,
)
from zkpy.jute.to_string import java_list_string, to_java_string
from zkpy.server.admin.json_output import to_json

WORLD = ACL(31, Id("world", "anyone"))


def test_record_to_string_as_javas_toString():
    # the lines Java 3.8.0's TxnLogToolkit printed for these txns
    assert to_java_string(CreateSessionTxn(4000)) == "4000\n"
    assert to_java_string(CloseSessionTxn(["/eph"])) == "v{'/eph}\n"
    assert to_java_string(CloseSessionTxn([])) == "v{}\n"
    assert to_java_string(ErrorTxn(-110)) == "-110\n"
    assert to_java_string(DeleteTxn("/m2")) == "'/m2\n"
    acl = [ACL(31, Id("digest", "u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=")), WORLD]
    assert to_java_string(SetACLTxn("/app", acl, 1)) == \
        "'/app,v{s{31,s{'digest,'u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=}},s{31,s{'world,'anyone}}},1\n"
    assert java_list_string([WORLD]) == "[31,s{'world,'anyone}\n]"


def test_record_to_string_escapes():
    assert to_java_string(DeleteTxn("/a,b}c%d\ne\0")) == "'/a%2Cb%7Dc%25d%0Ae%00\n"
    # buffers: '#' then Integer.toHexString of each signed byte
    assert to_java_string(Txn(1, b"\x0a\x00\x7f\xff\x80")) == "1,#a07fffffffffffffff80\n"
    assert to_java_string(Txn(1, b"")) == "1,\n" and to_java_string(Txn(1, None)) == "1,\n"


def test_formatted_txns_as_txn_log_toolkit():
    assert format_txn(CreateTxn("/a", b"hello", [WORLD], False, 2)) == "/a,hello,[31,s{'world,'anyone}\n],false,2"
    assert format_txn(SetDataTxn("/app", b"v2", 1)) == "/app,v2,1"
    assert format_txn(CreateTxn("/b", b"\xff(", [WORLD], True, 0)).startswith("/b,\ufffd(,")
    multi = MultiTxn([Txn(1, b"x"), Txn(-1, b"\xff\xff\xff\xfe")])
    assert format_txn(multi) == "create:x;error:\ufffd\ufffd\ufffd\ufffd"
    assert format_txn(None) == ""
    assert [op2string(op) for op in (-10, -11, -1, 14, 21, 106, 99)] == \
        ["createSession", "closeSession", "error", "multi", "createTtl", "unknown 106", "unknown 99"]


def test_hash_codes():
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("h\u00e9llo") == 103094734
    assert java_long_hash(0x100000ABCDEF0001) == -571539286


def test_hash_set_order_matches_java():
    names = [f"child-{i:02d}" for i in range(40)] + [f"eph-{i}" for i in range(5)] + ["h\u00e9llo", "\u4e2d\u6587"]
    java = ("eph-3,eph-2,eph-1,eph-0,child-31,child-30,eph-4,child-19,child-18,child-11,child-33,child-10,"
            "child-32,child-13,child-35,child-12,child-34,child-15,child-37,child-14,child-36,child-17,child-39,"
            "child-16,child-38,child-20,h\u00e9llo,child-08,child-07,child-29,child-09,\u4e2d\u6587,child-00,"
            "child-22,child-21,child-02,child-24,child-01,child-23,child-04,child-26,child-03,child-25,child-06,"
            "child-28,child-05,child-27").split(",")
    assert java_hash_order(names, java_string_hash, 8) == java


def test_hash_map_of_longs_order_matches_java():
    ids = [72057737488236544, 72057737488236545, -9223372036854775808, 1, 0x100000ABCDEF0001,
           144115188075855873, -2]
    assert java_hash_order(ids, java_long_hash, 16) == [
        -9223372036854775808, 1, 144115188075855873, -2, 1152922242501246977, 72057737488236545,
        72057737488236544]


@pytest.fixture
def utc():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_java_dates(utc):
    assert date_to_string(0) == "Thu Jan 01 00:00:00 UTC 1970"
    ms = 1795777244139  # the Java server's txn time in the golden log
    assert short_long_date_time(ms) == "11/27/26, 11:00:44 AM UTC"
    assert date_to_string(ms) == "Fri Nov 27 11:00:44 UTC 2026"
    assert medium_date_time(1577934245000) == "Jan 2, 2020, 3:04:05 AM"
    assert short_long_date_time(1577923200000) == "1/2/20, 12:00:00 AM UTC"  # midnight is 12 AM


def test_jackson_layout():
    assert to_json({"command": "ruok", "error": None}) == '{\n  "command" : "ruok",\n  "error" : null\n}'
    assert to_json({"a": [], "b": {}, "c": [{"x": 1.5}, {"y": "q\"\\\n\u0001/é"}]}) == (
        '{\n  "a" : [ ],\n  "b" : { },\n  "c" : [ {\n    "x" : 1.5\n  }, {\n'
        '    "y" : "q\\"\\\\\\n\\u0001/é"\n  } ]\n}')
    assert to_json({"big": 67109337.0, "n": -5, "t": True}) == '{\n  "big" : 6.7109337E7,\n  "n" : -5,\n  "t" : true\n}'

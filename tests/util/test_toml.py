from __future__ import annotations

from kbuild.util.toml import KeyLines


def test_lines_of_tables_keys_and_arrays():
    text = '''[site]
a = 1
[profiles."x.y"]
arr = [
  "q",
]
b = """
c = 3
"""
d = 4
[[hosts]]
name = "h0"
[[hosts]]
name = "h1"
'''
    k = KeyLines(text)
    assert k.line(("site", "a")) == 2
    assert k.line(("profiles", "x.y")) == 3
    assert k.line(("profiles", "x.y", "arr")) == 4
    assert k.line(("profiles", "x.y", "b")) == 7
    assert k.line(("profiles", "x.y", "c")) == 3   # inside the multi-line string: falls back
    assert k.line(("profiles", "x.y", "d")) == 10
    assert k.line(("hosts", 1, "name")) == 14
    assert k.line(("hosts", 0)) == 11
    assert k.line(("nothing",)) is None


# --- the one checker of kbuild's TOML inputs (site, rules, lock) ---------------------------

import pytest  # noqa: E402

from kbuild.errors import InputErrors  # noqa: E402
from kbuild.util.toml import LazyKeyLines, TomlChecker, load_toml  # noqa: E402

DOC = '''[site]
keep = 3
name = "x"
[[hosts]]
name = "h0"
tags = ["a", 1]
'''


class DocError(InputErrors):
    pass


def checker(text: str = DOC) -> tuple[dict, TomlChecker]:
    return load_toml(text, "f.toml", DocError, "hint"), TomlChecker("f.toml", KeyLines(text))


def test_invalid_toml_names_the_line_and_drops_the_position_from_the_message():
    with pytest.raises(DocError) as e:
        load_toml('[site]\nkeep = 3\nname = "x\n', "f.toml", DocError, "check the quotes")
    assert str(e.value) == ("f.toml:3: error: invalid TOML: Illegal character '\\n'\n"
                            "  fix: check the quotes")


def test_nesting_too_deep_for_the_parser_is_an_input_error_not_a_crash():
    with pytest.raises(DocError, match="invalid TOML"):
        load_toml("x = " + "[" * 100_000, "f.toml", DocError, "hint")


def test_unknown_keys_get_the_closest_name_or_the_list_with_their_lines():
    data, c = checker()
    assert c.table(data["site"], ("site",), {"keep", "nmae"}) == data["site"]
    assert not c.known_keys(data["hosts"][0], ("hosts", 0), {"name", "profile"})
    assert [str(d) for d in c.diags] == [
        "f.toml:3: error: unknown key 'name' in [site]\n  fix: did you mean 'nmae'?",
        "f.toml:6: error: unknown key 'tags' in [hosts.0]\n  fix: allowed keys: name, profile",
    ]
    assert c.table([1, 2], ("site", "x"), {"a"}) == {}
    assert str(c.diags[-1]) == "f.toml:1: error: [site.x] must be a table"   # the table's line


def test_values_are_checked_and_defaults_returned():
    data, c = checker()
    site, host = data["site"], data["hosts"][0]
    assert c.integer(site, "keep", ("site",), default=1, minimum=1) == 3
    assert c.integer(site, "name", ("site",), default=1) == 1
    assert c.string(site, "keep", ("site",), default="d") == "d"
    assert c.string(site, "name", ("site",), choices=("a", "b")) is None
    assert c.string(site, "gone", ("site",), required=True) is None
    assert c.strings(host, "tags", ("hosts", 0)) == ()
    assert c.string({"k": " "}, "k", ("site",), nonempty=True) is None
    assert c.string({"k": "a\nb"}, "k", ("site",), nonempty=True) is None
    assert [d.message for d in c.diags] == [
        "name must be an integer >= 0", "keep must be a string, not int",
        "name = 'x' is not one of a, b", "[site] is missing 'gone'",
        "tags must be a list of strings", "k must be a non-empty string", "k must be one line"]
    assert [d.line for d in c.diags] == [3, 2, 3, 1, 6, 1, 1]


def test_lazy_lines_scan_only_when_asked():
    lazy = LazyKeyLines(DOC)
    assert lazy._keys is None
    assert lazy.line(("hosts", 0, "tags")) == 6

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

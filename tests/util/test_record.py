"""util/record: the plain data classes on verify's path behave as the dataclasses they replace."""
from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys

import pytest

from kbuild.util.record import field, record, replace


@record(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()


@record
class Bag:
    name: str
    items: list[str] = field(default_factory=list)
    size: int | None = None


@dataclasses.dataclass
class BagDC:
    name: str
    items: list[str] = dataclasses.field(default_factory=list)
    size: int | None = None


def test_init_defaults_repr_eq_like_dataclasses():
    assert Point(1) == Point(x=1, y=0) and Point(1, 2) != Point(1, 3)
    assert repr(Bag("a", ["x"])) == repr(BagDC("a", ["x"])).replace("BagDC", "Bag")
    assert Bag("a").items == [] and Bag("a").items is not Bag("a").items   # one list each
    assert Point(1) != (1, 0, ()) and Point.__match_args__ == ("x", "y", "tags")
    with pytest.raises(TypeError):
        Point()                                     # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, z=3)                               # type: ignore[call-arg]


def test_frozen_records_hash_and_refuse_assignment_mutable_ones_do_not_hash():
    p = Point(1, 2)
    assert hash(p) == hash(Point(1, 2)) and len({p, Point(1, 2)}) == 1
    with pytest.raises(AttributeError):
        p.x = 3                                     # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.y                                     # type: ignore[misc]
    b = Bag("a")
    b.size = 3
    assert b.size == 3
    with pytest.raises(TypeError):
        hash(b)


def test_pickle_copy_and_replace():
    p = Point(1, 2, ("a",))
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(p, protocol)) == p
    assert copy.deepcopy(Bag("a", ["x"])) == Bag("a", ["x"])
    assert replace(p, y=5) == Point(1, 5, ("a",)) and p.y == 2
    with pytest.raises(TypeError, match="no field z"):
        replace(p, z=1)


def test_a_field_without_default_after_one_with_is_refused():
    with pytest.raises(TypeError, match="without a default"):
        @record
        class Bad:
            a: int = 0
            b: int


def test_kbuild_verify_imports_neither_dataclasses_nor_the_site_model():
    code = ("import sys, kbuild.cli, kbuild.commands.verify, kbuild.verify.check, "
            "kbuild.verify.render, kbuild.commands.verify_many, kbuild.rules.cache; "
            "print(' '.join(sorted(m for m in sys.modules if m in ('dataclasses', 'inspect') "
            "or m.startswith(('kbuild.site', 'kbuild.boot.entry', 'kbuild.publish')))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def test_init_is_compiled_on_first_use_and_checks_arguments_from_the_first_call():
    @record
    class Pair:
        a: int
        b: list[int] = field(default_factory=list)

    stub = Pair.__init__
    with pytest.raises(TypeError, match=r"Pair.__init__\(\) missing 1 required positional argument: 'a'"):
        Pair()
    assert Pair.__init__ is not stub            # replaced by the compiled one
    first, second = Pair(1), Pair(a=2, b=[3])
    assert (first.a, first.b, second.a, second.b) == (1, [], 2, [3])
    assert first.b is not Pair(1).b              # a fresh list per instance
    with pytest.raises(TypeError, match="unexpected keyword argument 'c'"):
        Pair(1, c=2)

"""envsnap.frozen: the record classes behave as frozen, keyword-only, slotted dataclasses do."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Mapping
from typing import ClassVar

import pytest

from envsnap.frozen import FrozenInstanceError, field, fields, frozen, is_frozen, replace
from envsnap.snapshot import Package, Snapshot


@frozen
class Point:
    """A docstring survives."""

    KIND: ClassVar[str] = "point"
    x: int
    y: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)
    note: str | None = field(default=None, transient=True)

    def norm1(self) -> int:
        return abs(self.x) + abs(self.y)


@frozen
class Pair:
    a: str
    b: int


@frozen
class Point3(Point):
    z: int = 0


def test_keyword_only_with_defaults_and_fresh_factories() -> None:
    p = Point(x=1)
    assert (p.x, p.y, p.tags, p.note) == (1, 0, {}, None)
    assert Point(x=1).tags is not Point(x=1).tags  # default_factory runs per instance
    assert p.norm1() == 1 and Point.KIND == "point" and Point.__doc__ == "A docstring survives."
    for _ in range(2):  # the first call compiles the real __init__ and puts it in place
        with pytest.raises(TypeError, match="positional"):
            Point(1)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match=r"Point.__init__\(\) missing 1 required keyword-only arg"):
            Point()  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="unexpected keyword argument 'w'"):
            Point(x=1, w=2)  # type: ignore[call-arg]
        assert Point(x=2, y=3).y == 3


def test_odd_field_names_and_no_fields() -> None:
    @frozen
    class Odd:
        self: int
        kwargs: str = "k"

    @frozen
    class Empty:
        pass

    assert (Odd(self=1).self, Odd(self=1).kwargs) == (1, "k")
    assert Empty() == Empty() and repr(Empty()) == "test_odd_field_names_and_no_fields.<locals>.Empty()"


def test_immutable_and_slotted() -> None:
    p = Point(x=1)
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'x'"):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del p.y
    with pytest.raises(AttributeError):
        p.__dict__  # noqa: B018 - slotted: there is no instance dict
    assert vars(Point)["__slots__"] == ("x", "y", "tags", "note")


def test_equality_hash_and_repr_leave_transient_fields_out_of_comparison() -> None:
    a, b = Point(x=1, y=2, note="here"), Point(x=1, y=2, note="there")
    assert a == b and hash(Pair(a="x", b=1)) == hash(Pair(a="x", b=1))
    assert a != Point(x=1, y=3) and a != Point3(x=1, y=2)  # another class is never equal
    assert repr(a) == "Point(x=1, y=2, tags={}, note='here')"
    with pytest.raises(TypeError, match="unhashable"):
        hash(Point(x=1, tags={"a": "b"}))  # a dict field makes it unhashable, as in dataclasses


def test_replace_fields_and_inheritance() -> None:
    p = Point3(x=1, y=2, z=3)
    assert replace(p, z=9) == Point3(x=1, y=2, z=9)
    with pytest.raises(TypeError, match="has no field"):
        replace(p, w=1)
    assert [f.name for f in fields(Point3)] == ["x", "y", "tags", "note", "z"]
    assert is_frozen(p) and not is_frozen(Point3) and not is_frozen({"x": 1})
    with pytest.raises(TypeError, match="not a @frozen class"):
        fields(dict)


def test_pickle_and_copy_round_trip() -> None:
    p = Point3(x=1, y=2, tags={"k": "v"}, note="n", z=3)
    for clone in (pickle.loads(pickle.dumps(p)), copy.deepcopy(p), copy.copy(p)):
        assert clone == p and clone.note == "n" and type(clone) is Point3


def test_mutable_default_is_refused() -> None:
    with pytest.raises(ValueError, match="mutable default list for field 'items'"):

        @frozen
        class Bad:
            items: list[int] = []  # noqa: RUF012 - the point of the test

    with pytest.raises(ValueError, match="mutable default bytearray for field 'buf'"):

        @frozen
        class AlsoBad:
            buf: bytearray = bytearray()  # unhashable: shared by every instance


@frozen
class Outer:
    @frozen
    class Inner:
        v: int = 0


@frozen
class Base:
    a: int = 1
    b: int = 2


@frozen
class Sub(Base):
    a: int = 10  # redeclared: keeps its place before b
    c: int = 3


def test_dataclass_rules_for_names_order_and_own_methods() -> None:
    assert Outer.Inner.__qualname__ == "Outer.Inner"
    assert pickle.loads(pickle.dumps(Outer.Inner(v=5))) == Outer.Inner(v=5)
    assert [f.name for f in fields(Sub)] == ["a", "b", "c"] and Sub().a == 10

    @frozen
    class Custom:
        x: int

        def __repr__(self) -> str:
            return "custom"

    assert repr(Custom(x=1)) == "custom" and Custom(x=1) == Custom(x=1)
    with pytest.raises(TypeError, match="cannot overwrite __setattr__"):

        @frozen
        class Settable:
            x: int

            def __setattr__(self, name: str, value: object) -> None:
                object.__setattr__(self, name, value)


def test_copy_replace_protocol() -> None:
    # copy.replace() (Python 3.13+) calls __replace__; called directly here on every version.
    p = Point(x=1, y=2)
    assert p.__replace__(y=5) == Point(x=1, y=5)  # type: ignore[attr-defined]


def test_model_classes_are_frozen_records() -> None:
    pkg = Package(name="numpy", version="2.1.0", metadata_path="lib/numpy.dist-info")
    assert pkg == Package(name="numpy", version="2.1.0")  # metadata_path is transient
    assert Snapshot().schema == 1 and is_frozen(Snapshot())

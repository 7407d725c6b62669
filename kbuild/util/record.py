"""Plain data classes for the modules ``kbuild verify`` imports, without ``dataclasses``.

``@record`` (and ``@record(frozen=True)``) gives a class with annotated fields what
``@dataclass`` gives the way kbuild uses it: ``__init__`` (keyword or positional, class
defaults, :func:`field` with ``default_factory``), ``__repr__`` and ``__eq__`` over the
fields, and for frozen records ``__hash__`` and no assignment. Why not dataclasses: importing
it pulls in ``inspect`` (``ast``, ``dis``, ``tokenize``), and each class costs several
``exec`` calls; for the 19 classes on verify's path that was about a third of a
``kbuild verify`` process (issue 13). Here one ``exec`` per class makes ``__init__``, when
the class is first instantiated; the other methods are shared functions. mypy reads these as dataclasses
(``dataclass_transform``). Not supported, on purpose: inheritance between records,
``ClassVar`` fields, ``dataclasses.replace`` (use :func:`replace`).
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:
    def dataclass_transform(**_kwargs):
        return lambda fn: fn


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], T]) -> T:
    """A field whose default is made per instance (``field(default_factory=list)``)."""
    return _Factory(default_factory)  # type: ignore[return-value]


def _repr(self: Any) -> str:
    body = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_fields__)
    return f"{type(self).__qualname__}({body})"


def _values(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, name) for name in self.__record_fields__)


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _frozen_setattr(self: Any, name: str, value: object) -> None:
    raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")


class _Nothing:
    def __repr__(self) -> str:
        return "<default>"


_NOTHING = _Nothing()


def _make(cls: type, frozen: bool) -> type:
    names = list(cls.__dict__.get("__annotations__", {}))
    params: list[str] = []
    body: list[str] = []
    scope: dict[str, Any] = {"_NOTHING": _NOTHING}
    for name in names:
        default = cls.__dict__.get(name, _NOTHING)
        if isinstance(default, _Factory):
            scope[f"_f_{name}"] = default.make
            params.append(f"{name}=_NOTHING")
            body.append(f"{name} = _f_{name}() if {name} is _NOTHING else {name}")
            delattr(cls, name)
        elif default is not _NOTHING:
            scope[f"_d_{name}"] = default
            params.append(f"{name}=_d_{name}")
        elif any("=" in p for p in params):
            raise TypeError(f"{cls.__name__}: field {name!r} without a default follows one with")
        else:
            params.append(name)
    if frozen:
        body += ["_d = self.__dict__"] + [f"_d[{name!r}] = {name}" for name in names]
    else:
        body += [f"self.{name} = {name}" for name in names]
    source = (f"def __init__(self, {', '.join(params)}):\n    "
              + "\n    ".join(body) + "\n") if params else "def __init__(self):\n    pass\n"
    cls.__init__ = _first_init(cls, source, scope)  # type: ignore[misc]
    cls.__record_fields__ = tuple(names)  # type: ignore[attr-defined]
    cls.__match_args__ = tuple(names)  # type: ignore[attr-defined,misc]
    cls.__repr__ = _repr  # type: ignore[method-assign,assignment]
    cls.__eq__ = _eq  # type: ignore[method-assign,assignment]
    if frozen:
        cls.__hash__ = _hash  # type: ignore[method-assign,assignment]
        cls.__setattr__ = _frozen_setattr  # type: ignore[method-assign,assignment]
        cls.__delattr__ = _frozen_delattr  # type: ignore[method-assign,assignment]
    else:
        cls.__hash__ = None  # type: ignore[assignment]
    return cls


def _first_init(cls: type, source: str, scope: dict[str, Any]) -> Callable[..., None]:
    """An ``__init__`` that compiles the class's own on the first call and puts it in its
    place: a compile is ~0.1 ms, and many record classes are never instantiated in a
    process (``kbuild verify`` unpickles its rules without ``__init__``)."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        exec(source, scope)  # noqa: S102 - the text is made from the class's own field names
        init = scope["__init__"]
        init.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = init  # type: ignore[misc]
        init(self, *args, **kwargs)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


@dataclass_transform(field_specifiers=(field,))
def record(cls: type[T] | None = None, *, frozen: bool = False) -> Any:
    """The class decorator; see the module docstring."""
    if cls is None:
        return lambda c: _make(c, frozen)
    return _make(cls, frozen)


def replace(obj: T, **changes: Any) -> T:
    """A copy of the record ``obj`` with some fields changed (``dataclasses.replace``)."""
    values = {name: getattr(obj, name) for name in obj.__record_fields__}  # type: ignore[attr-defined]
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {', '.join(sorted(unknown))}")
    values.update(changes)
    return type(obj)(**values)


def is_record(obj: object) -> bool:
    return hasattr(type(obj), "__record_fields__")

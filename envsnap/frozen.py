"""Frozen, keyword-only, slotted record classes: the model's dataclasses, minus their start-up cost.

``@frozen`` gives a class what ``@dataclass(frozen=True, kw_only=True, slots=True)`` gives it
(``__init__`` taking keywords only, ``__repr__``, ``__eq__``, ``__hash__``, immutability,
``__slots__``, pickling) and type checkers see it as exactly that (PEP 681
``dataclass_transform``). It exists because ``envsnap capture`` is start-up-bound: importing
``dataclasses`` (which imports ``inspect``, ``ast``, ``dis`` and ``tokenize``) and letting it
compile six methods per class cost ~45 ms of a ~250 ms capture on our 2-core CI machine. Here
the methods are closures shared by every class: nothing is compiled at import time.
"""

from __future__ import annotations

from operator import attrgetter

# `typing` is imported for type checkers only: at run time it would be ~5% of a capture.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    from typing_extensions import dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_kwargs):
        return lambda decorated: decorated


__all__ = ["Field", "FrozenInstanceError", "field", "fields", "frozen", "is_frozen",
           "is_frozen_class", "replace"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_set = object.__setattr__


class FrozenInstanceError(AttributeError):
    """Assigning to or deleting a field of a frozen instance (as ``dataclasses`` names it)."""


class Field:
    """One declared field: its name, default (or factory) and whether it is ``transient``: kept
    in memory, but neither compared nor written (``Package.metadata_path``)."""

    __slots__ = ("default", "default_factory", "name", "transient")

    def __init__(self, *, default: Any = MISSING, default_factory: Callable[[], Any] | None = None,
                 transient: bool = False) -> None:
        if default is not MISSING and default_factory is not None:
            raise ValueError("a field takes a default or a default_factory, not both")
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.transient = transient

    def default_value(self) -> Any:
        """The value an omitted keyword gets, or MISSING for a required field."""
        return self.default_factory() if self.default_factory is not None else self.default

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r}, transient={self.transient})"


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | None = None,
          transient: bool = False) -> Any:
    """Declare a field's default factory, or mark it transient (left out of ``==``, ``hash``
    and ``to_dict``)."""
    return Field(default=default, default_factory=default_factory, transient=transient)


def _is_classvar(annotation: object) -> bool:
    # Annotations are strings here (every module has `from __future__ import annotations`).
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _declared_fields(cls: type, namespace: dict[str, Any]) -> tuple[Field, ...]:
    inherited: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in getattr(base, "__frozen_fields__", ()):
            inherited[f.name] = f
    own: dict[str, Field] = {}
    for name, annotation in namespace.get("__annotations__", {}).items():
        if _is_classvar(annotation):
            continue
        value = namespace.pop(name, MISSING)
        f = value if isinstance(value, Field) else Field(default=value)
        if isinstance(f.default, list | dict | set):
            raise ValueError(f"mutable default for field {name!r}: use field(default_factory=...)")
        f.name = name
        own[name] = f
    return (*(f for n, f in inherited.items() if n not in own), *own.values())


def _make_init(qualname: str, specs: tuple[Field, ...]) -> Callable[..., None]:
    plan = tuple((f.name, f.default, f.default_factory) for f in specs)

    def __init__(self: Any, **kwargs: Any) -> None:
        matched = 0
        for name, default, factory in plan:
            if name in kwargs:
                value = kwargs[name]
                matched += 1
            elif factory is not None:
                value = factory()
            elif default is MISSING:
                raise TypeError(f"{qualname}() missing required keyword argument {name!r}")
            else:
                value = default
            _set(self, name, value)
        if matched != len(kwargs):
            known = {n for n, _, _ in plan}
            unknown = ", ".join(repr(k) for k in kwargs if k not in known)
            raise TypeError(f"{qualname}() got unexpected keyword argument(s) {unknown}")

    return __init__


def _tuple_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    # attrgetter builds the tuple in C: comparing and hashing 10,000 packages stays cheap.
    if len(names) > 1:
        getter: Callable[[Any], tuple[Any, ...]] = attrgetter(*names)
        return getter
    if names:
        only = attrgetter(names[0])
        return lambda obj: (only(obj),)
    return lambda obj: ()


def _make_methods(qualname: str, specs: tuple[Field, ...]) -> dict[str, Any]:
    names = tuple(f.name for f in specs)
    values = _tuple_getter(names)
    key = _tuple_getter(tuple(f.name for f in specs if not f.transient))

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return bool(key(self) == key(other))

    def __hash__(self: Any) -> int:
        return hash(key(self))

    def __repr__(self: Any) -> str:
        return f"{qualname}({', '.join(f'{n}={v!r}' for n, v in zip(names, values(self), strict=True))})"

    def __setattr__(self: Any, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r} of a frozen {qualname}")

    def __delattr__(self: Any, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r} of a frozen {qualname}")

    def __getstate__(self: Any) -> tuple[Any, ...]:
        return values(self)

    def __setstate__(self: Any, state: tuple[Any, ...]) -> None:
        for name, value in zip(names, state, strict=True):
            _set(self, name, value)

    return {
        "__eq__": __eq__, "__hash__": __hash__, "__repr__": __repr__,
        "__setattr__": __setattr__, "__delattr__": __delattr__,
        "__getstate__": __getstate__, "__setstate__": __setstate__,
    }


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
def frozen(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen, keyword-only, slotted record of its annotated fields."""
    namespace = dict(cls.__dict__)
    specs = _declared_fields(cls, namespace)
    names = tuple(f.name for f in specs)
    inherited = {n for base in cls.__mro__[1:] for n in getattr(base, "__slots__", ())}
    namespace["__slots__"] = tuple(n for n in names if n not in inherited)
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    namespace["__frozen_fields__"] = specs
    namespace["__match_args__"] = ()
    namespace["__init__"] = _make_init(cls.__qualname__, specs)
    for attr, method in _make_methods(cls.__qualname__, specs).items():
        method.__qualname__ = f"{cls.__qualname__}.{attr}"
        namespace[attr] = method
    # Slots can only be declared when a class is created, so the class is created again.
    metaclass: Any = type(cls)
    new_cls: type[T] = metaclass(cls.__name__, cls.__bases__, namespace)
    return new_cls


def is_frozen(obj: object) -> bool:
    """True for an instance of a ``@frozen`` class (not for the class itself)."""
    return not isinstance(obj, type) and hasattr(type(obj), "__frozen_fields__")


def is_frozen_class(obj: object) -> bool:
    return isinstance(obj, type) and hasattr(obj, "__frozen_fields__")


def fields(cls_or_obj: Any) -> tuple[Field, ...]:
    cls: Any = cls_or_obj if isinstance(cls_or_obj, type) else type(cls_or_obj)
    try:
        specs: tuple[Field, ...] = cls.__frozen_fields__
    except AttributeError:
        raise TypeError(f"{cls.__qualname__} is not a @frozen class") from None
    return specs


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of ``obj`` with ``changes`` applied (``dataclasses.replace`` for ``@frozen``)."""
    kwargs = {f.name: getattr(obj, f.name) for f in fields(obj)}
    unknown = changes.keys() - kwargs.keys()
    if unknown:
        raise TypeError(f"{type(obj).__qualname__} has no field(s) {', '.join(sorted(unknown))}")
    kwargs.update(changes)
    return type(obj)(**kwargs)

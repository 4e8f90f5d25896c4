"""Frozen, keyword-only, slotted record classes: the model's dataclasses, minus their start-up cost."""

from __future__ import annotations

from operator import attrgetter

# Why not dataclasses: `@frozen` gives a class what `@dataclass(frozen=True, kw_only=True,
# slots=True)` gives it (keyword-only __init__, __repr__, __eq__, __hash__, immutability,
# __slots__, pickling), and type checkers see exactly that (PEP 681 dataclass_transform). But
# `envsnap capture` is start-up-bound: on the 2-core development VM, importing dataclasses
# (which imports inspect, ast, dis, tokenize) took ~20 ms and letting it compile six methods
# for each model class ~20 ms more, of a capture then taking ~250 ms. Here the methods are
# closures made per class, and only __init__ is compiled, on first use.

# dataclass_transform is typing-only (and absent from Python 3.10's typing module at run time).
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
           "is_frozen_class", "replace", "values_getter"]


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


def _own_annotations(cls: type, namespace: dict[str, Any]) -> dict[str, Any]:
    if "__annotations__" in namespace:  # strings, with `from __future__ import annotations`
        own: dict[str, Any] = namespace["__annotations__"]
        return own
    try:  # Python 3.14+ evaluates annotations lazily (PEP 649): ask for them
        import annotationlib  # type: ignore[import-not-found]
    except ImportError:
        return {}
    lazy: dict[str, Any] = annotationlib.get_annotations(cls, format=annotationlib.Format.FORWARDREF)
    return lazy


def _declared_fields(cls: type, namespace: dict[str, Any]) -> tuple[Field, ...]:
    # As in dataclasses: base fields first, in order; a field a subclass redeclares keeps its
    # base's position and takes the new default.
    fields_: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in getattr(base, "__frozen_fields__", ()):
            fields_[f.name] = f
    for name, annotation in _own_annotations(cls, namespace).items():
        if _is_classvar(annotation):
            continue
        value = namespace.pop(name, MISSING)
        f = value if isinstance(value, Field) else Field(default=value)
        if f.default is not MISSING and type(f.default).__hash__ is None:
            # dataclasses' rule: an unhashable default is a mutable one, shared by every instance
            raise ValueError(f"mutable default {type(f.default).__name__} for field {name!r}: "
                             "use field(default_factory=...)")
        f.name = name
        fields_[name] = f
    return tuple(fields_.values())


def _compile_init(qualname: str, specs: tuple[Field, ...]) -> Callable[..., None]:
    """A keyword-only ``__init__`` written for these fields, as dataclasses writes one: twice as
    fast as a generic loop over the fields, which counts when a snapshot loads 10,000 packages.
    Field names are identifiers (they come from annotations), so the source is safe to build."""
    namespace: dict[str, Any] = {"__frozen_set__": _set, "__frozen_missing__": MISSING}
    params, body = [], []
    for f in specs:
        value = f.name
        if f.default_factory is not None:
            namespace[f"__factory_{f.name}__"] = f.default_factory
            params.append(f"{f.name}=__frozen_missing__")
            value = f"__factory_{f.name}__() if {f.name} is __frozen_missing__ else {f.name}"
        elif f.default is not MISSING:
            namespace[f"__default_{f.name}__"] = f.default
            params.append(f"{f.name}=__default_{f.name}__")
        else:
            params.append(f.name)
        body.append(f"    __frozen_set__(__frozen_self__, {f.name!r}, {value})\n")
    signature = f"__frozen_self__, /, *, {', '.join(params)}" if params else "__frozen_self__, /"
    source = f"def __init__({signature}):\n" + ("".join(body) or "    pass\n")
    exec(source, namespace)
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{qualname}.__init__"
    return init


def _lazy_init(qualname: str, specs: tuple[Field, ...], owner: list[type]) -> Callable[..., None]:
    # Compiled on first use, then put in its place: a capture builds instances of about half
    # of the model's classes, and compiling the rest would only add to its start-up.
    def __init__(instance: Any, /, **kwargs: Any) -> None:  # a field may be called `self`
        init = _compile_init(qualname, specs)
        owner[0].__init__ = init  # type: ignore[misc]
        init(instance, **kwargs)

    __init__.__qualname__ = f"{qualname}.__init__"
    return __init__


def values_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A function returning those attributes of an object as a tuple, whatever their number.
    attrgetter builds the tuple in C: comparing, hashing and dumping 10,000 packages stays cheap."""
    if len(names) > 1:
        getter: Callable[[Any], tuple[Any, ...]] = attrgetter(*names)
        return getter
    if names:
        only = attrgetter(names[0])
        return lambda obj: (only(obj),)
    return lambda obj: ()


def _make_methods(qualname: str, specs: tuple[Field, ...]) -> dict[str, Any]:
    names = tuple(f.name for f in specs)
    values = values_getter(names)
    key = values_getter(tuple(f.name for f in specs if not f.transient))

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

    def __replace__(self: Any, /, **changes: Any) -> Any:  # copy.replace(), Python 3.13+
        return replace(self, **changes)

    return {
        "__eq__": __eq__, "__hash__": __hash__, "__repr__": __repr__, "__replace__": __replace__,
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
    owner: list[type] = []
    namespace["__init__"] = _lazy_init(cls.__qualname__, specs, owner)
    for attr, method in _make_methods(cls.__qualname__, specs).items():
        if attr in ("__setattr__", "__delattr__") and attr in cls.__dict__:
            raise TypeError(f"cannot overwrite {attr} in @frozen class {cls.__qualname__}")
        # A class's own __repr__/__eq__ (or an explicit __hash__) wins, as with dataclasses;
        # Python sets __hash__ = None itself in a class that defines only __eq__.
        if attr in cls.__dict__ and not (attr == "__hash__" and cls.__dict__[attr] is None):
            continue
        method.__qualname__ = f"{cls.__qualname__}.{attr}"
        namespace[attr] = method
    # Slots can only be declared when a class is created, so the class is created again.
    metaclass: Any = type(cls)
    new_cls: type[T] = metaclass(cls.__name__, cls.__bases__, namespace)
    new_cls.__qualname__ = cls.__qualname__  # a nested class keeps its dotted name (pickle)
    owner.append(new_cls)
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

"""Frozen record classes for the IR, made without :mod:`dataclasses`' code generation.

Contract: :func:`node` turns a class with annotated fields (trailing ones with defaults) into an immutable record, as
``@dataclass(frozen=True)`` would: ``__init__`` (positional or keyword arguments, defaults, then ``__post_init__``
when the class defines one), structural ``__eq__`` and ``__hash__`` over the fields, ``__repr__`` as
``Name(field=value, ...)``, ``__match_args__``, and assignment or deletion of an attribute raises
:class:`dataclasses.FrozenInstanceError`. The field names are ``cls._fields``; :func:`replace` is
``dataclasses.replace`` for these classes.

Why not dataclasses: ``@dataclass`` compiles six small functions per class with ``exec`` each time the module is
imported (byte-code caching cannot keep them), ~0.5 ms a class, ~25 ms for the IR's 38 classes on every command —
6 % of the time Python needs to load SymPy and numpy, which is the floor a ``matcalc check`` is measured against
(issue 14). The methods here are closures shared by shape; constructing a node with all its fields given
positionally costs what the generated ``__init__`` does.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from operator import attrgetter
from typing import Any, TypeVar

T = TypeVar("T")


def node(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen record of its annotated fields (see the module docstring)."""
    names = tuple(cls.__dict__.get("__annotations__", {}))
    defaults = {n: cls.__dict__[n] for n in names if n in cls.__dict__}
    n_all = len(names)
    n_req = n_all - len(defaults)
    if any(n not in defaults for n in names[n_req:]):
        raise TypeError(f"{cls.__name__}: a field without a default follows one with a default")
    tail = tuple(defaults[n] for n in names[n_req:])
    post = cls.__dict__.get("__post_init__")
    qual = cls.__qualname__

    def bind(args: tuple, kw: dict) -> tuple:
        if len(args) > n_all:
            raise TypeError(f"{qual}() takes {n_all} arguments but {len(args)} were given")
        vals = list(args)
        for name in names[len(args):]:
            if name in kw:
                vals.append(kw.pop(name))
            elif name in defaults:
                vals.append(defaults[name])
            else:
                raise TypeError(f"{qual}() missing the argument {name!r}")
        if kw:
            extra = next(iter(kw))
            why = "multiple values for" if extra in names else "an unexpected keyword argument"
            raise TypeError(f"{qual}() got {why} {extra!r}")
        return tuple(vals)

    def __init__(self, *args: Any, **kw: Any) -> None:  # noqa: N807
        if kw or len(args) != n_all:
            args = args + tail[len(args) - n_req:] if not kw and n_req <= len(args) < n_all else bind(args, kw)
        self.__dict__.update(zip(names, args))
        if post is not None:
            post(self)

    get = attrgetter(*names) if names else (lambda self: ())
    if len(names) == 1:
        one = get
        get = lambda self: (one(self),)  # noqa: E731

    def __eq__(self, other: object) -> Any:  # noqa: N807
        if other.__class__ is self.__class__:
            return get(self) == get(other)
        return NotImplemented

    def __hash__(self) -> int:  # noqa: N807
        return hash(get(self))

    def __repr__(self) -> str:  # noqa: N807
        return f"{qual}(" + ", ".join(f"{n}={v!r}" for n, v in zip(names, get(self))) + ")"

    cls.__init__ = __init__  # type: ignore[misc]
    cls.__eq__ = __eq__  # type: ignore[method-assign,assignment]
    cls.__hash__ = __hash__  # type: ignore[method-assign,assignment]
    cls.__repr__ = __repr__  # type: ignore[method-assign,assignment]
    cls.__setattr__ = _frozen_set  # type: ignore[method-assign,assignment]
    cls.__delattr__ = _frozen_del  # type: ignore[method-assign,assignment]
    cls.__match_args__ = names  # type: ignore[attr-defined]
    cls._fields = names  # type: ignore[attr-defined]
    return cls


def _frozen_set(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_del(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def replace(obj: T, **changes: Any) -> T:
    """A copy of the record ``obj`` with ``changes`` to its fields (``dataclasses.replace``)."""
    cls = type(obj)
    names = cls._fields  # type: ignore[attr-defined]
    unknown = set(changes) - set(names)
    if unknown:
        raise TypeError(f"{cls.__qualname__} has no field {sorted(unknown)[0]!r}")
    return cls(*[changes[n] if n in changes else getattr(obj, n) for n in names])

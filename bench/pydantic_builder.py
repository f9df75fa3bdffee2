"""Building and copying pydantic models without validating them again: the pydantic side of
bench/value_kinds.py.

Owns `trusted` and `builder` (construct) and `copy_with` (copy with changes),
replacements for pydantic's constructor and `model_copy`. This was the engine's
fastest pydantic path (engine/trusted.py) before its values became Structs
(`engine.values`); it stays here so the value-kind comparison still measures
pydantic at its best. Both leave the model as validation would: the same
`__dict__` in field order, fields set, no extras, a fresh copy of a mutable
default; so equality, dumps and JSON are unchanged. Missing or unknown fields
still raise (a programming error).
"""

from __future__ import annotations

import copy
from typing import Any, Callable, TypeVar

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

M = TypeVar("M", bound=BaseModel)

_new = object.__new__
# The slots every pydantic model has (BaseModel declares them), set through their
# descriptors: frozen models refuse their own __setattr__, and object.__setattr__
# costs a third more, as it looks each name up first.
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
_NOT_GIVEN = object()


def _compile(cls: type[BaseModel]) -> Callable[..., Any]:
    """A constructor of `cls` written out for its fields, as dataclasses write theirs.

    Keyword-only parameters, one per field (Python itself rejects a missing or unknown
    one); the dict is built in field order in one go; a default not given is filled in
    (a fresh copy of a list, dict or set, as pydantic hands out); the fields-set (which
    fields were given) is one shared set per combination of defaults given, since
    pydantic never changes a fields-set in place (its copies copy it first).
    """
    fields = cls.model_fields
    if any(f.default_factory is not None for f in fields.values()):
        raise TypeError(f"{cls.__name__}: default factories are not supported by trusted()")
    required = [name for name, f in fields.items() if f.default is PydanticUndefined]
    optional = [name for name in fields if name not in required]
    scope: dict[str, Any] = {
        "_cls": cls, "_new": _new, "_copy": copy.copy, "_NOT_GIVEN": _NOT_GIVEN, "_set_dict": _set_dict,
        "_set_fields_set": _set_fields_set, "_set_extra": _set_extra, "_set_private": _set_private,
    }
    fields_sets: dict[int, set[str]] = {}

    def fields_set(given: int) -> set[str]:
        names = fields_sets[given] = set(required) | {n for bit, n in enumerate(optional) if given >> bit & 1}
        return names

    scope["_fields_sets"], scope["_fields_set"] = fields_sets, fields_set
    parameters = required + [f"{name}=_NOT_GIVEN" for name in optional]
    lines = [f"def {cls.__name__}(*, {', '.join(parameters)}):", "    _given = 0"]
    for bit, name in enumerate(optional):
        default = scope[f"_default_{name}"] = fields[name].default
        fill = f"_copy(_default_{name})" if isinstance(default, (list, dict, set)) else f"_default_{name}"
        lines += [
            f"    if {name} is _NOT_GIVEN:",
            f"        {name} = {fill}",
            "    else:",
            f"        _given |= {1 << bit}",
        ]
    lines += [
        "    _model = _new(_cls)",
        "    _set_dict(_model, {" + ", ".join(f"{name!r}: {name}" for name in fields) + "})",
        "    _set_fields_set(_model, _fields_sets.get(_given) or _fields_set(_given))",
        "    _set_extra(_model, None)",
        "    _set_private(_model, None)",
        "    return _model",
    ]
    exec("\n".join(lines), scope)  # noqa: S102 - source built above from the model's own field names
    return scope[cls.__name__]


_BUILDERS: dict[type, Callable[..., Any]] = {}


def builder(cls: type[M]) -> Callable[..., M]:
    """`cls`'s constructor for values the engine built itself: call it with keywords, as `cls`."""
    found = _BUILDERS.get(cls)
    if found is None:
        found = _BUILDERS[cls] = _compile(cls)
    return found


def trusted(cls: type[M], **values: Any) -> M:
    """`cls(**values)` without validation, for values the engine built itself
    (`builder(cls)` once, for a call site on the hot path)."""
    return (_BUILDERS.get(cls) or builder(cls))(**values)


def copy_with(model: M, update: dict) -> M:
    """`model.model_copy(update=update)` without validation, at two thirds of the cost.

    Folding copies the learner state once per event, so this is the hot path.
    Like the original, the copy keeps the original's fields-set.
    """
    new = _new(type(model))
    _set_dict(new, {**model.__dict__, **update})
    _set_fields_set(new, model.__pydantic_fields_set__)
    _set_extra(new, None)
    _set_private(new, None)
    return new

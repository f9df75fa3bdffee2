"""Building and copying the engine's own frozen models without validating them again.

Owns `trusted` (construct) and `copy_with` (copy with changes), the hot path's
replacements for pydantic's constructor and `model_copy`. Validation is for
values that come from outside (files, topics, commands); the events, runs,
timers and states the engine builds from values it already holds are right by
construction, and validating them again cost a third of starting a run. Both
leave the model as validation would: the same `__dict__` in field order,
fields set, no extras, a fresh copy of a mutable default; so equality, dumps,
JSON and the golden logs are unchanged. Missing or unknown fields still raise
(a programming error).
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

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


class _Plan:
    """Per model class: every field in order with its default, and per set of given
    fields (as the call names them) the fields-set and the mutable defaults to copy."""

    def __init__(self, cls: type[BaseModel]):
        fields = cls.model_fields
        if any(f.default_factory is not None for f in fields.values()):
            raise TypeError(f"{cls.__name__}: default factories are not supported by trusted()")
        self.name = cls.__name__
        self.template = {name: f.default for name, f in fields.items()}
        self.names = frozenset(fields)
        self.required = frozenset(n for n, f in fields.items() if f.default is PydanticUndefined)
        # pydantic hands every instance its own copy of a list/dict/set default.
        self.mutable = tuple(n for n, f in fields.items() if isinstance(f.default, (list, dict, set)))
        self.shapes: dict[tuple[str, ...], tuple[set[str], tuple[str, ...]]] = {}

    def shape(self, given: tuple[str, ...]) -> tuple[set[str], tuple[str, ...]]:
        """Checked once per call shape. The fields-set is shared by the models of a shape:
        pydantic never changes a fields-set in place (its copies copy it first)."""
        names = set(given)
        if not self.required <= names or not names <= self.names:
            missing, unknown = sorted(self.required - names), sorted(names - self.names)
            raise TypeError(f"{self.name}: missing {missing}, unknown {unknown}")
        shape = self.shapes[given] = (names, tuple(n for n in self.mutable if n not in names))
        return shape


_PLANS: dict[type, _Plan] = {}


def trusted(cls: type[M], **values: Any) -> M:
    """`cls(**values)` without validation, for values the engine built itself."""
    plan = _PLANS.get(cls) or _PLANS.setdefault(cls, _Plan(cls))
    given = tuple(values)
    fields_set, fresh_defaults = plan.shapes.get(given) or plan.shape(given)
    data = {**plan.template, **values}  # field order, as validation leaves __dict__
    for name in fresh_defaults:
        data[name] = copy.copy(plan.template[name])
    model = _new(cls)
    _set_dict(model, data)
    _set_fields_set(model, fields_set)
    _set_extra(model, None)
    _set_private(model, None)
    return model


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

"""The school-event contract's shortcut for data that fits gives the walk's answer.

`_fits` decides whether an event's data holds a non-finite number or nests past
the limit without naming paths; the walk that names the first problem runs only
when it finds one. Given any JSON-like data (hypothesis), including numbers that
are not finite and nesting at and past the limit, the two agree.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from engine.school_events import MAX_DATA_DEPTH, _fits, _unfit_value
from engine.nested import is_container, walk

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5))
DATA = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.lists(inner, max_size=3).map(tuple),
                            st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=40,
)


def _walked(value) -> bool:
    for item, _, depth in walk(value, "data", lambda parent, name: f"{parent}.{name}", MAX_DATA_DEPTH):
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if depth >= MAX_DATA_DEPTH and is_container(item):
            return False
    return True


def _nested(depth: int, leaf):
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


@given(DATA)
def test_the_shortcut_agrees_with_the_walk(data):
    assert _fits(data) == _walked(data)
    assert (_unfit_value(data, "data") is None) == _fits(data)


@given(st.integers(MAX_DATA_DEPTH - 3, MAX_DATA_DEPTH + 3), st.sampled_from([1, 2.5, math.inf, -math.inf, math.nan, [], {}]))
def test_the_shortcut_agrees_at_the_depth_limit(depth, leaf):
    data = _nested(depth, leaf)
    assert _fits(data) == _walked(data)
    assert (_unfit_value(data, "data") is None) == _fits(data)

"""The worker's full garbage collections run when the stream task is idle, not on CPython's schedule."""

import gc

from processors.stream import pauses


def test_install_turns_off_the_automatic_full_collection_only():
    before = gc.get_threshold()
    try:
        pauses.install()
        young, middle, oldest = gc.get_threshold()
        assert (young, middle) == before[:2]
        assert oldest >= 1 << 30
    finally:
        gc.set_threshold(*before)


def test_a_full_collection_runs_when_idle_and_due_and_when_busy_for_long(monkeypatch):
    collected = []
    monkeypatch.setattr(pauses.gc, "collect", lambda: collected.append(1))
    monkeypatch.setattr(pauses.gc, "freeze", lambda: None)
    monkeypatch.setattr(pauses.gc, "unfreeze", lambda: None)
    now = [1000.0]
    monkeypatch.setattr(pauses.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(pauses, "_last_full", 1000.0)

    now[0] += pauses.IDLE_EVERY - 1
    pauses.tick(idle=True)
    assert collected == []  # not due yet
    now[0] += 2
    pauses.tick(idle=False)
    assert collected == []  # due when idle, but the task is busy
    pauses.tick(idle=True)
    assert collected == [1]
    now[0] += pauses.BUSY_EVERY
    pauses.tick(idle=False)
    assert collected == [1, 1]  # busy for long: collected anyway


def test_a_full_collection_freezes_what_it_leaves_and_every_so_often_walks_everything_again(monkeypatch):
    calls = []
    for name in ("collect", "freeze", "unfreeze"):
        monkeypatch.setattr(pauses.gc, name, lambda name=name: calls.append(name))
    now = [1000.0]
    monkeypatch.setattr(pauses.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(pauses, "_last_full", 1000.0)
    monkeypatch.setattr(pauses, "_last_thorough", 1000.0)

    now[0] += pauses.IDLE_EVERY
    pauses.tick(idle=True)
    assert calls == ["collect", "freeze"]  # the next one walks only what came since
    calls.clear()
    now[0] = 1000.0 + pauses.THOROUGH_EVERY
    pauses.tick(idle=True)
    assert calls == ["unfreeze", "collect", "freeze"]  # cyclic garbage among old objects goes too

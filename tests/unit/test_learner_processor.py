"""The learner processor without Kafka (processors.learner_processor): batches in, outputs and state out.

Given automations and a learner's inputs, when batches are processed and
committed as the stream runtime commits them, then the outputs are what the
engine decides, timers fire from the store's due-time index in the order the
simulation fires them, a restore from the changelog rebuilds that index, and
the inputs the worker must not apply here (refused, misplaced, decided before)
are dead-lettered, moved or skipped.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from engine.commands import ApplyDefinitionChange
from engine.school_events import SchoolEvent
from engine.simulation import simulate
from processors import metrics, records
from processors.learner_processor import partition_of
from processors.receipts import RECEIPT_HEADER
from processors.stream.state_store import PartitionStore
from tests.unit.engine_scenarios import automation
from tests.unit.stream_world import TOPICS, ProcessorWorld

DAY = datetime(2027, 3, 1, tzinfo=timezone.utc)

# Two runs of one learner resume at the same instant; the first one's action ends the second
# (the reproduction of a live-versus-simulate difference: timers fired in timer-id order).
SAME_INSTANT = [
    automation({"id": "ra", "triggers": [{"id": "t", "event": "user.tag_added", "tag": "start-a"}],
                "flow": [{"id": "wa", "type": "wait_until_time_of_day", "time": "09:00"},
                         {"id": "tag", "type": "add_tag", "tag": "a-done"}]}),
    automation({"id": "rb", "triggers": [{"id": "t", "event": "user.tag_added", "tag": "start-b"}],
                "flow": [{"id": "wb", "type": "wait_until_time_of_day", "time": "09:00"},
                         {"id": "mail", "type": "send_email", "template": "b-mail"}],
                "exits": [{"id": "done", "event": "user.tag_added", "tag": "a-done"}]}),
]


def tag(user: str, name: str, at: datetime, number: int = 0) -> SchoolEvent:
    return SchoolEvent(id=f"{user}-{name}-{number}", type="user.tag_added", school="s", user=user, occurred_at=at,
                       data={"tag": name})


def registered(user: str, at: datetime) -> SchoolEvent:
    return SchoolEvent(id=f"{user}-reg", type="user.registered", school="s", user=user, occurred_at=at,
                       data={"email": f"{user}@example.org"})


@pytest.fixture
def world(tmp_path):
    worlds = []

    def make(automations, **options) -> ProcessorWorld:
        worlds.append(ProcessorWorld(tmp_path / f"world-{len(worlds)}", automations, **options))
        return worlds[-1]

    yield make
    for made in worlds:
        made.close()


def learners_story(count: int) -> list[SchoolEvent]:
    at_a, at_b = DAY.replace(hour=8, second=1), DAY.replace(hour=8, minute=10, second=2)
    return [e for n in range(count) for e in (registered(f"u{n}", at_a), tag(f"u{n}", "start-a", at_a),
                                               tag(f"u{n}", "start-b", at_b))]


def run_story(made: ProcessorWorld, events: list[SchoolEvent], until: datetime) -> None:
    for event in sorted(events, key=lambda e: e.occurred_at):
        made.tick(event.occurred_at)
        made.deliver(made.event(event))
    made.tick(until)


def test_timers_of_one_learner_due_at_one_instant_fire_in_the_order_they_were_scheduled(world):
    # given two automations whose runs resume at 09:00, the first one's tag ending the second
    made = world(SAME_INSTANT, partitions=4)
    events = learners_story(40)  # 40 learners: run ids hash in both orders among them
    # when each learner starts ra, then rb, and the clock passes 09:00
    run_story(made, events, DAY.replace(hour=10))
    # then no learner gets b-mail: ra fired first, its tag ended rb, as the simulation says
    actions = [(a["user"], a["type"], a.get("template")) for a in made.records(TOPICS.actions)]
    simulated = simulate(SAME_INSTANT, events, DAY.replace(hour=10))
    expected = [(r.user, a.type, getattr(a, "template", None)) for r in simulated.runs for a in r.actions]
    assert sorted(actions) == sorted(expected)
    assert not any(template == "b-mail" for _, _, template in actions)
    ended = {(r["user"], r["automation_id"]): r["status"] for r in made.records(TOPICS.run_status)
             if r["kind"] == "run_status_changed"}
    assert {status for (user, automation_id), status in ended.items() if automation_id == "rb"} == {"completed_via_exit"}


def test_a_restore_from_the_changelog_rebuilds_the_due_time_index_and_its_order(world, tmp_path):
    # given learners whose waits are pending
    made = world(SAME_INSTANT, partitions=2)
    for event in learners_story(10):
        made.tick(event.occurred_at)
        made.deliver(made.event(event))
    # when an empty store of each partition is restored from what the changelog got
    restored = {p: PartitionStore(tmp_path / f"restored-{p}", p) for p in range(2)}
    for partition, key, value in made.changelog:
        made.processor.restored(restored[partition], key, value)
    for store in restored.values():
        store.commit(None)
    # then each holds the same entries and the same due-time index, in the same order
    for partition, store in restored.items():
        original = made.store(partition)
        end = b"\xff" * 20
        assert store.index_range(b"", end, 1000) == original.index_range(b"", end, 1000)
        assert len(store.index_range(b"", end, 1000)) > 0
        keys = store.keys(b"s:")
        assert keys == original.keys(b"s:") and [store.get(k) for k in keys] == [original.get(k) for k in keys]
        store.close()


def test_a_record_in_another_partition_than_its_keys_is_moved_there_and_not_applied(world):
    made = world(SAME_INSTANT, partitions=4)
    event = tag("u7", "start-a", DAY)
    home = partition_of(b"s:u7", 4)
    elsewhere = (home + 1) % 4
    before = metrics.parse(metrics.render()).get(("automations_inputs_moved_total", (("topic", TOPICS.school_events),)), 0)
    # when the event arrives in a partition its key does not hash to
    misplaced = made.event(event, partition=elsewhere)
    outputs = made.deliver(misplaced)
    # then it is sent, as it was, to its key's partition, and nothing else happens
    assert [(o.topic, o.key, o.value, o.partition) for o in outputs] == [
        (TOPICS.school_events, b"s:u7", misplaced.value, home)]
    assert made.store(elsewhere).get(b"s:u7") is None
    after = metrics.parse(metrics.render())[("automations_inputs_moved_total", (("topic", TOPICS.school_events),))]
    assert after == before + 1


def test_an_undecodable_input_is_dead_lettered_and_its_waiting_caller_answered(world):
    made = world(SAME_INSTANT)
    broken = made.input(TOPICS.school_events, b"s:u1", b"not avro", headers=((RECEIPT_HEADER, b"1"),))
    outputs = made.deliver(broken)
    assert [o.topic for o in outputs] == [TOPICS.dead_letter, TOPICS.receipts]
    (letter,) = made.records(TOPICS.dead_letter)
    assert letter["source_topic"] == TOPICS.school_events and letter["value"] == b"not avro"
    assert "undecodable school event" in letter["reason"]
    (receipt,) = made.records(TOPICS.receipts)
    assert receipt["dead_lettered"] == letter["reason"]


def test_an_input_decided_before_decides_and_sends_nothing_again(world):
    made = world(SAME_INSTANT)
    first = made.event(tag("u1", "start-a", DAY))
    assert made.deliver(first)
    # when an operator's reprocessing delivers the same record again
    assert made.deliver(first) == []


def test_an_aborted_batch_leaves_the_store_as_it_was_so_the_input_decides_again(world):
    made = world(SAME_INSTANT)
    first = made.event(tag("u1", "start-a", DAY))
    aborted = made.deliver(first, commit=False)
    again = made.deliver(first)
    assert [(o.topic, o.value) for o in again] == [(o.topic, o.value) for o in aborted]
    assert len([r for r in made.records(TOPICS.run_status) if r["kind"] == "run_started"]) == 2  # once per try


def test_a_burst_of_due_timers_fires_a_bounded_number_per_batch_in_due_order(world):
    made = world(SAME_INSTANT, timers_per_batch=3)
    for n in range(5):
        made.deliver(made.event(tag(f"u{n}", "start-a", DAY.replace(hour=8, minute=n))))
    made.clock.move_to(DAY.replace(hour=10))
    assert made.processor.punctuate(0, made.store(0), made.outputs.append) == 3
    made.store(0).commit(None)
    assert made.tick() == 2


def test_a_definition_change_broadcast_reaches_every_learner_of_the_school_in_the_partition(world):
    made = world(SAME_INSTANT)
    for n in range(3):
        made.deliver(made.event(tag(f"u{n}", "start-a", DAY.replace(hour=8))))
    # when an immediate delete of ra is broadcast to the partition
    change = ApplyDefinitionChange(automation_id="ra", change="deleted_immediate")
    made.deliver(made.input(TOPICS.control, b"s:*", records.control_record(change, "s", "*", DAY.replace(hour=8, minute=5))))
    # then every learner's run of ra is cancelled and no timer is left to fire
    cancelled = [r["user"] for r in made.records(TOPICS.run_status)
                 if r["kind"] == "run_status_changed" and r["status"] == "cancelled"]
    assert sorted(cancelled) == ["u0", "u1", "u2"]
    assert made.tick(DAY.replace(hour=10)) == 0


def test_a_json_school_event_on_the_topic_is_taken_as_its_avro_form_is(world):
    made = world(SAME_INSTANT)
    event = tag("u1", "start-a", DAY)
    as_json = (b'{"id": "u1-start-a-0", "type": "user.tag_added", "school": "s", "user": "u1", '
               b'"occurred_at": "2027-03-01T00:00:00Z", "data": {"tag": "start-a"}}')
    from_json = made.deliver(made.input(TOPICS.school_events, b"s:u1", as_json))
    other = world(SAME_INSTANT)
    from_avro = other.deliver(other.event(event))
    assert [(o.topic, o.value) for o in from_json] == [(o.topic, o.value) for o in from_avro]
    assert any(o.topic == TOPICS.run_status for o in from_json)


@pytest.mark.parametrize("value, reason", [
    (b'{"id": "e1", "type": "user.tag_added"}', "invalid school event"),
    (b'{"id": "e1", "id": "e2"}', "undecodable school event: invalid JSON"),
    (b'{"id": "e1"', "undecodable school event: invalid JSON"),
    (b'{"id": "\xe9"}', "not UTF-8"),
    (b'[1, 2]', "undecodable school event"),
])
def test_json_that_breaks_the_contract_is_dead_lettered_with_the_reason(world, value, reason):
    made = world(SAME_INSTANT)
    outputs = made.deliver(made.input(TOPICS.school_events, b"s:u1", value))
    assert [o.topic for o in outputs] == [TOPICS.dead_letter]
    assert reason in made.records(TOPICS.dead_letter)[0]["reason"]

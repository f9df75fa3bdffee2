"""A virtual world whose run-status records come out as the worker writes them.

`RecordingWorld` is the engine's `VirtualWorld` (the simulator's bookkeeping)
that also keeps, per partition, every run-status record it would have sent:
built by `processors.records.run_status_dict` and put through the Avro codec,
so projections' tests fold exactly what a worker's topic holds.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta, timezone

from engine.catalog import Catalog
from engine.definitions import Automation
from engine.events import route
from engine.school_events import SchoolEvent
from engine.simulation import VirtualWorld, as_simulated
from processors.records import run_status_dict
from schemas.codec import decode, encode

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)
PARTITIONS = 3


def partition_of(school: str, user: str) -> int:
    return zlib.crc32(f"{school}:{user}".encode()) % PARTITIONS


class RecordingWorld(VirtualWorld):
    def __init__(self, automations: list[Automation]):
        super().__init__(Catalog.of(as_simulated(a) for a in automations))
        self.partitions: list[list[dict]] = [[] for _ in range(PARTITIONS)]

    def send(self, command, school: str, user: str, now: datetime):
        outcome = super().send(command, school, user, now)
        for event in outcome.events:
            if route(event) == "run_status":
                record = decode("run_status", encode("run_status", run_status_dict(event, school, user)))
                self.partitions[partition_of(school, user)].append(record)
        return outcome

    def event(self, event_id: str, type_: str, user: str, minutes: float, school: str = "s1", **data):
        at = T0 + timedelta(minutes=minutes)
        event = SchoolEvent(id=event_id, type=type_, school=school, user=user, occurred_at=at, data=data)
        from engine.commands import HandleSchoolEvent

        self.fire_due(at, inclusive=False)
        return self.send(HandleSchoolEvent(event=event), school, user, at)

    @property
    def records(self) -> list[dict]:
        return [record for partition in self.partitions for record in partition]


def automation(id_: str, trigger: dict, flow: list[dict], exits: list[dict] = (), school: str = "s1", **extra) -> Automation:
    return Automation.model_validate(
        {
            "id": id_,
            "school": school,
            "name": extra.pop("name", id_),
            "triggers": [{"id": f"{id_}-t", **trigger}],
            "flow": flow,
            "exits": list(exits),
            **extra,
        }
    )


def mixed_automations() -> list[Automation]:
    """Welcome (actions only), nurture (a wait and an exit), renewal (a wait that fails without its field)."""
    return [
        automation(
            "welcome",
            {"event": "user.tag_added", "tag": "new"},
            [{"id": "hello", "type": "send_email", "template": "hi"}, {"id": "mark", "type": "add_tag", "tag": "welcomed"}],
            groups=["onboarding"],
            name="Welcome new learners",
        ),
        automation(
            "nurture",
            {"event": "course.enrolled"},
            [
                {"id": "intro", "type": "send_email", "template": "intro"},
                {"id": "pause", "type": "wait_duration", "amount": 2, "unit": "days"},
                {"id": "nudge", "type": "send_email", "template": "nudge"},
            ],
            exits=[{"id": "done", "event": "course.completed"}],
            groups=["onboarding", "courses"],
            name="Course nurture",
        ),
        automation(
            "renewal",
            {"event": "certificate.issued"},
            [
                {"id": "notice", "type": "send_email", "template": "notice"},
                {"id": "until-expiry", "type": "wait_field_date", "field": "renew_on"},
                {"id": "remind", "type": "send_email", "template": "remind"},
            ],
            name="Certificate renewal",
        ),
    ]


def play_mixed_flow(world: RecordingWorld) -> None:
    """Every outcome at once: fulfilled, waiting, exited, failed, skipped within 60 s."""
    world.event("r-ada", "user.registered", "ada", 0, email="ada@example.org", fields={})
    world.event("r-bob", "user.registered", "bob", 0, email="bob@example.org", fields={})
    world.event("r-cy", "user.registered", "cy", 0, email="cy@example.org", fields={})
    world.event("t1", "user.tag_added", "ada", 1, tag="new")  # welcome: fulfilled
    world.event("t2", "user.tag_removed", "ada", 1.1, tag="new")
    world.event("t3", "user.tag_added", "ada", 1.2, tag="new")  # within 60 s: skipped
    world.event("e1", "course.enrolled", "ada", 2, course="py")  # nurture: waits
    world.event("e2", "course.enrolled", "bob", 2, course="py")  # nurture: waits, then exits
    world.event("c2", "course.completed", "bob", 10, course="py")
    world.event("e3", "course.enrolled", "cy", 3, course="js")  # nurture: waits
    world.event("x1", "certificate.issued", "cy", 4, certificate="c", course="js", expires_at="2028-01-01")  # fails

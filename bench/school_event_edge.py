"""A school event's bytes to the engine's command, as the learner processor takes them in.

`processors.records.school_event_command` on the two forms the school-events topic
carries: Avro written by our ingest (single-object encoding) and a JSON line from
an outside producer, each validated by the contract (`engine.school_events`).
Events of the engine-core bench's mix (lesson completions, activity, tags,
enrollments, a profile update), CPU time per event (`time.process_time`), best of
`--rounds`. Only `school_event_command` and the Avro encoder are called, so the
same script measures any release: run it from that release's worktree (its code is
imported from the current directory).

    python bench/school_event_edge.py [--rounds 7] [--n 5000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))  # the release measured: the worktree it is run from

from processors.records import school_event_command  # noqa: E402
from schemas.codec import encode  # noqa: E402

AT = "2027-03-01T09:00:00.123Z"
EVENTS = [
    {"type": "lesson.completed", "data": {"course": "course-12", "lesson": "lesson-3"}},
    {"type": "user.activity", "data": {"kind": "page_view"}},
    {"type": "user.tag_added", "data": {"tag": "tag-7"}},
    {"type": "course.enrolled", "data": {"course": "course-12"}},
    {"type": "user.updated", "data": {"email": "ada@school.edu", "fields": {"score": 41, "plan": "pro"}}},
]
_RECORDS = {
    "lesson.completed": "LessonCompleted", "user.activity": "Activity", "user.tag_added": "TagChanged",
    "course.enrolled": "CourseChanged", "user.updated": "UserUpdated",
}


def _avro(event: dict) -> bytes:
    payload = dict(event["data"])
    if event["type"] == "user.updated":
        payload.setdefault("email", None)
    return encode("school_event", {
        "id": event["id"], "type": event["type"], "school": event["school"], "user": event["user"],
        "subject": "user", "occurred_at": datetime(2027, 3, 1, 9, 0, 0, 123000, tzinfo=timezone.utc).isoformat(),
        "data": (f"org.schoolautomations.{_RECORDS[event['type']]}", payload), "cause": [],
    })


def _best(values: list[bytes], rounds: int, n: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(n):
            for value in values:
                school_event_command(value)
        best = min(best, (time.process_time() - started) / (n * len(values)))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n", type=int, default=5_000)
    args = parser.parse_args()
    events = [{"id": f"bench-{n}", "school": "bench-school", "user": f"learner-{n}", "occurred_at": AT, **e}
              for n, e in enumerate(EVENTS)]
    avro = [_avro(event) for event in events]
    lines = [json.dumps(event).encode() for event in events]
    for value in avro + lines:
        school_event_command(value)  # each accepted (raises otherwise)
    print(f"avro: {_best(avro, args.rounds, args.n) * 1e6:.1f} us per event; "
          f"json: {_best(lines, args.rounds, args.n) * 1e6:.1f} us per event")


if __name__ == "__main__":
    main()

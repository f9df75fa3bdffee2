"""Which ingested events the API waits for (ruling 14), also through derived events.

Given active automations of a school; when an event comes in over HTTP; then
the call waits for the worker's receipt exactly when the event could start a
synchronous automation, itself or through the learner events that the actions
of the automations it starts derive (a tag added, a course enrolled, a field
set), so a synchronous automation reached that way is never answered as
asynchronous.
"""

from __future__ import annotations

from datetime import datetime, timezone

from api.views import DefinitionsView
from engine.catalog import Catalog
from engine.school_events import SchoolEvent
from tests.unit.projection_world import automation

AT = datetime(2027, 1, 1, tzinfo=timezone.utc)


def active(id_, trigger, flow, **extra):
    return automation(id_, trigger, flow, status="active", activated_at=AT, **extra)


def view(*automations) -> DefinitionsView:
    definitions = DefinitionsView()
    definitions.catalog = Catalog.of(automations)
    return definitions


def event(type_, subject="user", **data) -> SchoolEvent:
    return SchoolEvent(id="e1", type=type_, school="s1", user="kim", subject=subject, occurred_at=AT, data=data)


def tag(step_id, name):
    return {"id": step_id, "type": "add_tag", "tag": name}


UNLOCK = active("unlock", {"event": "user.tag_added", "tag": "signup-a"},
                [{"id": "enroll", "type": "enroll_in_course", "course": "a-101"}], mode="synchronous")


def test_an_event_that_starts_a_synchronous_automation_itself_waits():
    assert view(UNLOCK).could_run_synchronously(event("user.tag_added", tag="signup-a"))


def test_a_synchronous_automation_reached_through_a_tag_another_adds_waits():
    tagger = active("tagger", {"event": "user.registered"}, [tag("mark", "signup-a")])
    assert view(UNLOCK, tagger).could_run_synchronously(event("user.registered", email="k@example.org"))


def test_chains_through_enrollments_and_fields_count_too():
    enroller = active("enroller", {"event": "user.registered"}, [{"id": "e", "type": "enroll_in_course", "course": "c1"}])
    fielder = active("fielder", {"event": "course.enrolled", "course": "c1"},
                     [{"id": "f", "type": "set_field", "field": "track", "value": "b"}])
    on_field = active("on-field", {"event": "user.updated"}, [tag("t", "signup-a")])
    definitions = view(UNLOCK, enroller, fielder, on_field)
    assert definitions.could_run_synchronously(event("user.registered", email="k@example.org"))


def test_an_action_after_a_wait_counts_rather_than_answer_too_early():
    later = active("later", {"event": "user.registered"},
                   [{"id": "w", "type": "wait_duration", "amount": 1, "unit": "days"}, tag("mark", "signup-a")])
    assert view(UNLOCK, later).could_run_synchronously(event("user.registered", email="k@example.org"))


def test_chains_that_reach_no_synchronous_automation_do_not_wait():
    other_tag = active("other", {"event": "user.registered"}, [tag("mark", "signup-b")])
    mail = active("mail", {"event": "user.registered"}, [{"id": "m", "type": "send_email", "template": "hi"}])
    assert not view(UNLOCK, other_tag, mail).could_run_synchronously(event("user.registered", email="k@example.org"))


def test_automations_that_start_each_other_in_a_loop_end_the_search():
    ping = active("ping", {"event": "user.tag_added", "tag": "a"}, [tag("b", "b")])
    pong = active("pong", {"event": "user.tag_added", "tag": "b"}, [tag("a", "a")])
    assert not view(ping, pong).could_run_synchronously(event("user.tag_added", tag="a"))


def test_chains_longer_than_the_engine_follows_do_not_wait():
    chain = [active(f"c{i}", {"event": "user.tag_added", "tag": f"t{i}"}, [tag("next", f"t{i + 1}")]) for i in range(8)]
    # t5 is derived five deep (cause chain of 5, still matched: engine.decider.MAX_CAUSE_DEPTH), t6 six.
    far = active("far", {"event": "user.tag_added", "tag": "t6"}, [tag("x", "x")], mode="synchronous")
    near = active("near", {"event": "user.tag_added", "tag": "t5"}, [tag("x", "x")], mode="synchronous")
    assert not view(*chain, far).could_run_synchronously(event("user.tag_added", tag="t0"))
    assert view(*chain, near).could_run_synchronously(event("user.tag_added", tag="t0"))


def test_leads_start_nothing():
    assert not view(UNLOCK).could_run_synchronously(event("user.tag_added", subject="lead", tag="signup-a"))

"""Ids for a definition file saved without them (console.lifecycle.with_ids).

Given the saved version of an automation and a file that leaves ids out, then
re-applying the same file keeps every id; a step inserted in front of others
gets a new id while the others keep theirs (so a learner waiting in a wait
stays in it); a step whose settings changed in place keeps its id; and no id
is ever given twice, also when the file names some ids itself (as templates do).
"""

from __future__ import annotations

from console.lifecycle import with_ids
from engine.definitions import iter_steps
from engine.validation import validate_automation
from tests.unit.projection_world import automation

WAIT = {"type": "wait_duration", "amount": 2, "unit": "days"}
HELLO = {"type": "send_email", "template": "hello"}
REMINDER = {"type": "send_email", "template": "reminder"}


def written(flow: list[dict], exits: list[dict] = ()):
    """A file's automation: ids left out (the helper names the trigger; drop that too)."""
    made = automation("a", {"event": "course.enrolled"}, flow, exits=list(exits))
    return made.model_copy(update={"triggers": [t.model_copy(update={"id": None}) for t in made.triggers]})


def ids(saved) -> list[tuple[str, str]]:
    return [(step.type, step.id) for _, step in iter_steps(saved.flow)]


def test_the_same_file_again_keeps_every_id():
    first = with_ids(written([WAIT, REMINDER]), None)

    again = with_ids(written([WAIT, REMINDER]), first)

    assert ids(again) == ids(first) and again.triggers[0].id == first.triggers[0].id


def test_a_step_inserted_in_front_gets_a_new_id_and_the_others_keep_theirs():
    first = with_ids(written([WAIT, REMINDER]), None)
    (_, wait_id), (_, reminder_id) = ids(first)

    edited = with_ids(written([HELLO, WAIT, REMINDER]), first)

    (_, hello_id), wait, reminder = ids(edited)
    assert wait == ("wait_duration", wait_id) and reminder == ("send_email", reminder_id)
    assert hello_id not in (wait_id, reminder_id)


def test_a_step_changed_in_place_keeps_its_id():
    first = with_ids(written([WAIT, REMINDER]), None)

    edited = with_ids(written([{**WAIT, "amount": 3}, REMINDER]), first)

    assert ids(edited) == ids(first)


def test_an_id_the_file_names_is_never_given_to_another_step():
    first = with_ids(written([WAIT, REMINDER]), None)
    (_, wait_id), (_, reminder_id) = ids(first)
    # the template's steps carry their ids; a step added in front carries none
    named = automation("a", {"event": "course.enrolled"},
                       [HELLO, {**WAIT, "id": wait_id}, {**REMINDER, "id": reminder_id}])
    named = named.model_copy(update={"flow": [named.flow[0].model_copy(update={"id": None}), *named.flow[1:]]})

    edited = with_ids(named, first)

    step_ids = [step_id for _, step_id in ids(edited)]
    assert len(set(step_ids)) == 3 and step_ids[1:] == [wait_id, reminder_id]
    assert validate_automation(edited) == []

"""The definitions lifecycle, given / when / then, against ruling 10 and the guide.

given: the events already on the definitions topic; when: one command;
then: the events it becomes (or the rejection), and the state they fold to.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.definitions import Automation
from engine.documents import parse_automation
from engine.lifecycle import (
    ALLOWED,
    ActivateAutomation,
    AutomationActivated,
    AutomationDeactivated,
    AutomationDeleted,
    AutomationDuplicated,
    AutomationImported,
    AutomationRemoved,
    AutomationSaved,
    DeactivateAutomation,
    DefinitionsState,
    DeleteAutomation,
    DuplicateAutomation,
    FinishDeletion,
    ImportAutomation,
    Rejected,
    SaveAutomation,
    decide,
    evolve,
    removed_step_ids,
)

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)


def definition(**fields) -> Automation:
    document = {
        "id": "welcome",
        "school": "school-1",
        "name": "Welcome",
        "triggers": [{"id": "t1", "event": "user.registered"}],
        "flow": [
            {"id": "s1", "type": "send_email", "template": "welcome"},
            {"id": "s2", "type": "wait_duration", "amount": 2, "unit": "days"},
            {"id": "s3", "type": "send_email", "template": "tips"},
        ],
        "exits": [{"id": "x1", "event": "course.completed"}],
        **fields,
    }
    parsed = parse_automation(document)
    assert isinstance(parsed, Automation), parsed
    return parsed


def given(*commands) -> DefinitionsState:
    """Fold the events of commands that must succeed."""
    state = DefinitionsState()
    for command in commands:
        events = decide(command, state)
        assert not isinstance(events, Rejected), events
        for event in events:
            state = evolve(state, event)
    return state


def when(command, state: DefinitionsState):
    return decide(command, state)


def then_state(state: DefinitionsState, events) -> DefinitionsState:
    assert not isinstance(events, Rejected), events
    for event in events:
        state = evolve(state, event)
    return state


SAVED = SaveAutomation(automation=definition(), now=T0)
ACTIVE = ActivateAutomation(automation_id="welcome", now=T0)


# ---------------------------------------------------------------- save


def test_saving_a_new_automation_makes_version_1_inactive():
    events = when(SAVED, given())
    assert events == [
        AutomationSaved(
            automation=definition().model_copy(
                update={"status": "inactive", "version": 1, "last_edited_at": T0}
            )
        )
    ]


def test_saving_ignores_lifecycle_fields_in_the_file():
    sneaky = definition(status="active", version=40, activated_at="2020-01-01T00:00:00Z")
    [saved] = when(SaveAutomation(automation=sneaky, now=T0), given())
    assert (saved.automation.status, saved.automation.version, saved.automation.activated_at) == (
        "inactive", 1, None,
    )


def test_an_edit_bumps_version_and_last_edited_and_keeps_the_status():
    state = given(SAVED, ACTIVE)
    edited = definition(name="Welcome v2")
    [saved] = when(SaveAutomation(automation=edited, now=T1), state)
    assert saved.automation.status == "active"
    assert saved.automation.version == 3  # saved, activated, saved
    assert saved.automation.last_edited_at == T1
    assert saved.automation.activated_at == T0


def test_an_invalid_edit_is_saved_while_inactive():
    invalid = definition(flow=[{"id": "s1", "type": "wait_duration", "amount": 4, "unit": "minutes"}])
    events = when(SaveAutomation(automation=invalid, now=T1), given(SAVED))
    assert [type(e) for e in events] == [AutomationSaved]


def test_an_invalid_edit_is_refused_over_an_active_automation_with_its_problems():
    invalid = definition(flow=[{"id": "s1", "type": "send_email"}, {"id": "s9", "type": "branch"}])
    result = when(SaveAutomation(automation=invalid, now=T1), given(SAVED, ACTIVE))
    assert isinstance(result, Rejected)
    assert result.reason == (
        "automation 'welcome' is active, so this edit cannot be saved over it with 2 problems; "
        "fix them first."
    )
    assert [p.path for p in result.problems] == ["flow[0].template", "flow[1].conditions"]


def test_an_invalid_edit_is_refused_over_a_deactivated_automation_learners_may_still_be_in():
    invalid = definition(flow=[{"id": "s1", "type": "send_email"}])
    state = given(SAVED, ACTIVE, DeactivateAutomation(automation_id="welcome", now=T1))

    result = when(SaveAutomation(automation=invalid, now=T1), state)

    assert isinstance(result, Rejected) and "has been active (learners may still be inside)" in result.reason
    assert [p.path for p in result.problems] == ["flow[0].template"]


def test_an_edit_that_removes_steps_names_them():
    shorter = definition(flow=[{"id": "s1", "type": "send_email", "template": "welcome"}])
    [saved] = when(SaveAutomation(automation=shorter, now=T1), given(SAVED))
    assert saved.removed_step_ids == ("s2", "s3")


def test_saving_needs_every_id():
    no_ids = definition(triggers=[{"event": "user.registered"}], flow=[{"type": "send_email", "template": "w"}])
    assert when(SaveAutomation(automation=no_ids, now=T0), given()) == Rejected(
        reason="every trigger, step and exit condition needs an id before it is saved "
        "(missing at triggers[0], flow[0])."
    )


def test_another_schools_id_cannot_be_saved_over():
    theirs = definition(school="school-2")
    assert when(SaveAutomation(automation=theirs, now=T1), given(SAVED)) == Rejected(
        reason="the id 'welcome' belongs to another school's automation; choose another id."
    )


# ---------------------------------------------------------------- activate / deactivate


def test_activation_stamps_the_moment_and_a_new_version():
    state = given(SAVED)
    events = when(ActivateAutomation(automation_id="welcome", now=T1), state)
    assert events == [AutomationActivated(automation_id="welcome", at=T1, version=2)]
    after = then_state(state, events).automations["welcome"]
    assert (after.status, after.activated_at, after.version) == ("active", T1, 2)


def test_an_invalid_automation_is_not_activated_and_every_problem_is_given():
    invalid = definition(triggers=[], flow=[{"id": "s1", "type": "wait_duration", "amount": 366}])
    result = when(ACTIVE, given(SaveAutomation(automation=invalid, now=T0)))
    assert isinstance(result, Rejected)
    assert result.reason == "automation 'welcome' cannot be activated until 2 problems are fixed."
    assert [(p.path, p.message) for p in result.problems] == [
        ("triggers", "Add a trigger: every automation starts with one."),
        ("flow[0].amount", "A wait can last at most 365 days; this one is 366 days."),
    ]


def test_reactivation_moves_activated_at_to_the_latest_activation():
    state = given(
        SAVED,
        ACTIVE,
        DeactivateAutomation(automation_id="welcome", now=T1),
        ActivateAutomation(automation_id="welcome", now=T2),
    )
    assert state.automations["welcome"].activated_at == T2
    assert state.automations["welcome"].version == 4


def test_deactivation_makes_it_inactive():
    state = given(SAVED, ACTIVE)
    events = when(DeactivateAutomation(automation_id="welcome", now=T1), state)
    assert events == [AutomationDeactivated(automation_id="welcome", at=T1, version=3)]
    assert then_state(state, events).automations["welcome"].status == "inactive"


# ---------------------------------------------------------------- delete


def test_delete_without_learners_removes_at_once():
    state = given(SAVED, ACTIVE)
    events = when(DeleteAutomation(automation_id="welcome", has_learners_inside=False, now=T1), state)
    assert events == [
        AutomationDeleted(automation_id="welcome", mode="immediate", at=T1, version=3),
        AutomationRemoved(automation_id="welcome", at=T1),
    ]
    after = then_state(state, events)
    assert after.automations == {}
    assert after.deleted == {"welcome"}


def test_an_immediate_delete_moves_the_version_workers_wait_for_before_the_removal():
    state = given(SAVED, ACTIVE)
    deleted, _ = when(DeleteAutomation(automation_id="welcome", has_learners_inside=True, mode="immediate", now=T1), state)

    assert then_state(state, [deleted]).automations["welcome"].version == deleted.version == 3
    # the definitions record the workers' broadcast waits on names that version
    from processors.definitions_log import to_record

    _, record = to_record(deleted, then_state(state, [deleted]), state)
    assert (record["event"], record["mode"], record["version"]) == ("deleted", "immediate", 3)


def test_delete_with_learners_inside_needs_a_mode():
    result = when(DeleteAutomation(automation_id="welcome", has_learners_inside=True, now=T1), given(SAVED))
    assert result == Rejected(
        reason="learners are inside automation 'welcome': choose finishing (let them complete) "
        "or immediate (remove them and cancel their pending steps)."
    )


def test_finishing_delete_keeps_it_read_only_until_the_last_learner_leaves():
    state = given(
        SAVED,
        ACTIVE,
        DeleteAutomation(automation_id="welcome", mode="finishing", has_learners_inside=True, now=T1),
    )
    assert state.automations["welcome"].status == "finishing"
    read_only = "cannot {} automation 'welcome': it is finishing, and read-only until its last learner leaves."
    assert when(SaveAutomation(automation=definition(name="x"), now=T2), state) == Rejected(
        reason=read_only.format("save")
    )
    assert when(ActivateAutomation(automation_id="welcome", now=T2), state) == Rejected(
        reason=read_only.format("activate")
    )
    assert when(DeactivateAutomation(automation_id="welcome", now=T2), state) == Rejected(
        reason=read_only.format("deactivate")
    )
    events = when(FinishDeletion(automation_id="welcome", now=T2), state)
    assert events == [AutomationRemoved(automation_id="welcome", at=T2)]
    assert then_state(state, events).deleted == {"welcome"}


def test_a_finishing_automation_can_still_be_deleted_immediately_but_not_finished_twice():
    state = given(
        SAVED, DeleteAutomation(automation_id="welcome", mode="finishing", has_learners_inside=True, now=T1)
    )
    again = DeleteAutomation(automation_id="welcome", mode="finishing", has_learners_inside=True, now=T2)
    assert isinstance(when(again, state), Rejected)
    now = DeleteAutomation(automation_id="welcome", mode="immediate", has_learners_inside=True, now=T2)
    assert [type(e) for e in when(now, state)] == [AutomationDeleted, AutomationRemoved]


def test_immediate_delete_with_learners_inside_removes_at_once():
    events = when(
        DeleteAutomation(automation_id="welcome", mode="immediate", has_learners_inside=True, now=T1),
        given(SAVED, ACTIVE),
    )
    assert events == [
        AutomationDeleted(automation_id="welcome", mode="immediate", at=T1, version=3),
        AutomationRemoved(automation_id="welcome", at=T1),
    ]


def test_a_deleted_id_is_never_reused():
    state = given(SAVED, DeleteAutomation(automation_id="welcome", has_learners_inside=False, now=T1))
    assert when(SaveAutomation(automation=definition(), now=T2), state) == Rejected(
        reason="cannot save automation 'welcome': it was deleted."
    )


@pytest.mark.parametrize(
    "command, verb",
    [
        (DuplicateAutomation(automation_id="welcome", new_id="copy", now=T0), "duplicate"),
        (DeleteAutomation(automation_id="welcome", has_learners_inside=False, now=T0), "delete"),
        (ActivateAutomation(automation_id="welcome", now=T0), "activate"),
    ],
)
def test_a_never_saved_automation_cannot_be_duplicated_deleted_or_activated(command, verb):
    assert when(command, given()) == Rejected(
        reason=f"cannot {verb} automation 'welcome': it has never been saved."
    )


# ---------------------------------------------------------------- duplicate, import, export


def test_duplicate_copies_triggers_and_flow_but_never_exit_conditions():
    state = given(SAVED, ACTIVE)
    [duplicated] = when(DuplicateAutomation(automation_id="welcome", new_id="welcome-2", now=T1), state)
    assert isinstance(duplicated, AutomationDuplicated)
    copy = duplicated.automation
    source = state.automations["welcome"]
    assert (copy.id, copy.name, copy.status, copy.version) == ("welcome-2", "Welcome (copy)", "inactive", 1)
    assert (copy.triggers, copy.flow, copy.exits) == (source.triggers, source.flow, [])
    assert (copy.last_edited_at, copy.activated_at) == (T1, None)
    assert duplicated.note == (
        "1 exit condition(s) of 'welcome' were not copied: exit conditions cannot be copied or "
        "duplicated. Add them to the copy if it needs them."
    )
    assert then_state(state, [duplicated]).automations["welcome-2"] == copy


def test_duplicate_takes_a_new_name_and_needs_a_free_id():
    state = given(SAVED, SaveAutomation(automation=definition(id="other"), now=T0))
    [duplicated] = when(DuplicateAutomation(automation_id="welcome", new_id="w2", new_name="Hello", now=T1), state)
    assert duplicated.automation.name == "Hello"
    assert when(DuplicateAutomation(automation_id="welcome", new_id="other", now=T1), state) == Rejected(
        reason="cannot duplicate into 'other': that id is already taken."
    )


def test_a_finishing_automation_can_be_duplicated():
    state = given(
        SAVED, DeleteAutomation(automation_id="welcome", mode="finishing", has_learners_inside=True, now=T1)
    )
    [duplicated] = when(DuplicateAutomation(automation_id="welcome", new_id="w2", now=T2), state)
    assert duplicated.automation.status == "inactive"


def test_export_then_import_moves_the_whole_definition_including_exits():
    exported = given(SAVED, ACTIVE).automations["welcome"].model_dump(mode="json")
    elsewhere = given()
    imported = parse_automation(exported)
    events = when(ImportAutomation(automation=imported, now=T2), elsewhere)
    assert events == [
        AutomationImported(
            automation=definition().model_copy(
                update={"status": "inactive", "version": 1, "last_edited_at": T2}
            )
        )
    ]
    assert then_state(elsewhere, events).automations["welcome"].exits == definition().exits


def test_import_does_not_overwrite():
    assert when(ImportAutomation(automation=definition(), now=T1), given(SAVED)) == Rejected(
        reason="cannot import automation 'welcome': that id is already in use; save over it "
        "instead, or change the id in the file."
    )


# ---------------------------------------------------------------- the table and the fold

EVERY_COMMAND = {
    SaveAutomation: SaveAutomation(automation=definition(), now=T2),
    ImportAutomation: ImportAutomation(automation=definition(), now=T2),
    ActivateAutomation: ActivateAutomation(automation_id="welcome", now=T2),
    DeactivateAutomation: DeactivateAutomation(automation_id="welcome", now=T2),
    DeleteAutomation: DeleteAutomation(automation_id="welcome", mode="immediate", has_learners_inside=True, now=T2),
    DuplicateAutomation: DuplicateAutomation(automation_id="welcome", new_id="fresh", now=T2),
    FinishDeletion: FinishDeletion(automation_id="welcome", now=T2),
}
EVERY_STANDING = {
    "unsaved": (),
    "inactive": (SAVED,),
    "active": (SAVED, ACTIVE),
    "finishing": (
        SAVED, DeleteAutomation(automation_id="welcome", mode="finishing", has_learners_inside=True, now=T1)
    ),
    "deleted": (SAVED, DeleteAutomation(automation_id="welcome", has_learners_inside=False, now=T1)),
}


@pytest.mark.parametrize("standing_name", EVERY_STANDING)
@pytest.mark.parametrize("command_type", EVERY_COMMAND, ids=lambda t: t.__name__)
def test_the_transition_table_decides_what_is_legal(command_type, standing_name):
    result = when(EVERY_COMMAND[command_type], given(*EVERY_STANDING[standing_name]))
    assert isinstance(result, Rejected) != (standing_name in ALLOWED[command_type])


def test_events_about_unknown_automations_change_nothing():
    state = given(SAVED)
    assert evolve(state, AutomationActivated(automation_id="ghost", at=T1, version=9)) == state


def test_removed_step_ids_looks_inside_branches():
    old = definition(
        flow=[
            {"id": "b", "type": "branch", "conditions": [{"type": "has_tag", "tag": "x"}],
             "yes": [{"id": "y1", "type": "send_email", "template": "a"}],
             "no": [{"id": "n1", "type": "wait_duration", "amount": 1}]},
        ]
    )
    new = definition(flow=[{"id": "y1", "type": "send_email", "template": "a"}])
    assert removed_step_ids(old, new) == {"b", "n1"}
    assert removed_step_ids(new, old) == set()

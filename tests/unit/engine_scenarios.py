"""Given / when / then runner for the engine's YAML scenarios (tests/unit/scenarios/engine).

A scenario file reads against the product guide line by line:

    scenario: what is promised            # shown on failure
    promise: the guide's words or the ruling number
    given:
      automations: [...]                  # definitions; school "s", active since 2027-01-01 by default
      events: [...]                       # the learner's past (same form as `when` events)
    when:                                 # in order, each at its `at` (the clock only moves forward)
      - event: {type: user.tag_added, data: {tag: x}, at: 2027-03-01T09:00:00Z}
      - advance_to: 2027-03-04T09:00:00Z  # timers due up to then fire
      - replay: {run: 1, command_id: c1}  # run numbers count from 1 in start order
      - cancel: {run: 1, command_id: c2}
      - advance_waiting: {automation: a, step: w, command_id: c3}
      - change: {automation: a, change: saved, definition: {...}, removed: [w]}
      - expect: {runs: [...]}             # a `then` checked at this point of the story
    then:
      runs:                               # every run, in start order
        - {automation: a, status: fulfilled, trigger: t, exit: x, steps: [s1:done, w:waiting],
           actions: [send_email:welcome], reason: "substring", error: "substring", replay_of: 1}
      skipped: 1
      declined: [{automation: a, reason: "substring"}]
      learner: {tags: [x], fields: {plan: pro}}
      timers: 0                           # timers still pending
      rejected: ["substring"]

Mismatches are collected and reported numbered, all at once.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.catalog import Catalog
from engine.commands import AdvanceWaiting, ApplyDefinitionChange, CancelRun, HandleSchoolEvent, ReplayRun
from engine.definitions import Automation
from engine.school_events import parse_school_event
from engine.simulation import VirtualWorld
from tests import strict_yaml

SCENARIOS = Path(__file__).parent / "scenarios" / "engine"
EXAMPLE_AUTOMATIONS = Path(__file__).resolve().parents[2] / "examples" / "automations"
SCHOOL, USER = "s", "u1"
DEFAULT_ACTIVATION = datetime(2027, 1, 1, tzinfo=timezone.utc)


def instant(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def automation(raw: dict) -> Automation:
    data = {"school": SCHOOL, "name": raw.get("id", "automation"), "status": "active", **raw}
    if data["status"] == "active":
        data.setdefault("activated_at", DEFAULT_ACTIVATION)
    return Automation.model_validate(data)


class Scenario:
    def __init__(self, spec: dict):
        self.spec = spec
        self.automations = {a.id: a for a in map(automation, spec.get("given", {}).get("automations", []))}
        self.world = VirtualWorld(Catalog.of(self.automations.values()))
        self.counter = 0
        self.rejected: list[str] = []
        self.problems: list[str] = []

    def run(self) -> list[str]:
        for raw in self.spec.get("given", {}).get("events", []):
            self.event(raw)
        for action in self.spec.get("when", []):
            ((verb, argument),) = action.items()
            getattr(self, verb)(argument)
        return self.problems + self.check(self.spec.get("then", {}))

    def expect(self, then: dict) -> None:
        self.problems += [f"at {self.world.clock.isoformat()}: {p}" for p in self.check(then)]

    # ---------------------------------------------------------------- when

    def _now(self, at: Any) -> datetime:
        return instant(at) if at is not None else self.world.clock

    def event(self, raw: dict) -> None:
        self.counter += 1
        school, user = raw.get("school", SCHOOL), raw.get("user", USER)
        data = {
            "id": raw.get("id", f"e{self.counter}"),
            "type": raw["type"],
            "school": school,
            "user": user,
            "subject": raw.get("subject", "user"),
            "occurred_at": instant(raw["at"]).isoformat(),
            "data": raw.get("data", {}),
        }
        parsed = parse_school_event(data)
        assert not hasattr(parsed, "reason"), f"scenario event is invalid: {parsed}"
        self.world.fire_due(parsed.occurred_at, inclusive=False)
        now = instant(raw["now"]) if "now" in raw else parsed.occurred_at
        self._send(HandleSchoolEvent(event=parsed), school, user, now)

    def advance_to(self, at: Any) -> None:
        self.world.fire_due(instant(at), inclusive=True)
        self.world.clock = max(self.world.clock or instant(at), instant(at))

    def _send(self, command, school: str, user: str, now: datetime) -> None:
        outcome = self.world.send(command, school, user, now)
        if outcome.rejected is not None:
            self.rejected.append(outcome.rejected.reason)

    def _run_id(self, number: int) -> str:
        return self.world.report()[number - 1].run_id

    def replay(self, arg: dict) -> None:
        command = ReplayRun(run_id=self._run_id(arg["run"]), command_id=arg.get("command_id", "replay-1"))
        self._send(command, SCHOOL, arg.get("user", USER), self._now(arg.get("at")))

    def cancel(self, arg: dict) -> None:
        command = CancelRun(run_id=self._run_id(arg["run"]), command_id=arg.get("command_id", "cancel-1"))
        self._send(command, SCHOOL, arg.get("user", USER), self._now(arg.get("at")))

    def advance_waiting(self, arg: dict) -> None:
        command = AdvanceWaiting(automation_id=arg["automation"], step_id=arg["step"], command_id=arg.get("command_id", "adv-1"))
        self.world.broadcast(command, SCHOOL, self._now(arg.get("at")))

    def change(self, arg: dict) -> None:
        automation_id, change = arg["automation"], arg["change"]
        if change in ("deleted_immediate",):
            self.automations.pop(automation_id, None)
        elif "definition" in arg:
            self.automations[automation_id] = automation({"id": automation_id, **arg["definition"]})
        elif change in ("deactivated", "deleted_finishing", "activated"):
            status = {"deactivated": "inactive", "deleted_finishing": "finishing", "activated": "active"}[change]
            self.automations[automation_id] = self.automations[automation_id].model_copy(update={"status": status})
        self.world.catalog = Catalog.of(self.automations.values())
        command = ApplyDefinitionChange(
            automation_id=automation_id, change=change, removed_step_ids=tuple(arg.get("removed", ()))
        )
        self.world.broadcast(command, SCHOOL, self._now(arg.get("at")))

    # ---------------------------------------------------------------- then

    def check(self, then: dict) -> list[str]:
        problems: list[str] = []
        runs = self.world.report()
        if "runs" in then:
            expected = then["runs"]
            if len(expected) != len(runs):
                shown = [f"{r.automation_id}:{r.status}" for r in runs]
                problems.append(f"expected {len(expected)} runs, got {len(runs)}: {shown}")
            for number, (want, got) in enumerate(zip(expected, runs), start=1):
                problems += [f"run {number}: {p}" for p in self._check_run(want, got, runs)]
        if "skipped" in then and len(self.world.skipped) != then["skipped"]:
            problems.append(f"expected {then['skipped']} skipped entries, got {len(self.world.skipped)}")
        for want in then.get("declined", []):
            if not any(
                d.automation_id == want["automation"] and want.get("reason", "") in d.reason for d in self.world.declined
            ):
                seen = [(d.automation_id, d.reason) for d in self.world.declined]
                problems.append(f"expected a declined entry {want}, saw {seen}")
        if "timers" in then and len(self.world.timers) != then["timers"]:
            problems.append(f"expected {then['timers']} pending timers, got {sorted(self.world.timers)}")
        for want in then.get("rejected", []):
            if not any(want in reason for reason in self.rejected):
                problems.append(f"expected a rejection containing {want!r}, saw {self.rejected}")
        if "rejected" in then and not then["rejected"] and self.rejected:
            problems.append(f"expected no rejection, saw {self.rejected}")
        if "learner" in then:
            state = self.world.states[f"{SCHOOL}:{then['learner'].get('user', USER)}"]
            for name, want in then["learner"].items():
                if name == "user":
                    continue
                got = getattr(state, name)
                got = sorted(got) if isinstance(got, frozenset) else got
                if got != want:
                    problems.append(f"learner {name}: expected {want!r}, got {got!r}")
        return problems

    def _check_run(self, want: dict, got, runs) -> list[str]:
        problems = []
        simple = {
            "automation": "automation_id",
            "status": "status",
            "trigger": "trigger_id",
            "exit": "exit_id",
            "user": "user",
            "mode": "mode",
        }
        for key, attribute in simple.items():
            if key in want and getattr(got, attribute) != want[key]:
                problems.append(f"{key}: expected {want[key]!r}, got {getattr(got, attribute)!r}")
        for key in ("reason", "error"):
            if key in want and (getattr(got, key) is None or want[key] not in getattr(got, key)):
                problems.append(f"{key}: expected to contain {want[key]!r}, got {getattr(got, key)!r}")
        if "steps" in want:
            steps = [f"{h['step_id']}:{h['outcome']}" for h in got.history if h["kind"] == "step"]
            if steps != want["steps"]:
                problems.append(f"steps: expected {want['steps']}, got {steps}")
        if "actions" in want:
            actions = [f"{a.type}:{a.template or a.tag or a.course or a.program or a.product or a.field}" for a in got.actions]
            if actions != want["actions"]:
                problems.append(f"actions: expected {want['actions']}, got {actions}")
        if "replay_of" in want:
            original = runs[want["replay_of"] - 1].run_id
            if got.replay_of != original:
                problems.append(f"replay_of: expected run {want['replay_of']} ({original}), got {got.replay_of}")
        return problems


def load(path: Path) -> dict:
    return strict_yaml.load(path.read_text())

"""What the learners table holds per `school:user`, and how it is (de)serialised.

Besides the engine's `LearnerState` it keeps the outputs of the learner's
last few inputs, keyed by where each input sits in Kafka (topic/partition/
offset). Why: after a crash Faust re-delivers inputs since the last committed
offset, but the table changelog may already hold their effects while some of
their outputs never reached the broker. Deciding again from the newer state
would then lose those outputs (e.g. a run counts as started, so its actions
are never sent). Instead the stored outputs are sent again: a duplicate with
the same idempotency key, never a loss.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from engine.learner import LearnerState

RECENT_INPUTS_KEPT = 32

Output = tuple[str, bytes]  # (audience, encoded record)


@dataclass
class LearnerEntry:
    state: LearnerState
    recent: dict[str, list[Output]] = field(default_factory=dict)

    def outputs_of(self, input_id: str) -> list[Output] | None:
        return self.recent.get(input_id)

    def remember(self, input_id: str, outputs: list[Output]) -> None:
        self.recent[input_id] = outputs
        while len(self.recent) > RECENT_INPUTS_KEPT:
            del self.recent[next(iter(self.recent))]


def load(raw: bytes | None, school: str, user: str) -> LearnerEntry:
    if raw is None:
        return LearnerEntry(LearnerState.new(school, user))
    envelope = json.loads(raw)
    recent = {
        input_id: [(audience, base64.b64decode(value)) for audience, value in outputs]
        for input_id, outputs in envelope["recent"]
    }
    return LearnerEntry(LearnerState.model_validate(envelope["state"]), recent)


def dump(entry: LearnerEntry) -> bytes:
    envelope = {
        "state": entry.state.model_dump(mode="json"),
        "recent": [
            [input_id, [[audience, base64.b64encode(value).decode()] for audience, value in outputs]]
            for input_id, outputs in entry.recent.items()
        ],
    }
    return json.dumps(envelope, separators=(",", ":")).encode()

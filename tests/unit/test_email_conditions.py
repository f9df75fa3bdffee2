"""'User email is', plain and as a regular expression: the guide's example, and letter case."""

import pytest

from engine import definitions as d
from engine.conditions import holds
from engine.learner import LearnerState

GUIDE_PATTERN = r"^(kate|kathreine|katerina)@gmail\.com$"


def email_is(value: str, regex: bool) -> d.EmailIs:
    return d.EmailIs(type="email_is", value=value, regex=regex)


def learner(email: str) -> LearnerState:
    return LearnerState(school="s", user="u", email=email)


@pytest.mark.parametrize("email, matches", [
    ("kate@gmail.com", True),
    ("kathreine@gmail.com", True),
    ("katerina@gmail.com", True),
    ("Kate@Gmail.com", True),  # the same mailbox: case is ignored, as by the plain condition
    ("KATERINA@GMAIL.COM", True),
    ("kate@gmail.com.evil.org", False),
    ("xkate@gmail.com", False),
    ("kate@gmailxcom", False),
    ("kat@gmail.com", False),
])
def test_the_guide_s_regular_expression(email, matches):
    assert holds(email_is(GUIDE_PATTERN, regex=True), learner(email)) == (matches, email)


def test_an_unanchored_pattern_matches_anywhere_in_the_address():
    assert holds(email_is("gmail", regex=True), learner("ann@GMAIL.com"))[0] is True
    assert holds(email_is("^gmail", regex=True), learner("ann@gmail.com"))[0] is False


@pytest.mark.parametrize("email, matches", [("Ann@Example.com", True), ("ann@example.com", True), ("ann@example.co", False)])
def test_the_plain_condition_compares_whole_addresses_ignoring_case(email, matches):
    assert holds(email_is("ann@example.com", regex=False), learner(email))[0] is matches

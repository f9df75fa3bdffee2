"""The guide's confirmations on the command line: `--yes`, a terminal's answer, or a stop."""

import pytest

import console.errors as errors
from console.errors import CliError, confirmed


class Terminal:
    def __init__(self, answer: bool | None):
        self.answer, self.asked = answer, []

    def isatty(self) -> bool:
        return self.answer is not None


@pytest.fixture
def terminal(monkeypatch):
    def at(answer: bool | None) -> Terminal:
        stdin = Terminal(answer)
        monkeypatch.setattr(errors.sys, "stdin", stdin)
        monkeypatch.setattr(errors.typer, "confirm", lambda question, default: stdin.asked.append((question, default)) or stdin.answer)
        return stdin

    return at


def test_yes_goes_on_without_asking(terminal):
    stdin = terminal(False)

    confirmed("Delete a1? This cannot be undone.", yes=True)

    assert stdin.asked == []


def test_a_terminal_is_asked_and_no_is_the_default(terminal):
    stdin = terminal(True)
    confirmed("Delete a1? This cannot be undone.", yes=False)
    assert stdin.asked == [("Delete a1? This cannot be undone.", False)]

    terminal(False)
    with pytest.raises(CliError, match="Nothing was done; add --yes to confirm"):
        confirmed("Delete a1? This cannot be undone.", yes=False)


def test_without_a_terminal_the_command_stops_with_the_question(terminal):
    terminal(None)

    with pytest.raises(CliError) as stopped:
        confirmed("Delete a1? This cannot be undone.", yes=False)

    assert str(stopped.value) == "Delete a1? This cannot be undone. Nothing was done; add --yes to confirm."

"""Every YAML file of the tests and examples reads without a key given twice.

PyYAML keeps the last of two equal keys, so a scenario that lost its `- name:` line
merged into the one before it and never ran; the fixture loader now refuses that.
"""

from pathlib import Path

import pytest
import yaml

from tests import strict_yaml

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(p for folder in ("tests", "examples") for p in (ROOT / folder).rglob("*.y*ml"))


def test_a_key_given_twice_is_refused():
    with pytest.raises(yaml.constructor.ConstructorError, match="the key 'given' appears twice"):
        strict_yaml.load("- name: a\n  given: 1\n  when: 2\n  given: 3\n")


@pytest.mark.parametrize("path", FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_fixture_and_example_has_each_key_once(path):
    assert strict_yaml.load(path.read_text()) is not None

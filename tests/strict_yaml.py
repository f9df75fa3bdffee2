"""YAML for test fixtures, read as PyYAML's safe loader does but refusing a key given twice.

A list item that lost its `- name:` line silently merged into the item before it
(PyYAML keeps the last of two equal keys), and that scenario never ran.
"""

from __future__ import annotations

from typing import Any

import yaml


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} appears twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load(text: str) -> Any:
    return yaml.load(text, Loader=_UniqueKeyLoader)

"""Reading automation files: text -> mapping -> model, with every problem located.

Owns `load_document` (JSON or YAML text to a mapping, or a `DocumentProblem`
with line and column), `parse_automation` (a mapping to an `Automation`, or a
list of `Problem`s whose paths read like `flow[3].yes[0].amount`) and the
`Problem` value itself. Neither function raises on bad input.

YAML is read with YAML 1.2 habits, because YAML 1.1 quietly changes what an
administrator wrote: the branch keys `yes:` and `no:` would become booleans,
`12:30` the number 750 and `2027-03-01` a date object. Anchors and aliases are
refused, so a small file cannot expand into an enormous one, and so are explicit
tags (`!!float`) and, in JSON, a key given twice. `document_problems` names
what no automation may hold however it was read (text that is not Unicode,
numbers past 64 bits or not finite, nesting deeper than 64 levels).
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from typing import Any, Callable, Mapping, get_args

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from engine import definitions as d
from engine import strict_json
from engine.nested import is_container, walk


class Problem(BaseModel):
    """One thing wrong with a definition: where (document path) and what, in plain words."""

    model_config = ConfigDict(frozen=True)

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class DocumentProblem(BaseModel):
    """A file that is not readable JSON/YAML, or not a single automation mapping."""

    model_config = ConfigDict(frozen=True)

    filename: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.filename, self.line, self.column) if p is not None)
        return f"{where}: {self.message}"


# ---------------------------------------------------------------- values every tool can carry

# Past these, a definition that parses could not be saved or run: the store's
# serialiser stops at about 250 levels, Avro numbers are 64-bit, and Kafka's
# records are UTF-8. A branch nests two levels (its list and its step), so this
# still allows branches about 30 deep.
MAX_DOCUMENT_DEPTH = 64
_LONG_RANGE = range(-(2**63), 2**63)


def document_problems(raw: Any) -> list[Problem]:
    """What no automation may hold, wherever it is: text that is not Unicode, a number
    out of the 64-bit range or not finite, nesting deeper than MAX_DOCUMENT_DEPTH."""
    problems: list[Problem] = []
    too_deep = False
    for value, path, depth in walk(raw, "", _child_path, MAX_DOCUMENT_DEPTH):
        if isinstance(value, str):
            if not _is_unicode(value):
                problems.append(Problem(path=path, message="This text holds a character that is not valid Unicode."))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if value not in _LONG_RANGE:
                problems.append(Problem(path=path, message=f"This number is too large: numbers lie between "
                                        f"{_LONG_RANGE.start} and {_LONG_RANGE.stop - 1}."))
        elif isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                problems.append(Problem(path=path, message="Numbers must be finite (not NaN or infinity)."))
        elif is_container(value) and depth >= MAX_DOCUMENT_DEPTH:
            if not too_deep:  # the first spot says it; its siblings would only repeat it
                problems.append(Problem(path=path, message=f"This is nested too deeply (more than {MAX_DOCUMENT_DEPTH} levels)."))
            too_deep = True
        elif isinstance(value, dict):
            problems += [Problem(path=_child_path(path, key), message="This key holds a character that is not valid Unicode.")
                         for key in value if isinstance(key, str) and not _is_unicode(key)]
    return problems


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON's \ud800 escapes can make
        return False
    return True


def _child_path(path: str, key: Any) -> str:
    if isinstance(key, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key) if isinstance(key, str) else key}]"


# ---------------------------------------------------------------- text -> mapping


def load_document(text: str, filename: str) -> dict | DocumentProblem:
    """JSON for `.json` files (or text starting with `{`), YAML otherwise."""
    as_json = filename.lower().endswith(".json") or (
        not filename.lower().endswith((".yaml", ".yml")) and text.lstrip().startswith("{")
    )
    try:
        data = strict_json.loads(text) if as_json else yaml.load(text, Loader=_DefinitionLoader)
    except json.JSONDecodeError as error:
        return DocumentProblem(
            filename=filename,
            line=error.lineno,
            column=error.colno,
            message=f"this is not valid JSON: {error.msg}.",
        )
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        reason = ", ".join(part for part in (error.context, error.problem) if part) or "unreadable"
        return DocumentProblem(
            filename=filename,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            message=f"this is not valid YAML: {reason}.",
        )
    except yaml.reader.ReaderError as error:
        line, column = _line_and_column(text, error.position)
        return DocumentProblem(
            filename=filename,
            line=line,
            column=column,
            message=f"the file contains a character that is not allowed ({chr(error.character)!r}).",
        )
    except RecursionError:
        return DocumentProblem(filename=filename, message="the file is nested too deeply to read.")
    except ValueError as error:  # a repeated JSON key, NaN, a number of over 4,300 digits
        if "digits" in str(error):
            return DocumentProblem(filename=filename, message="the file holds a number too long to read (over 4,300 digits).")
        return DocumentProblem(filename=filename, message=f"this is not valid JSON: {error}.")
    if data is None:
        return DocumentProblem(filename=filename, message="the file is empty.")
    if not isinstance(data, dict):
        return DocumentProblem(
            filename=filename,
            line=1,
            column=1,
            message="the file must hold one automation: a mapping with keys such as "
            f"id, school, name, triggers and flow (found {_kind(data)}).",
        )
    return data


class _DefinitionLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 scalars, no aliases and no duplicate keys."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (*name) are not supported", event.start_mark
            )
        event = self.peek_event()
        if getattr(event, "tag", None) is not None and event.tag != "!":
            # `!!float`, `!!timestamp`...: types an automation never needs, and some of
            # them make the YAML reader itself fail on an odd value.
            raise yaml.composer.ComposerError(
                None, None, f"explicit tags ({event.tag}) are not supported", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is not None and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key '{key}' appears twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _DefinitionDumper(yaml.SafeDumper):
    """Writes what `_DefinitionLoader` reads back unchanged: the same scalar rules, no aliases."""

    def ignore_aliases(self, data):
        return True

    def represent_str(self, data):
        # PyYAML folds these line breaks away in plain and single-quoted text
        # when writing unicode; double quotes escape them.
        style = '"' if any(c in data for c in "\x85\u2028\u2029") else None
        return self.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_DefinitionDumper.add_representer(str, _DefinitionDumper.represent_str)


def _yaml_12_scalars(cls) -> None:
    cls.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag.rsplit(":", 1)[-1] not in
                ("bool", "int", "float", "timestamp")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    for tag, pattern, first in (
        ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
        ("int", r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+)$", "-+0123456789"),
        ("float", r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+|[0-9][0-9_]*(?=[eE]))(?:[eE][-+]?[0-9]+)?"
                  r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+0123456789."),
    ):
        cls.add_implicit_resolver(f"tag:yaml.org,2002:{tag}", re.compile(pattern), list(first))


_yaml_12_scalars(_DefinitionLoader)
_yaml_12_scalars(_DefinitionDumper)


def dump_yaml(data: Any) -> str:
    """YAML text for a plain mapping (an exported automation), keys in their given order."""
    return yaml.dump(data, Dumper=_DefinitionDumper, sort_keys=False, allow_unicode=True)


def locate(text: str, path: str) -> tuple[int, int] | None:
    """Line and column (1-based) of a document path's key in the text, or of its
    nearest parent that exists (a missing setting points at its step); None
    when the text does not parse or the path is the whole document."""
    return locator(text)(path)


def locator(text: str) -> Callable[[str], tuple[int, int] | None]:
    """`locate` for many paths of one text: the text is read once, not once per path."""
    try:
        root = yaml.compose(text, Loader=_DefinitionLoader)
    except (yaml.YAMLError, RecursionError, ValueError):
        return lambda path: None

    def where(path: str) -> tuple[int, int] | None:
        node, mark = root, None
        for part in _path_parts(path):
            if isinstance(node, yaml.MappingNode):
                pair = next((kv for kv in node.value if getattr(kv[0], "value", None) == part), None)
                if pair is None:
                    break
                mark, node = pair[0].start_mark, pair[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                mark = node.start_mark
            else:
                break
        return (mark.line + 1, mark.column + 1) if mark else None

    return where


def _path_parts(path: str) -> list:
    parts: list = []
    for name, index, quoted in re.findall(r'\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]', path):
        parts.append(name or (int(index) if index else json.loads(quoted)))
    return parts


def _line_and_column(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


# ---------------------------------------------------------------- mapping -> model


def parse_automation(raw: Any) -> d.Automation | list[Problem]:
    """The model, or every shape problem (unknown key, wrong type, unknown step...) at once."""
    if not isinstance(raw, Mapping):
        return [Problem(path="", message=f"An automation must be a mapping of keys, not {_kind(raw)}.")]
    try:
        return d.Automation.model_validate(dict(raw))
    except ValidationError as error:
        problems: dict[str, Problem] = {}
        for item in error.errors(include_url=False):
            problem = _describe(item)
            problems.setdefault(problem.path, problem)
        return list(problems.values())
    except RecursionError:
        return [Problem(path="", message="The document is nested too deeply to read.")]


def without_unknown_keys(raw: Any) -> dict | None:
    """`raw` with the keys the model does not know removed, when those are its only shape
    problems (so the rules can still be checked and reported with them); else None."""
    if not isinstance(raw, Mapping):
        return None
    try:
        d.Automation.model_validate(dict(raw))
        return None
    except ValidationError as error:
        errors = error.errors(include_url=False)
    except RecursionError:
        return None
    if not errors or any(item["type"] != "extra_forbidden" for item in errors):
        return None
    stripped = copy.deepcopy(dict(raw))
    for item in errors:
        _delete(stripped, item["loc"])
    return stripped


def _delete(document: Any, loc: tuple) -> None:
    """Remove the key at a pydantic location; elements the document lacks (a union's
    tag, such as a step's type) are skipped on the way."""
    node = document
    for element in loc[:-1]:
        if isinstance(node, list) and isinstance(element, int) and 0 <= element < len(node):
            node = node[element]
        elif isinstance(node, Mapping) and element in node:
            node = node[element]
    if isinstance(node, dict):
        node.pop(loc[-1], None)


def _union_members(annotated: Any) -> dict[str, type[BaseModel]]:
    union = get_args(annotated)[0]
    return {get_args(m.model_fields["type"].annotation)[0]: m for m in get_args(union)}


STEP_TYPES = _union_members(d.Step)
CONDITION_TYPES = _union_members(d.Condition)
_STEP_LISTS = {"flow", "yes", "no"}


def _describe(item: dict) -> Problem:
    parts, model, through_union = _walk(item["loc"], item["type"])
    kind, value, ctx = item["type"], item.get("input"), item.get("ctx") or {}
    field = parts[-1] if parts else ""
    path = _format(parts)
    if kind == "missing":
        return Problem(path=path, message=f"'{field}' is missing; it is required here.")
    if kind == "extra_forbidden":
        allowed = sorted(model.model_fields) if model else []
        return Problem(path=path, message=_unknown("setting", str(field), allowed))
    if kind == "invalid_key":
        return Problem(path=_format(parts[:-1]), message=f"Keys must be text; found {value!r}.")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        is_step = _container(parts) in _STEP_LISTS
        what, tags = ("step", STEP_TYPES) if is_step else ("condition", CONDITION_TYPES)
        if kind == "union_tag_not_found":
            return Problem(
                path=path,
                message=f"Say what kind of {what} this is with 'type' "
                f"(one of: {', '.join(tags)}).",
            )
        return Problem(path=f"{path}.type", message=_unknown(f"{what} type", str(ctx.get("tag")), list(tags)))
    if through_union:
        return Problem(path=path, message=f"Expected text, a number or true/false here, found {_kind(value)}.")
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", ctx.get("expected", ""))
        return Problem(path=path, message=_unknown("choice", str(value), allowed))
    return Problem(path=path, message=_TYPE_MESSAGES.get(kind, item["msg"] + ".").format(found=_kind(value)))


_TYPE_MESSAGES = {
    "model_type": "Expected a mapping of settings (key: value) here, found {found}.",
    "model_attributes_type": "Expected a mapping of settings (key: value) here, found {found}.",
    "dict_type": "Expected a mapping of settings (key: value) here, found {found}.",
    "list_type": "Expected a list here, found {found}.",
    "string_type": "Expected text here, found {found}.",
    "int_type": "Expected a whole number here, found {found}.",
    "int_parsing": "Expected a whole number here, found {found}.",
    "int_from_float": "Expected a whole number here, found {found}.",
    "float_type": "Expected a number here, found {found}.",
    "float_parsing": "Expected a number here, found {found}.",
    "bool_type": "Expected true or false here, found {found}.",
    "bool_parsing": "Expected true or false here, found {found}.",
    "datetime_type": "Expected a date and time such as 2027-03-01T09:00:00Z here, found {found}.",
    "datetime_parsing": "Expected a date and time such as 2027-03-01T09:00:00Z here, found {found}.",
    "datetime_from_date_parsing": "Expected a date and time such as 2027-03-01T09:00:00Z here, found {found}.",
    "recursion_loop": "This part is nested too deeply to read.",
    "recursion_depth_exceeded": "This part is nested too deeply to read; a flow holds at most 200 steps.",
}


def _walk(loc: tuple, kind: str) -> tuple[list, type[BaseModel] | None, bool]:
    """The document path of a pydantic location, the model it ends in, and whether
    it went through a plain union (pydantic names the union member in the location;
    an administrator never wrote that, so it is dropped)."""
    parts: list = []
    model: type[BaseModel] | None = d.Automation
    through_union = False
    for position, element in enumerate(loc):
        last = position == len(loc) - 1
        after_index = bool(parts) and isinstance(parts[-1], int)
        if isinstance(element, int) or last and kind in ("extra_forbidden", "invalid_key"):
            parts.append(element)
        elif after_index and element in STEP_TYPES and _container(parts) in _STEP_LISTS:
            model = STEP_TYPES[element]
        elif after_index and element in CONDITION_TYPES:
            model = CONDITION_TYPES[element]
        elif model is not None and element in model.model_fields:
            parts.append(element)
            model = _inner_model(model.model_fields[element].annotation)
        else:
            through_union = True
    return parts, model, through_union


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """Trigger for list[Trigger], RunBefore for RunBefore | None; None for unions of models."""
    candidates = [annotation, *get_args(annotation)]
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    if len(models) == 1:
        return models[0]
    nested = [m for c in get_args(annotation) if (m := _inner_model(c)) is not None]
    return nested[0] if len(nested) == 1 else None


def _container(parts: list) -> Any:
    """The name of the list the last index points into (`flow`, `yes`, `conditions`...)."""
    names = [p for p in parts if isinstance(p, str)]
    return names[-1] if names else None


def _format(parts: list) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


def _unknown(what: str, name: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"Unknown {what} {_show(name)}.{hint} Allowed here: {', '.join(allowed)}."


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, (int, float)):
        return f"the number {_show(value)}"
    if isinstance(value, str):
        return f"the text {_show(value)}"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

"""Read a YAML configuration file and check it against its JSON Schema, naming the key and line.

analytics.yaml and schedules/*.yaml each have a JSON Schema in the repository's ``schemas/``
folder; editors use the same files (the ``# yaml-language-server: $schema=...`` comment at
the top of each YAML file) to autocomplete keys and flag typos while typing. Loading a file:

1. parse the YAML once into nodes (which know their line numbers) and values;
2. validate the values against the schema (jsonschema, Draft 2020-12): unknown keys, wrong
   types, values outside an enum or a range;
3. raise :class:`~fawkes_analytics.errors.ConfigError` for the first problem in the file,
   naming the file, the line, the dotted key (``funnels[0].steps``) and what is allowed.

Each loader then checks what a schema cannot express (cron syntax, time zones, durations,
unique names) and uses :meth:`ConfigFile.line` to point at the line as well.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from . import atomic, settings
from .errors import ConfigError
from .settings import PROJECT_ROOT

SCHEMAS_DIR = PROJECT_ROOT / "schemas"
_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}
_PY_NAMES = {dict: "a mapping", list: "a list", str: "text", bool: "a boolean", int: "a number", float: "a number"}


@cache
def schema(name: str) -> dict[str, Any]:
    """The JSON Schema ``schemas/<name>.schema.json``."""
    return json.loads((SCHEMAS_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))


# libyaml's parser when PyYAML was built with it (ten times faster; the same nodes and marks).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parts_of(key: str) -> list[str | int]:
    """``funnels[0].steps`` -> ``['funnels', 0, 'steps']`` (the inverse of :func:`dotted`)."""
    return [int(index) if index else name for name, index in _PART.findall(key)]


def with_line(exc: ConfigError, config: ConfigFile) -> ConfigError:
    """``exc`` with the line of its key added when it has none (errors raised by parsers that
    only know the dotted key)."""
    if exc.line is not None or exc.path != str(config.path):
        return exc
    return ConfigError(exc.path, exc.key, exc.problem, config.line(parts_of(exc.key)))


def dotted(parts: Sequence[str | int]) -> str:
    """``['funnels', 0, 'steps']`` -> ``funnels[0].steps``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _type_name(value: Any) -> str:
    return "empty" if value is None else _PY_NAMES.get(type(value), type(value).__name__)


def _types(sub: dict[str, Any]) -> str:
    types = sub.get("type")
    types = [types] if isinstance(types, str) else types or []
    return " or ".join(_TYPE_NAMES.get(t, t) for t in types) or "see the schema"


def _describe(sub: dict[str, Any]) -> str:
    """What a schema allows, in words."""
    if "description" in sub:
        return sub["description"].rstrip(".")
    if "enum" in sub:
        return ", ".join(str(v) for v in sub["enum"])
    if "oneOf" in sub or "anyOf" in sub:
        return " or ".join(_describe(s) for s in sub.get("oneOf") or sub.get("anyOf") or [])
    return _types(sub)


@dataclass
class ConfigFile:
    """One parsed YAML file: its values, its nodes (for line numbers) and where it came from."""

    path: Path
    data: Any
    root: yaml.Node | None

    @classmethod
    def read(cls, path: str | Path) -> ConfigFile:
        """Parse ``path``; unreadable files and bad YAML raise ConfigError with the line."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(str(path), "(file)", "file not found") from None
        except OSError as exc:
            raise ConfigError(str(path), "(file)", f"cannot be read: {exc.strerror}") from None
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            where = f" at column {mark.column + 1}" if mark is not None else ""
            problem = " ".join(filter(None, [getattr(exc, "context", None), getattr(exc, "problem", None)])) or str(exc)
            raise ConfigError(str(path), "(file)", f"not valid YAML{where}: {problem}", line) from None
        finally:
            loader.dispose()
        return cls(path, data, root)

    def line(self, parts: Sequence[str | int]) -> int | None:
        """The 1-based line of the key (or list item) at ``parts``, or of its nearest parent."""
        node, line = self.root, (self.root.start_mark.line + 1 if self.root is not None else None)
        for part in parts:
            if isinstance(node, yaml.MappingNode):
                match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
                if match is None:
                    return line
                line, node = match[0].start_mark.line + 1, match[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line

    def error(self, parts: Sequence[str | int], problem: str) -> ConfigError:
        """A ConfigError for the key at ``parts`` (dotted in the message), with its line."""
        return ConfigError(str(self.path), dotted(parts), problem, self.line(parts))

    def validate(self, schema_name: str) -> None:
        """Check the values against ``schemas/<schema_name>.schema.json``; raise the first problem.

        A valid file is confirmed by a compiled validator (fastjsonschema: milliseconds, so the
        command line stays fast); only a file with a problem goes through jsonschema, whose
        errors carry what the explanation needs (and whose import takes seconds here).
        """
        if _is_valid(schema_name, self.data):
            return
        from jsonschema import Draft202012Validator

        validator = Draft202012Validator(schema(schema_name))
        errors = list(validator.iter_errors(self.data))
        if not errors:
            return
        problems = [self._explain(e) for e in errors]
        parts, problem = min(problems, key=lambda item: (self.line(item[0]) or 0, -len(item[0])))
        raise self.error(parts, problem)

    def _explain(self, error: Any) -> tuple[list[str | int], str]:
        """The key path and a sentence for one jsonschema error."""
        parts: list[str | int] = list(error.absolute_path)
        sub, value, kind = error.schema, error.instance, error.validator
        if kind == "additionalProperties":
            allowed = sorted(sub.get("properties", {}))
            patterns = [p.replace("[0-9]+", "<N>").strip("^$") for p in sub.get("patternProperties", {})]
            extra = [k for k in value if k not in allowed and not _matches_pattern(k, sub)]
            return [*parts, extra[0]], f"unknown key (allowed: {', '.join(allowed + patterns)})"
        if kind == "required":
            missing = [k for k in error.validator_value if k not in value]
            return [*parts, missing[0]], "is required"
        while parts and isinstance(parts[-1], int) and kind in ("enum", "type", "minLength"):
            # an item of a list of plain values: name the list, the message shows the item
            if not isinstance(self._value_at(parts[:-1]), list):
                break
            parts = parts[:-1]
        if kind == "enum":
            return parts, f"{value!r} is not allowed (allowed: {', '.join(str(v) for v in error.validator_value)})"
        if kind == "type":
            return parts, f"must be {_types(sub)}, got {_type_name(value)} {value!r}"
        if kind in ("oneOf", "anyOf"):
            wanted = _describe(sub)
            if wanted.startswith(("a ", "an ")):
                return parts, f"{value!r} is not {wanted}"
            return parts, f"{value!r} is not allowed (allowed: {wanted})"
        if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            low, high = sub.get("minimum", sub.get("exclusiveMinimum")), sub.get("maximum")
            if low is not None and high is not None:
                return parts, f"{value!r} must be from {low} to {high}"
            if kind == "exclusiveMinimum":
                return parts, f"{value!r} must be greater than {error.validator_value}"
            bound = ">=" if kind == "minimum" else "<="
            return parts, f"{value!r} must be {bound} {error.validator_value}"
        if kind in ("minItems", "minProperties"):
            return parts, f"must have at least {error.validator_value} item(s)"
        if kind == "minLength":
            return parts, "must not be empty"
        if kind == "pattern":
            return parts, f"{value!r} is not allowed (allowed: {_describe(sub)})"
        return parts, error.message

    def _value_at(self, parts: Sequence[str | int]) -> Any:
        value = self.data
        for part in parts:
            value = value[part]
        return value


@cache
def _compiled(name: str) -> Callable[[Any], Any]:
    """The compiled validator of schema ``name``. Generating it takes longer than the rest of a
    light command, so the generated module is kept in the user's cache folder, under the hash of
    the schema (a changed schema gets a new file), and imported from there like any module."""
    import hashlib
    import importlib.util

    import fastjsonschema

    text = json.dumps(schema(name), sort_keys=True)
    module_name = f"{name.replace('-', '_')}_{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    path = settings.user_cache_dir() / "validators" / f"{module_name}.py"
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_text(path, fastjsonschema.compile_to_code(schema(name)))
        except OSError:  # a read-only home: compile in memory, every time
            return fastjsonschema.compile(schema(name))
    spec = importlib.util.spec_from_file_location(f"fawkes_validators.{module_name}", path)
    if spec is None or spec.loader is None:
        return fastjsonschema.compile(schema(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from fastjsonschema.ref_resolver import RefResolver

    validate: Callable[[Any], Any] = getattr(module, RefResolver.from_schema(schema(name)).get_scope_name())
    return validate


def _is_valid(schema_name: str, data: Any) -> bool:
    import fastjsonschema

    try:
        _compiled(schema_name)(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _matches_pattern(key: str, sub: dict[str, Any]) -> bool:
    return any(re.search(pattern, key) for pattern in sub.get("patternProperties", {}))


def load(path: str | Path, schema_name: str) -> ConfigFile:
    """Read ``path`` and validate it against ``schemas/<schema_name>.schema.json``."""
    config = ConfigFile.read(path)
    config.validate(schema_name)
    return config

"""Rule files to a :class:`~rules.engine.RuleSet`: every value checked, every error placed.

A path is one YAML file or a folder of them (``*.yaml``, ``*.yml``, searched
recursively, read in name order). A file is a list of rules, or a mapping with
a ``rules`` list. Errors read ``file:line: rule 'id': reason``.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "r.yaml").write_text('''
... - id: cheap_views
...   description: many views, no orders
...   version: 1
...   when: views_1h > 100 and orders_1h == 0
...   then: {action: review_price}
... ''')
>>> load_rules(folder).rules_for("tick")[0].id
'cheap_views'
>>> _ = (folder / "r.yaml").write_text(
...     "- id: bad\\n  description: d\\n  version: 1\\n  when: view_1h > 1\\n  then: {action: alert}\\n")
>>> try:
...     load_rules(folder / "r.yaml")
... except RuleValidationError as exc:
...     print(exc.line, exc.rule_id, exc.reason)
4 bad when: unknown fact 'view_1h' (did you mean 'views_1h'?)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rules.engine import RuleSet
from rules.exceptions import RuleError, RuleLoadError, RuleSyntaxError, RuleValidationError
from rules.reader import RuleReader
from rules.rule import Rule
from rules.source import line_of, parse_yaml

#: Suffixes of rule files in a folder.
RULE_FILE_SUFFIXES = (".yaml", ".yml")


def load_rules(path: Path | str) -> RuleSet:
    """Load, check and compile the rules at ``path``; raise the first error found."""
    rules, errors = collect_rules(path)
    if errors:
        raise errors[0]
    return RuleSet(rules, source=str(path))


def collect_rules(path: Path | str) -> tuple[list[Rule], list[RuleError]]:
    """Every valid rule at ``path`` and every error, in file order (for ``pulse rules check``)."""
    rules: list[Rule] = []
    errors: list[RuleError] = []
    seen: dict[str, str] = {}
    try:
        files = rule_files(Path(path))
    except RuleError as exc:
        return [], [exc]
    for file in files:
        for node in _file_items(file, errors):
            try:
                rule = RuleReader(node, str(file)).read()
            except RuleError as exc:
                errors.append(exc)
                continue
            if rule.id in seen:
                reason = f"duplicate rule id (first defined at {seen[rule.id]})"
                errors.append(
                    RuleValidationError(reason, file=rule.file, line=rule.line, rule_id=rule.id)
                )
                continue
            seen[rule.id] = f"{rule.file}:{rule.line}"
            rules.append(rule)
    return rules, errors


def rule_files(path: Path) -> list[Path]:
    """The rule files at ``path``: the file itself, or a folder's YAML files in name order."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise RuleLoadError("no such rule file or folder", file=str(path))
    files = sorted(p for p in path.rglob("*") if p.suffix in RULE_FILE_SUFFIXES and p.is_file())
    if not files:
        raise RuleLoadError("no rule files (*.yaml, *.yml) in this folder", file=str(path))
    return files


def _file_items(file: Path, errors: list[RuleError]) -> list[Any]:
    """The rule nodes of one file; a file-level problem is appended to ``errors``."""
    try:
        text = file.read_text(encoding="utf-8")
        root = parse_yaml(text, str(file))
        return _items(root, str(file))
    except UnicodeDecodeError:
        errors.append(RuleSyntaxError("not UTF-8 text", file=str(file)))
    except OSError as exc:
        errors.append(RuleLoadError(f"cannot read: {exc.strerror or exc}", file=str(file)))
    except RuleError as exc:
        errors.append(exc)
    return []


def _items(root: Any, file: str) -> list[Any]:
    shape = "a rule file is a list of rules, or a mapping with one key, 'rules', holding that list"
    if root is None:
        raise RuleValidationError("the file holds no rules", file=file, line=1)
    if isinstance(root, yaml.MappingNode):
        keys = [k.value for k, _ in root.value]
        if keys != ["rules"]:
            raise RuleValidationError(shape, file=file, line=line_of(root))
        root = root.value[0][1]
    if not isinstance(root, yaml.SequenceNode):
        raise RuleValidationError(shape, file=file, line=line_of(root))
    if not root.value:
        raise RuleValidationError("the file holds no rules", file=file, line=line_of(root))
    return list(root.value)

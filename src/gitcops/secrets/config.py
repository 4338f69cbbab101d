"""``.sops.yaml`` creation rules: which age recipients and rules a new file is encrypted with.

Like sops, the config is found by walking up from a directory, and the first creation rule
whose ``path_regex`` matches (or that has none) applies. ``path_regex`` is searched in the
file's path relative to the config's directory, with forward slashes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitcops.model.errors import SecretError
from gitcops.secrets.keys import parse_recipients
from gitcops.secrets.metadata import OTHER_KEY_TYPES
from gitcops.secrets.tree import EncryptionRules
from gitcops.secrets.yamlio import YamlError, load_documents

__all__ = ["CONFIG_NAMES", "CreationRule", "find_config", "rule_for"]

CONFIG_NAMES = (".sops.yaml", ".sops.yml")
_UNSUPPORTED = ("encrypted_comment_regex", "unencrypted_comment_regex")


@dataclass(frozen=True)
class CreationRule:
    recipients: list[str]
    rules: EncryptionRules


def find_config(start: Path) -> Path | None:
    """The nearest ``.sops.yaml`` in ``start`` (a directory, or a file's directory) or above."""
    directory = start if start.is_dir() else start.parent
    for candidate_dir in (directory.resolve(), *directory.resolve().parents):
        for name in CONFIG_NAMES:
            candidate = candidate_dir / name
            if candidate.is_file():
                return candidate
    return None


def rule_for(config_path: Path, file_path: Path) -> CreationRule:
    rules = _creation_rules(config_path)
    relative = _relative(config_path.parent, file_path)
    for index, rule in enumerate(rules):
        where = f"{config_path}: creation_rules[{index}]"
        if not isinstance(rule, dict):
            raise SecretError(f"{where} is not a mapping")
        pattern = rule.get("path_regex")
        if pattern is not None:
            if not isinstance(pattern, str):
                raise SecretError(f"{where}.path_regex is not a string")
            try:
                if re.search(pattern, relative) is None:
                    continue
            except re.error as exc:
                raise SecretError(f"{where}.path_regex is invalid: {exc}") from None
        return _rule(rule, where)
    raise SecretError(f"{config_path}: no creation rule matches {relative}")


def _creation_rules(config_path: Path) -> list[Any]:
    try:
        documents = load_documents(config_path.read_bytes())
    except OSError as exc:
        raise SecretError(f"{config_path} cannot be read: {exc.strerror}") from None
    except YamlError as exc:
        raise SecretError(f"{config_path}: {exc}") from None
    config = documents[0] if documents else None
    rules = config.get("creation_rules") if isinstance(config, dict) else None
    if not isinstance(rules, list):
        raise SecretError(f"{config_path} has no creation_rules list")
    return rules


def _relative(base: Path, file_path: Path) -> str:
    candidate = file_path
    if file_path.is_absolute() or base.is_absolute():
        try:
            candidate = file_path.resolve().relative_to(base.resolve())
        except ValueError:
            candidate = file_path
    return candidate.as_posix()


def _rule(rule: dict[str, Any], where: str) -> CreationRule:
    for name in _UNSUPPORTED:
        if rule.get(name):
            raise SecretError(f"{where}.{name} is not supported by gitcops")
    group: dict[str, Any] = rule
    groups = rule.get("key_groups")
    if groups is not None:
        if not isinstance(groups, list) or len(groups) != 1 or not isinstance(groups[0], dict):
            count = len(groups) if isinstance(groups, list) else "invalid"
            raise SecretError(
                f"{where}.key_groups: only one key group is supported (Shamir secret sharing "
                f"is not), found {count}"
            )
        group = groups[0]
    others = [kind for kind in OTHER_KEY_TYPES if group.get(kind)]
    if others:
        raise SecretError(
            f"{where} lists {', '.join(others)} keys; gitcops supports only age recipients"
        )
    age = group.get("age")
    if not isinstance(age, str | list) or not age:
        raise SecretError(f"{where} lists no age recipients")
    try:
        recipients = parse_recipients(age)
    except SecretError as exc:
        raise SecretError(f"{where}.age: {exc}") from None
    except AttributeError:
        raise SecretError(f"{where}.age must be a string or a list of strings") from None
    rules = EncryptionRules.from_mapping(rule, f"{where}.")
    rules.effective(where)  # reject two selectors or a bad regex now, not at encryption
    return CreationRule(recipients, rules)

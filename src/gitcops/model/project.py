"""The Project document (gitcops.yaml): environments, providers, approvals, drift modes."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gitcops.model.diagnostics import Diagnostic
from gitcops.model.errors import GitcopsError, InvalidInputError

PROJECT_FILE = "gitcops.yaml"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _dns_label(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("must be lower-case letters, digits and '-' (a DNS label)")
    return value


class DriftMode(StrEnum):
    DETECT = "detect"
    WARN = "warn"
    HEAL = "heal"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Approvals(_Strict):
    required: int = Field(default=0, ge=0)
    approvers: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _enough_approvers(self) -> Approvals:
        if self.approvers and self.required > len(self.approvers):
            raise ValueError(
                f"requires {self.required} approvals but names only {len(self.approvers)} approvers"
            )
        return self


class Environment(_Strict):
    name: str
    path: str
    drift: DriftMode = DriftMode.DETECT
    approvals: Approvals = Field(default_factory=Approvals)
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        return _dns_label(value)


class Metadata(_Strict):
    name: str  # scopes the state: "<project>/<environment>"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        return _dns_label(value)


class ProjectSpec(_Strict):
    environments: list[Environment] = Field(min_length=1)
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique_environments(self) -> ProjectSpec:
        seen: set[str] = set()
        for env in self.environments:
            if env.name in seen:
                raise ValueError(f"environment {env.name!r} is declared twice")
            seen.add(env.name)
        return self


class Project(_Strict):
    api_version: Literal["gitcops.io/v1"] = Field(alias="apiVersion")
    kind: Literal["Project"]
    metadata: Metadata
    spec: ProjectSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    def environment(self, name: str) -> Environment:
        for env in self.spec.environments:
            if env.name == name:
                return env
        known = ", ".join(e.name for e in self.spec.environments)
        raise UnknownEnvironmentError(f"environment {name!r} is not in {PROJECT_FILE} ({known})")

    def provider_config(self, env: Environment, provider: str) -> dict[str, Any]:
        """Top-level provider settings with the environment's overrides on top."""
        merged = dict(self.spec.providers.get(provider, {}))
        merged.update(env.providers.get(provider, {}))
        return merged

    def provider_names(self, env: Environment) -> set[str]:
        return set(self.spec.providers) | set(env.providers)

    @classmethod
    def parse(cls, document: Any, file: str = PROJECT_FILE) -> Project:
        if not isinstance(document, dict):
            raise InvalidInputError([Diagnostic("must be a mapping (a Project document)", file)])
        try:
            return cls.model_validate(document)
        except ValidationError as exc:
            raise InvalidInputError(
                [
                    Diagnostic(
                        _pydantic_message(err),
                        file,
                        "document 1 (Project)",
                        tuple(p for p in err["loc"] if isinstance(p, str | int)),
                    )
                    for err in exc.errors()
                ]
            ) from None


class UnknownEnvironmentError(GitcopsError):
    pass


def _pydantic_message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown field"
    if err["type"] == "missing":
        return "required field is missing"
    message = str(err["msg"])
    return message.removeprefix("Value error, ")

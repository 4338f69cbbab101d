"""The Project document (gitcops.yaml): environments, providers, approvals, drift modes.

Plain records (NamedTuples and dataclasses), checked against a JSON Schema like every resource
is: a run that finds its project in the render cache builds these from a trusted dict without
loading a validator.
"""

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, NamedTuple

from gitcops.model.diagnostics import Diagnostic
from gitcops.model.drift import ENVIRONMENT_MODES, IgnoreRule, pointer_problem
from gitcops.model.drift import DriftMode as DriftMode  # re-exported: a Project's type
from gitcops.model.errors import InvalidInputError
from gitcops.model.paths import normalize, path_problem

PROJECT_FILE = "gitcops.yaml"
_WHERE = "document 1 (Project)"
_DNS_LABEL = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_SETTINGS: dict[str, Any] = {
    "type": "object",
    "description": "provider instance name -> its settings (the type's schema checks the rest)",
    "propertyNames": {"pattern": "^[a-z][a-z0-9-]{0,62}$"},
    "additionalProperties": {
        "type": "object",
        "properties": {
            "type": {
                "type": "string",
                "pattern": "^[a-z][a-z0-9-]{0,62}$",
                "description": "the provider type (default: the instance's name)",
            }
        },
    },
}

_ENABLED: dict[str, Any] = {"type": "boolean"}
_SECRETS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "ageKeyFile": {
            "type": "string",
            "minLength": 1,
            "description": "age identities on the machine that runs gitcops (~ is expanded)",
        },
    },
}
_SELECTOR: dict[str, Any] = {"type": "string", "minLength": 1}
# Argo CD's ResourceIgnoreDifferences. jqPathExpressions and managedFieldsManagers pass the
# schema only to be refused with a reason (see _ignore_problems).
IGNORE_DIFFERENCES: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "group": _SELECTOR,
            "kind": _SELECTOR,
            "name": _SELECTOR,
            "namespace": _SELECTOR,
            "jsonPointers": {"type": "array", "items": {"type": "string"}},
            "jqPathExpressions": {"type": "array"},
            "managedFieldsManagers": {"type": "array"},
        },
    },
}
_DATE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ].*)?$"
POLICY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "namespaces": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "planNamespaces": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "builtin": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "requiredLabels": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "enabled": _ENABLED,
                        "labels": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "worldWritable": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"enabled": _ENABLED},
                },
                "plaintextSecrets": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"enabled": _ENABLED},
                },
                "secretScanning": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"enabled": _ENABLED},
                },
                "blastRadius": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "enabled": _ENABLED,
                        "maxDeleteShare": {"type": "number", "minimum": 0, "maximum": 1},
                        "minResources": {"type": "integer", "minimum": 0},
                    },
                },
            },
        },
        "exceptions": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["rule", "owner", "reason", "expires"],
                "properties": {
                    "rule": {"type": "string", "minLength": 1},
                    "resources": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "kind": {"type": "string"},
                            "name": {"type": "string"},
                            "namespace": {"type": "string"},
                            "labels": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                        },
                    },
                    "files": {"type": "array", "items": {"type": "string", "minLength": 1}},
                    "environments": {"type": "array", "items": {"type": "string"}},
                    "owner": {"type": "string", "minLength": 1},
                    "reason": {"type": "string", "minLength": 1},
                    "expires": {"type": "string", "pattern": _DATE},
                },
            },
        },
    },
}


class EventKind(StrEnum):
    """What the agent notifies about: a sink of spec.notifications subscribes to some of them
    (docs/notifications.md)."""

    APPLIED = "applied"
    FAILED = "failed"
    ROLLED_BACK = "rolledBack"
    DRIFT_DETECTED = "driftDetected"
    DRIFT_HEALED = "driftHealed"
    SOURCE_UNREACHABLE = "sourceUnreachable"


NOTIFICATION_EVENTS = tuple(kind.value for kind in EventKind)
NOTIFICATION_TYPES = ("webhook", "slack")
NOTIFICATIONS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "events"],
        # (only of a mapping: anything else is named once, as not an object)
        "if": {"type": "object"},
        "then": {"oneOf": [{"required": ["url"]}, {"required": ["urlRef"]}]},
        "properties": {
            "type": {"enum": list(NOTIFICATION_TYPES)},
            "url": {"type": "string", "minLength": 1},
            "urlRef": {
                "type": "object",
                "additionalProperties": False,
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "minLength": 1},
                    "key": {"type": "string", "minLength": 1},
                },
            },
            "events": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"enum": list(NOTIFICATION_EVENTS)},
            },
            "environments": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"type": "string", "minLength": 1},
            },
        },
    },
}

APPROVALS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "required": {"type": "integer", "minimum": 0},
        "approvers": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "allowedSigners": {
            "type": "string",
            "minLength": 1,
            "description": "OpenSSH allowed-signers file (in the repository): approver names "
            "and their public keys",
        },
        "riskAbove": {
            "type": "object",
            "additionalProperties": False,
            "required": ["score", "required"],
            "properties": {
                "score": {"type": "integer", "minimum": 0, "maximum": 100},
                "required": {"type": "integer", "minimum": 1},
            },
        },
    },
}
SIGNED_COMMITS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["allowedSigners"],
    "properties": {
        "allowedSigners": {
            "type": "string",
            "minLength": 1,
            "description": "OpenSSH allowed-signers file (in the repository) for SSH-signed "
            "commits; GPG-signed ones are checked against gpgKeys",
        },
        "gpgKeys": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[0-9A-Fa-f]{16,40}$"},
            "description": "fingerprints (or long key ids) of the GPG keys allowed to sign",
        },
    },
}
_DURATION = "^[0-9]+(s|m|h|d)$"
PROMOTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["from"],
    "properties": {
        "from": {"type": "string", "pattern": _DNS_LABEL},
        "soak": {"type": "string", "pattern": _DURATION, "description": "e.g. 30m, 2h, 1d"},
    },
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "gitcops.io/v1"},
        "kind": {"const": "Project"},
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": _DNS_LABEL},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["environments"],
            "properties": {
                "environments": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "path"],
                        "properties": {
                            "name": {"type": "string", "pattern": _DNS_LABEL},
                            "path": {"type": "string", "minLength": 1},
                            "drift": {"enum": list(ENVIRONMENT_MODES)},
                            "approvals": APPROVALS_SCHEMA,
                            "signedCommits": SIGNED_COMMITS_SCHEMA,
                            "promotion": PROMOTION_SCHEMA,
                            "providers": _SETTINGS,
                            "secrets": _SECRETS,
                            "ignoreDifferences": IGNORE_DIFFERENCES,
                        },
                    },
                },
                "providers": _SETTINGS,
                "policy": POLICY_SCHEMA,
                "secrets": _SECRETS,
                "notifications": NOTIFICATIONS_SCHEMA,
                "ignoreDifferences": IGNORE_DIFFERENCES,
            },
        },
    },
}


# SCHEMA without its policy and notifications sections, which are more than half of it:
# compiling a schema costs ~7 ms per KB, once per process, and a first run (no cache yet) pays
# it before anything else. Those sections are compiled only for projects that have them.
_SCHEMA_SANS_POLICY: dict[str, Any] = {
    **SCHEMA,
    "properties": {
        **SCHEMA["properties"],
        "spec": {
            **SCHEMA["properties"]["spec"],
            "properties": {
                **SCHEMA["properties"]["spec"]["properties"],
                "policy": {"type": "object"},
                "notifications": {"type": "array"},
            },
        },
    },
}
_SECTIONS = (("policy", POLICY_SCHEMA), ("notifications", NOTIFICATIONS_SCHEMA))


def _surely_valid(document: dict[str, Any]) -> bool:
    """SCHEMA's verdict in the common case, valid, without compiling all of it; on a False,
    SCHEMA itself names every problem."""
    from gitcops.model.schema import schema_valid

    if not schema_valid(_SCHEMA_SANS_POLICY, document):
        return False
    spec = document["spec"]  # the skeleton requires it, as a mapping
    return all(name not in spec or schema_valid(schema, spec[name]) for name, schema in _SECTIONS)


class Approvals(NamedTuple):
    """Who must approve what an environment runs (docs/approvals.md)."""

    required: int = 0
    approvers: tuple[str, ...] = ()
    allowed_signers: str | None = None  # a path in the repository
    risk_score: int | None = None  # above this risk score ...
    risk_required: int = 0  # ... this many approvals are needed

    def needed(self, risk: int) -> int:
        if self.risk_score is not None and risk > self.risk_score:
            return max(self.required, self.risk_required)
        return self.required

    @property
    def gated(self) -> bool:
        return self.required > 0 or self.risk_score is not None


class SignedCommits(NamedTuple):
    allowed_signers: str  # a path in the repository
    gpg_keys: tuple[str, ...] = ()


class Promotion(NamedTuple):
    source: str  # the environment a revision must have run in first
    soak: float = 0.0  # seconds it must have stayed healthy there


def duration_seconds(text: str) -> float:
    """'30m' -> 1800.0 (s, m, h, d)."""
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[text[-1]]
    return float(int(text[:-1]) * unit)


class Environment(NamedTuple):
    name: str
    path: str
    providers: dict[str, dict[str, Any]]  # no default: a NamedTuple's would be shared
    drift: DriftMode = DriftMode.DETECT
    approvals: Approvals = Approvals()
    age_key_file: str | None = None  # overrides the project's
    ignore_differences: tuple[IgnoreRule, ...] = ()  # added to the project's
    signed_commits: SignedCommits | None = None
    promotion: Promotion | None = None


def _approvals(data: dict[str, Any]) -> Approvals:
    risk = data.get("riskAbove")
    return Approvals(
        int(data.get("required", 0)),
        tuple(data.get("approvers", ())),
        data.get("allowedSigners"),
        int(risk["score"]) if risk else None,
        int(risk["required"]) if risk else 0,
    )


class UrlRef(NamedTuple):
    """A notification URL kept in a SOPS file: a key of it (None: a binary file's content)."""

    file: str  # normalised, relative to the repository root
    key: str | None = None


class NotificationSink(NamedTuple):
    """Where spec.notifications sends the events it names (docs/notifications.md)."""

    type: str  # webhook | slack
    events: frozenset[str]  # of NOTIFICATION_EVENTS
    environments: tuple[str, ...] | None = None  # None: every environment
    url: str | None = None  # checked to hold no credentials; else url_ref
    url_ref: UrlRef | None = None

    def wants(self, event: str, environment: str | None) -> bool:
        """Whether this sink takes `event` about `environment` (None: the whole project)."""
        return event in self.events and (
            environment is None or self.environments is None or environment in self.environments
        )


class ProjectSpec(NamedTuple):
    environments: tuple[Environment, ...]
    providers: dict[str, dict[str, Any]]
    policy: dict[str, Any]  # validated by POLICY_SCHEMA
    age_key_file: str | None = None
    notifications: tuple[NotificationSink, ...] = ()
    ignore_differences: tuple[IgnoreRule, ...] = ()  # for every environment


class Project(NamedTuple):
    name: str
    spec: ProjectSpec
    document: dict[str, Any]  # as written (validated): what the render cache stores

    def environment(self, name: str) -> Environment:
        for env in self.spec.environments:
            if env.name == name:
                return env
        known = ", ".join(e.name for e in self.spec.environments)
        raise UnknownEnvironmentError(
            [
                Diagnostic(
                    f"environment {name!r} is not in {PROJECT_FILE} ({known})",
                    PROJECT_FILE,
                    _WHERE,
                    ("spec", "environments"),
                )
            ]
        )

    def provider_config(self, env: Environment, provider: str) -> dict[str, Any]:
        """Top-level provider settings with the environment's overrides on top."""
        merged = dict(self.spec.providers.get(provider, {}))
        merged.update(env.providers.get(provider, {}))
        return merged

    def age_key_file(self, env: Environment) -> str | None:
        return env.age_key_file or self.spec.age_key_file

    def ignore_rules(self, env: Environment) -> tuple[IgnoreRule, ...]:
        """The project's ignoreDifferences, then the environment's: every matching rule counts."""
        return self.spec.ignore_differences + env.ignore_differences

    def provider_names(self, env: Environment) -> set[str]:
        """The provider instances configured for the environment."""
        return set(self.spec.providers) | set(env.providers)

    def provider_problems(
        self,
        env: Environment,
        provider: str,
        problems: Sequence[tuple[tuple[str | int, ...], str]],
    ) -> list[Diagnostic]:
        """Problems a provider found in its merged settings (each with the setting's path),
        placed where gitcops.yaml sets them: the environment's override, or the project's."""
        index = next(i for i, e in enumerate(self.spec.environments) if e.name == env.name)
        overrides = env.providers.get(provider, {})
        out = []
        for path, message in problems:
            where: tuple[str | int, ...] = ("spec", "providers", provider, *path)
            if path and path[0] in overrides:
                where = ("spec", "environments", index, "providers", provider, *path)
            out.append(Diagnostic(message, PROJECT_FILE, _WHERE, where))
        return out

    def problem(self, message: str, path: tuple[str | int, ...]) -> Diagnostic:
        """A problem with one of gitcops.yaml's fields found after parsing (a notification's
        urlRef that does not decrypt), placed where the file sets it."""
        return Diagnostic(message, PROJECT_FILE, _WHERE, path)

    @classmethod
    def parse(cls, document: Any, file: str = PROJECT_FILE) -> "Project":
        """Validate a document and build the Project; every problem is reported at once."""
        if not isinstance(document, dict):
            raise InvalidInputError([Diagnostic("must be a mapping (a Project document)", file)])
        from gitcops.model.schema import schema_problems

        problems = (
            []
            if _surely_valid(document)
            else [
                Diagnostic(message, file, _WHERE, path)
                for path, message in schema_problems(SCHEMA, document)
            ]
        )
        if not problems:
            problems = _semantic_problems(document, file)
        if problems:
            raise InvalidInputError(problems)
        return cls.from_trusted(document)

    @classmethod
    def from_trusted(cls, document: dict[str, Any]) -> "Project":
        """Build from a document already validated (e.g. read back from the render cache)."""
        spec = document["spec"]
        environments = tuple(
            Environment(
                name=env["name"],
                path=env["path"],
                drift=DriftMode(env.get("drift", "detect")),
                approvals=_approvals(env.get("approvals", {})),
                signed_commits=SignedCommits(
                    env["signedCommits"]["allowedSigners"],
                    tuple(env["signedCommits"].get("gpgKeys", ())),
                )
                if "signedCommits" in env
                else None,
                promotion=Promotion(
                    env["promotion"]["from"],
                    duration_seconds(env["promotion"]["soak"])
                    if "soak" in env["promotion"]
                    else 0.0,
                )
                if "promotion" in env
                else None,
                providers=dict(env.get("providers", {})),
                age_key_file=env.get("secrets", {}).get("ageKeyFile"),
                ignore_differences=_rules(env),
            )
            for env in spec["environments"]
        )
        return cls(
            name=document["metadata"]["name"],
            spec=ProjectSpec(
                environments,
                dict(spec.get("providers", {})),
                dict(spec.get("policy", {})),
                spec.get("secrets", {}).get("ageKeyFile"),
                tuple(_sink(n) for n in spec.get("notifications", ())),
                _rules(spec),
            ),
            document=document,
        )


def _sink(entry: dict[str, Any]) -> NotificationSink:
    ref = entry.get("urlRef")
    environments = entry.get("environments")
    return NotificationSink(
        type=entry["type"],
        events=frozenset(entry["events"]),
        environments=tuple(environments) if environments is not None else None,
        url=entry["url"].strip() if "url" in entry else None,
        url_ref=UrlRef(normalize(ref["file"]), ref.get("key")) if ref is not None else None,
    )


def _rules(section: dict[str, Any]) -> tuple[IgnoreRule, ...]:
    return tuple(IgnoreRule.from_json(r) for r in section.get("ignoreDifferences", ()))


def _ignore_problems(
    rules: list[dict[str, Any]], at: tuple[str | int, ...], file: str
) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    for n, rule in enumerate(rules):
        where = (*at, "ignoreDifferences", n)
        for key, instead in (
            ("jqPathExpressions", "name each field with a JSON pointer"),
            ("managedFieldsManagers", "gitcops' providers record no field managers"),
        ):
            if key in rule:
                problems.append(
                    Diagnostic(
                        f"{key} is not supported: gitcops takes jsonPointers only ({instead})",
                        file,
                        _WHERE,
                        (*where, key),
                    )
                )
        pointers = rule.get("jsonPointers")
        if not pointers:
            problems.append(
                Diagnostic(
                    "needs jsonPointers: the spec fields to ignore (e.g. [/spec/mode])",
                    file,
                    _WHERE,
                    (*where, "jsonPointers"),
                )
            )
        for k, pointer in enumerate(pointers or ()):
            problem = pointer_problem(pointer)
            if problem is not None:
                problems.append(Diagnostic(problem, file, _WHERE, (*where, "jsonPointers", k)))
    return problems


def _semantic_problems(document: dict[str, Any], file: str) -> list[Diagnostic]:
    problems = _ignore_problems(document["spec"].get("ignoreDifferences", []), ("spec",), file)
    seen: set[str] = set()
    for i, env in enumerate(document["spec"]["environments"]):
        problems += _ignore_problems(
            env.get("ignoreDifferences", []), ("spec", "environments", i), file
        )
        if env["name"] in seen:
            problems.append(
                Diagnostic(
                    f"environment {env['name']!r} is declared twice",
                    file,
                    _WHERE,
                    ("spec", "environments", i, "name"),
                )
            )
        seen.add(env["name"])
        outside = path_problem(env["path"])
        if outside is not None:
            problems.append(
                Diagnostic(
                    f"{outside}; an environment's path names a directory in the repository",
                    file,
                    _WHERE,
                    ("spec", "environments", i, "path"),
                )
            )
        promotion = env.get("promotion")
        if promotion is not None and promotion.get("from") not in seen - {env["name"]}:
            problems.append(
                Diagnostic(
                    f"promotes from {promotion.get('from')!r}, which is not an environment "
                    "listed before this one (the order of environments is the promotion order)",
                    file,
                    _WHERE,
                    ("spec", "environments", i, "promotion", "from"),
                )
            )
        approvals = env.get("approvals", {})
        if (approvals.get("required", 0) or "riskAbove" in approvals) and not approvals.get(
            "allowedSigners"
        ):
            problems.append(
                Diagnostic(
                    "approvals need allowedSigners: the file of approvers' public keys",
                    file,
                    _WHERE,
                    ("spec", "environments", i, "approvals"),
                )
            )
        approvers = approvals.get("approvers", [])
        if approvers and approvals.get("required", 0) > len(approvers):
            problems.append(
                Diagnostic(
                    f"requires {approvals['required']} approvals but names only "
                    f"{len(approvers)} approvers",
                    file,
                    _WHERE,
                    ("spec", "environments", i, "approvals", "required"),
                )
            )
    problems.extend(_notification_problems(document, file, seen))
    return problems


def _notification_problems(
    document: dict[str, Any], file: str, environments: set[str]
) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    known = ", ".join(e["name"] for e in document["spec"]["environments"])
    for i, sink in enumerate(document["spec"].get("notifications", ())):
        where = ("spec", "notifications", i)
        for j, name in enumerate(sink.get("environments", ())):
            if name not in environments:
                problems.append(
                    Diagnostic(
                        f"environment {name!r} is not in {PROJECT_FILE} ({known})",
                        file,
                        _WHERE,
                        (*where, "environments", j),
                    )
                )
        if "url" in sink:
            problem = url_problem(sink["url"])
            if problem is not None:
                problems.append(Diagnostic(problem, file, _WHERE, (*where, "url")))
        if "urlRef" in sink:
            outside = path_problem(sink["urlRef"]["file"])
            if outside is not None:
                problems.append(
                    Diagnostic(
                        f"{outside}; urlRef.file names a SOPS file in the repository",
                        file,
                        _WHERE,
                        (*where, "urlRef", "file"),
                    )
                )
    return problems


# Query parameters that carry credentials, by name (lower case, without - and _): exact names,
# and parts of longer ones (access_token, client_secret, x-api-key, ...).
_SECRET_PARAMS = frozenset({"key", "sig", "code", "pass", "pwd", "session"})
_SECRET_PARTS = ("token", "secret", "passw", "apikey", "signature", "credential", "auth")
# Services whose webhook URLs are themselves the credential (the secret is in the path).
_SECRET_URL_HOSTS = (
    ("hooks.slack.com", "/"),
    ("discord.com", "/api/webhooks/"),
    ("discordapp.com", "/api/webhooks/"),
    (".webhook.office.com", "/"),
    ("outlook.office.com", "/webhook"),
    ("chat.googleapis.com", "/"),
)
_USE_URL_REF = "keep it in a SOPS file and refer to it with urlRef: {file, key}"


def url_problem(url: str) -> str | None:
    """What is wrong with a notification URL written in plain text, or None. The message never
    repeats the URL: it may hold the very token it is refused for."""
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        _ = parts.port  # ValueError for a port that is not a number
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in ("http", "https") or not host:
        return "must be an http:// or https:// URL with a host"
    if parts.username is not None or parts.password is not None:
        return f"holds credentials (user:password@): {_USE_URL_REF}"
    for name, _value in parse_qsl(parts.query, keep_blank_values=True):
        plain = name.lower().replace("-", "").replace("_", "")
        if plain in _SECRET_PARAMS or any(part in plain for part in _SECRET_PARTS):
            # Not named: a bare query (no `=`) may be the token itself.
            return f"its query has a parameter named like a credential: {_USE_URL_REF}"
    path = parts.path or "/"
    for suffix, prefix in _SECRET_URL_HOSTS:
        on_host = host == suffix or (suffix.startswith(".") and host.endswith(suffix))
        if on_host and path.startswith(prefix) and path.strip("/"):
            return f"a webhook URL of {host} is itself a credential: {_USE_URL_REF}"
    return None


class UnknownEnvironmentError(InvalidInputError):
    """Bad input like any other: reported with the file and field it concerns."""

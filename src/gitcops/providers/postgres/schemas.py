"""JSON Schemas of the postgres provider's settings and of each kind's `spec`."""

from __future__ import annotations

from typing import Any

_IDENT: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 63}
_ROLE_LIST: dict[str, Any] = {"type": "array", "items": _IDENT, "uniqueItems": True}

CONFIG: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Settings of a postgres provider instance (spec.providers.<name>).",
    "properties": {
        "type": {"const": "postgres"},
        "dsn": {
            "type": "string",
            "minLength": 1,
            "description": "libpq connection string (key=value or postgresql:// URI); "
            "the other settings override its parts.",
        },
        "host": {"type": "string", "minLength": 1},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "user": {"type": "string", "minLength": 1},
        "password": {
            "type": "string",
            "description": "Only by reference: {secretRef: {file, key}} or {env: NAME}.",
        },
        "database": {
            "type": "string",
            "minLength": 1,
            "description": "The maintenance database (default: postgres); per-database "
            "objects connect to their own database.",
        },
        "sslmode": {
            "enum": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
        },
        "connectTimeout": {"type": "integer", "minimum": 1, "maximum": 300, "default": 10},
    },
}

ROLE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {**_IDENT, "description": "The role's name (default: metadata.name)."},
        "login": {"type": "boolean", "default": False},
        "superuser": {"type": "boolean", "default": False},
        "createdb": {"type": "boolean", "default": False},
        "createrole": {"type": "boolean", "default": False},
        "inherit": {"type": "boolean", "default": True},
        "replication": {"type": "boolean", "default": False},
        "bypassRls": {"type": "boolean", "default": False},
        "connectionLimit": {"type": "integer", "minimum": -1, "default": -1},
        "validUntil": {
            "type": ["string", "null"],
            "description": 'A timestamp ("2027-01-01T00:00:00Z") or "infinity"; null: never.',
        },
        "memberOf": {**_ROLE_LIST, "description": "Roles this role is a member of."},
        "password": {
            "type": "string",
            "description": "Only from a secret (valueFrom: {secretRef: {file, key}}).",
        },
    },
}

DATABASE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {**_IDENT, "description": "The database's name (default: metadata.name)."},
        "owner": _IDENT,
        "encoding": {"type": "string", "minLength": 1, "default": "UTF8"},
        "template": {
            "type": "string",
            "minLength": 1,
            "description": "Copied when created; never read back, so a later change is "
            "recorded but changes nothing.",
        },
        "connectionLimit": {"type": "integer", "minimum": -1, "default": -1},
        "allowConnections": {"type": "boolean", "default": True},
    },
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["database"],
    "properties": {
        "name": {**_IDENT, "description": "The schema's name (default: metadata.name)."},
        "database": _IDENT,
        "owner": _IDENT,
    },
}

PRIVILEGES = {
    "database": ["CREATE", "CONNECT", "TEMPORARY"],
    "schema": ["CREATE", "USAGE"],
    "table": ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"],
    "sequence": ["USAGE", "SELECT", "UPDATE"],
    "function": ["EXECUTE"],
    "type": ["USAGE"],
}

_PRIVILEGE_LIST: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "uniqueItems": True,
    "items": {"type": "string", "minLength": 1},
    "description": "Privilege names in any case (ALL: every privilege of the object type).",
}

GRANT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["role", "database", "objectType", "privileges"],
    "properties": {
        "role": {**_IDENT, "description": 'The grantee ("public" for PUBLIC).'},
        "database": _IDENT,
        "objectType": {"enum": ["database", "schema", "table", "sequence", "function"]},
        "schema": {
            **_IDENT,
            "description": "The schema (objectType schema), or whose tables, sequences or "
            "functions (all of them) are granted on.",
        },
        "privileges": _PRIVILEGE_LIST,
        "withGrantOption": {"type": "boolean", "default": False},
    },
    "allOf": [
        {
            "if": {"properties": {"objectType": {"const": "database"}}},
            "then": {"not": {"required": ["schema"]}},
            "else": {"required": ["schema"]},
        }
    ],
}

DEFAULT_PRIVILEGES: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["role", "owner", "database", "objectType", "privileges"],
    "properties": {
        "role": {**_IDENT, "description": 'The grantee ("public" for PUBLIC).'},
        "owner": {**_IDENT, "description": "Whose future objects get the privileges."},
        "database": _IDENT,
        "schema": {**_IDENT, "description": "Only objects created in it (default: anywhere)."},
        "objectType": {"enum": ["table", "sequence", "function", "type", "schema"]},
        "privileges": _PRIVILEGE_LIST,
        "withGrantOption": {"type": "boolean", "default": False},
    },
    "allOf": [
        {
            "if": {"properties": {"objectType": {"const": "schema"}}},
            "then": {"not": {"required": ["schema"]}},
        }
    ],
}

EXTENSION: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["database"],
    "properties": {
        "name": {**_IDENT, "description": "The extension's name (default: metadata.name)."},
        "database": _IDENT,
        "schema": _IDENT,
        "version": {
            "type": "string",
            "minLength": 1,
            "description": "Installed version (default: the default version when created; "
            "not managed afterwards unless given).",
        },
    },
}

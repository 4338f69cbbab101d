"""`gitcops import`: documents for objects that exist but are not in Git, ready to commit.

Nothing is recorded: the objects are managed once the commit holding the documents is applied
(each carries gitcops.io/adopt: "true", the consent a remote provider asks before adopting).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitcops.engine.runtime import Runtime
from gitcops.model.errors import GitcopsError
from gitcops.model.identity import ResourceId, document_name, provider_for_group
from gitcops.model.resource import ADOPT, PROVIDER
from gitcops.providers.base import Importer, Lister, Provider, ReadRequest
from gitcops.providers.registry import choose_instance


class ObjectImportError(GitcopsError):
    """An object to import cannot be named, found or read."""


def instance_for(providers: Mapping[str, Provider], type_name: str, chosen: str | None) -> str:
    """The instance to read through (choose_instance's rule)."""
    choice = choose_instance(providers, type_name, chosen)
    if choice.problem == "unknown":
        raise ObjectImportError(f"no provider instance {chosen!r} in this environment")
    if choice.problem == "other type" and chosen is not None:
        raise ObjectImportError(f"provider instance {chosen!r} is of type {providers[chosen].name}")
    if choice.problem == "several":
        raise ObjectImportError(
            f"several instances of provider {type_name} ({', '.join(choice.instances)}): "
            "choose one with --provider"
        )
    if choice.instance is None:
        raise ObjectImportError(f"provider {type_name!r} is not configured in this environment")
    return choice.instance


def _document(
    rid: ResourceId, spec: Mapping[str, Any], provider: Provider, instance: str
) -> dict[str, Any]:
    info = provider.kinds()[rid.kind]
    hidden = {*info.sensitive_fields, *info.write_only_fields}
    annotations = {ADOPT: "true"}
    if instance != rid.provider:
        annotations[PROVIDER] = instance
    return {
        "apiVersion": f"{rid.group}/v1",
        "kind": rid.kind,
        "metadata": {"name": document_name(rid.name), "annotations": annotations},
        "spec": {k: v for k, v in spec.items() if k not in hidden and v is not None},
    }


def import_documents(
    rt: Runtime,
    repo: str,
    env: str,
    ids: Sequence[str],
    *,
    all_kinds: Sequence[str] = (),
    provider: str | None = None,
) -> list[dict[str, Any]]:
    """Documents for the objects `ids` name (group/Kind/name) and for every object of each
    `all_kinds` (Kind or group/Kind), read through the environment's providers."""
    from gitcops.engine.workspace import open_workspace

    ws = open_workspace(rt, rt.source(repo), env)
    try:
        docs: list[dict[str, Any]] = []
        for text in ids:
            docs.append(_import_one(ws.providers, text, provider))
        for kind in all_kinds:
            docs.extend(_import_all(ws.providers, kind, provider))
        return docs
    finally:
        ws.close()


def _import_one(providers: Mapping[str, Provider], text: str, chosen: str | None) -> dict[str, Any]:
    # group/Kind/name, where the name may hold slashes (a path under the local root).
    group, _, rest = text.strip().partition("/")
    kind, _, name = rest.partition("/")
    if not (group and kind and name) or kind == "namespaces":
        raise ObjectImportError(f"{text!r}: name an object as group/Kind/name")
    rid = ResourceId(group, kind, name)
    instance = instance_for(providers, provider_for_group(rid.group), chosen)
    source = providers[instance]
    if rid.kind not in source.kinds():
        raise ObjectImportError(f"{text}: provider {source.name} has no kind {rid.kind!r}")
    if not isinstance(source, Importer):
        raise ObjectImportError(f"{text}: provider {source.name} cannot find objects by name")
    spec = source.import_spec(rid.kind, rid.name)
    live = source.read(ReadRequest(rid, spec)).live
    if live is None:
        raise ObjectImportError(f"{text}: no such object (provider instance {instance})")
    return _document(rid, live, source, instance)


def _import_all(
    providers: Mapping[str, Provider], kind: str, chosen: str | None
) -> list[dict[str, Any]]:
    group, _, name = kind.rpartition("/")
    candidates = [
        n
        for n, p in providers.items()
        if name in p.kinds() and (not group or provider_for_group(group) == p.name)
    ]
    types = sorted({providers[n].name for n in candidates})
    if not types:
        raise ObjectImportError(f"--all {kind}: no configured provider has kind {name!r}")
    if len(types) > 1:
        raise ObjectImportError(f"--all {kind}: several providers have it ({', '.join(types)})")
    instance = instance_for(providers, types[0], chosen)
    source = providers[instance]
    if not isinstance(source, Lister):
        raise ObjectImportError(f"--all {kind}: provider {source.name} cannot list its objects")
    return [_document(item.id, item.spec, source, instance) for item in source.list(name)]

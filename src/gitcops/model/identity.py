"""Resource identity: (group, kind, namespace, name) and its text form, shared with depends-on."""

import re
from functools import cache
from typing import NamedTuple

PROVIDER_GROUP_SUFFIX = ".gitcops.io"
# Characters a metadata.name may not hold (an id is group/Kind/name; see validate/resources).
_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9._:-]+")


def document_name(*parts: str) -> str:
    """A metadata.name for an object named otherwise (role app_user.x, a path etc/motd): the
    parts joined with dots, other characters made dashes."""
    text = ".".join(p for p in parts if p)
    return _NOT_IN_NAMES.sub("-", text).strip("-._:") or "unnamed"


def split_api_version(api_version: str) -> tuple[str, str]:
    """'local.gitcops.io/v1' -> ('local.gitcops.io', 'v1'); core 'v1' -> ('', 'v1')."""
    group, _, version = api_version.rpartition("/")
    return group, version


@cache  # a handful of groups, asked about several times per resource
def provider_for_group(group: str) -> str:
    """`<provider>.gitcops.io` names a gitcops provider; every other group is Kubernetes'."""
    if group.endswith(PROVIDER_GROUP_SUFFIX) and group.count(".") == 2:
        return group[: -len(PROVIDER_GROUP_SUFFIX)]
    return "kubernetes"


class ResourceId(NamedTuple):
    group: str
    kind: str
    name: str
    namespace: str = ""

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.group}/namespaces/{self.namespace}/{self.kind}/{self.name}"
        return f"{self.group}/{self.kind}/{self.name}"

    @property
    def provider(self) -> str:
        return provider_for_group(self.group)

    @classmethod
    def parse(cls, text: str) -> "ResourceId":
        """Parse the cli-utils object reference form used by config.kubernetes.io/depends-on."""
        parts = text.strip().split("/")
        if len(parts) == 3 and parts[1] and parts[2]:
            return cls(parts[0], parts[1], parts[2])
        if len(parts) == 5 and parts[1] == "namespaces" and parts[2] and parts[3] and parts[4]:
            return cls(parts[0], parts[3], parts[4], parts[2])
        raise ValueError(
            f"{text!r} is not an object reference; expected group/Kind/name "
            "or group/namespaces/NS/Kind/name"
        )

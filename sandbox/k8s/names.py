"""Object names: the rule ``metadata.name`` must follow per kind, and ``generateName``'s suffix."""

from __future__ import annotations

import random
import re

from sandbox.k8s.resources import NAMESPACES, SERVICES, ResourceType

_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what generateName draws from

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def generated_name(prefix: str, rng: random.Random) -> str:
    """Return ``prefix`` plus five random characters, as ``generateName`` does."""
    return prefix + "".join(rng.choices(_SUFFIX_ALPHABET, k=5))


def name_problem(resource: ResourceType, name: str) -> str | None:
    """Return why ``name`` is not a valid name for this kind, or None when it is."""
    if resource in (SERVICES,):
        if len(name) > 63 or not _LABEL_1035.match(name):
            return (
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                "start with an alphabetic character, and end with an alphanumeric character "
                "(e.g. 'my-name',  or 'abc-123', regex used for validation is "
                "'[a-z]([-a-z0-9]*[a-z0-9])?')"
            )
    elif resource is NAMESPACES:
        if len(name) > 63 or not _LABEL_1123.match(name):
            return (
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
                "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            )
    elif len(name) > 253 or not _SUBDOMAIN.match(name):
        return (
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character (e.g. "
            "'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        )
    return None

"""``--cloud-labels`` as kops reads it: records split on commas, each a Go CSV ``key=value``."""

from __future__ import annotations

from sandbox.kops.exceptions import KopsError

RESERVED_LABELS = ("Name", "KubernetesCluster")
RESERVED_LABEL_PREFIXES = ("kubernetes.io/cluster/", "k8s.io/role/", "kops.k8s.io/")


class _CsvError(ValueError):
    """A record Go's encoding/csv would refuse."""


def _label_fields(line: str) -> list[str]:
    """Split one record like Go's csv.Reader with Comma '=' and TrimLeadingSpace."""
    fields: list[str] = []
    index, size = 0, len(line)
    while True:
        while index < size and line[index].isspace():
            index += 1
        if index < size and line[index] == '"':
            index += 1
            parts = []
            while True:
                close = line.find('"', index)
                if close == -1:
                    raise _CsvError('extraneous or missing " in quoted-field')
                parts.append(line[index:close])
                index = close + 1
                if index < size and line[index] == '"':
                    parts.append('"')
                    index += 1
                    continue
                break
            if index < size and line[index] != "=":
                raise _CsvError('extraneous or missing " in quoted-field')
            fields.append("".join(parts))
        else:
            end = line.find("=", index)
            end = size if end == -1 else end
            if '"' in line[index:end]:
                raise _CsvError('bare " in non-quoted-field')
            fields.append(line[index:end])
            index = end
        if index >= size:
            return fields
        index += 1
        if index == size:
            fields.append("")
            return fields


def parse_cloud_labels(text: str) -> dict[str, str]:
    """Return ``--cloud-labels`` as kops reads it: commas split records, each a CSV ``k=v``."""
    records = text.replace(",", "\n")
    labels: dict[str, str] = {}
    for number, line in enumerate(records.split("\n"), start=1):
        if not line:
            continue
        try:
            fields = _label_fields(line)
            if len(fields) != 2:
                raise _CsvError("wrong number of fields")
        except _CsvError as exc:
            raise KopsError(
                "error parsing global cloud labels: one or more key=value pairs are malformed:\n"
                f"{records}\n:record on line {number}: {exc}"
            ) from exc
        labels[fields[0]] = fields[1]
    for key in labels:
        if key in RESERVED_LABELS:
            raise KopsError(
                f'spec.cloudLabels.{key}: Forbidden: "{key}" is a reserved label and cannot be '
                "used as a custom label"
            )
        for prefix in RESERVED_LABEL_PREFIXES:
            if key.startswith(prefix):
                raise KopsError(
                    f'spec.cloudLabels.{key}: Forbidden: "{prefix}" is a reserved label prefix '
                    "and cannot be used as a custom label"
                )
    return labels

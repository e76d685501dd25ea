"""The product's kops contract, imported in this one place.

Every contract test reaches the product's argv builders, parsers and spec through this module, so
when they move only these imports change.
"""

from __future__ import annotations

from kops_nlb.core.kops import (
    cloud_labels,
    control_plane_zones,
    create_cluster_argv,
    delete_cluster_argv,
    export_kubecfg_argv,
    get_cluster_argv,
    is_cluster_not_found,
    is_supported_version,
    kops_env,
    parse_validation,
    parse_version,
    update_cluster_argv,
    validate_cluster_argv,
    version_argv,
)
from kops_nlb.core.spec import EnvironmentSpec

__all__ = [
    "EnvironmentSpec",
    "cloud_labels",
    "control_plane_zones",
    "create_cluster_argv",
    "delete_cluster_argv",
    "export_kubecfg_argv",
    "get_cluster_argv",
    "is_cluster_not_found",
    "is_supported_version",
    "kops_env",
    "parse_validation",
    "parse_version",
    "update_cluster_argv",
    "validate_cluster_argv",
    "version_argv",
]

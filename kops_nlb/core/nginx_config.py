"""nginx's site configuration when the NLB sends PROXY protocol v2 headers (pure).

With ``proxy_protocol_v2.enabled`` every connection from the NLB starts with a PROXY v2 header.
nginx must then listen with ``proxy_protocol`` (else it answers the binary header with a 400 and
logs ``"\\x00"`` lines), and it logs the client's address only if its log format says
``$proxy_protocol_addr``: the image's default ``$remote_addr`` would be the node (or the NLB).
The log format keeps the image's ``main`` shape with that one field changed, so the access-log
reader needs no second parser. The kubelet's readiness probe sends no PROXY header, so it gets a
plain listener of its own.
"""

from __future__ import annotations

from typing import Any

from kops_nlb.core.spec import EnvironmentSpec

CONF_DIR = "/etc/nginx/conf.d"
VOLUME = "site-config"


def config_map_name(spec: EnvironmentSpec) -> str:
    """The ConfigMap holding nginx's site when proxy protocol is on."""
    return f"{spec.deployment_name}-proxy-protocol"


def readiness_port(spec: EnvironmentSpec) -> int:
    """The port the readiness probe uses: the site's, or a plain one beside a PROXY listener."""
    if not spec.proxy_protocol_v2:
        return spec.container_port
    return 8080 if spec.container_port != 8080 else 8081


def site_config(spec: EnvironmentSpec) -> str:
    """Return ``default.conf`` for nginx behind an NLB that sends PROXY v2 headers."""
    return f"""log_format proxied '$proxy_protocol_addr - $remote_user [$time_local] "$request" '
                   '$status $body_bytes_sent "$http_referer" '
                   '"$http_user_agent" "$http_x_forwarded_for"';

server {{
    listen {spec.container_port} proxy_protocol;
    access_log /var/log/nginx/access.log proxied;
    location / {{
        root /usr/share/nginx/html;
        index index.html index.htm;
    }}
}}

server {{
    listen {readiness_port(spec)};
    access_log off;
    location / {{
        root /usr/share/nginx/html;
        index index.html index.htm;
    }}
}}
"""


def nginx_config_map(spec: EnvironmentSpec, labels: dict[str, str]) -> dict[str, Any]:
    """The ConfigMap with nginx's PROXY-aware site."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": config_map_name(spec), "namespace": spec.namespace, "labels": labels},
        "data": {"default.conf": site_config(spec)},
    }


def site_volume(spec: EnvironmentSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod volume and the container mount that put the site in nginx's conf.d."""
    volume = {"name": VOLUME, "configMap": {"name": config_map_name(spec)}}
    mount = {"name": VOLUME, "mountPath": CONF_DIR, "readOnly": True}
    return volume, mount

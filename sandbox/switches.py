"""The environment variables (and their fixed values) the twin's programs hand each other.

No imports: the twin's kops launcher reads these before every kops command.
"""

CONFIG_ENV = "SANDBOX_CONFIG"  # the twin's config file (``sandbox.config``)
# What clients of the twin reach directly, past its VPC proxy: its own endpoints (AWS, Prefect).
NO_PROXY = "127.0.0.1,localhost"

# The kops launcher's settings (``sandbox.kops.launcher``), baked into the twin's ``kops`` script.
LAUNCH_BINARY_ENV = "SANDBOX_REAL_KOPS"
LAUNCH_CHANNEL_ENV = "SANDBOX_KOPS_CHANNEL"
LAUNCH_BASE_URL_ENV = "SANDBOX_KOPS_BASE_URL"
LAUNCH_VPC_CIDR_ENV = "SANDBOX_VPC_CIDR"
LAUNCH_PROXY_ENV = "SANDBOX_VPC_PROXY"

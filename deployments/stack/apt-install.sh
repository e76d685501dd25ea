#!/bin/sh
# Install Debian packages the stack needs (`make postgres`, `make browser`) without starting any
# service: a policy-rc.d that answers 101 ("action forbidden") is in place during the install
# (the machine's own is kept when it has one; ours is removed afterwards). The stack starts what
# it needs itself, by pid; nothing here becomes a system service.
set -eu
[ "$#" -gt 0 ] || { echo "usage: $0 PACKAGE..." >&2; exit 2; }
if [ "$(id -u)" != 0 ]; then
    echo "installing $* needs root (apt-get); install them or run make as root" >&2
    exit 1
fi
POLICY=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# kops-nlb-flows: no service starts during this install\nexit 101\n' >"$POLICY"
    chmod 0755 "$POLICY"
    ours=1
fi
cleanup() { if [ -n "$ours" ]; then rm -f "$POLICY"; fi; }
trap cleanup EXIT
echo "==> apt-get install $* (no service is started)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"

#!/usr/bin/env bash
# Install the real SIP peers the tests run against (Debian packages), when missing.
# Idempotent: does nothing when everything is present.  Needs root for apt-get;
# without root it says what is missing and the tests that need a peer will skip
# with that reason (never silently).
set -euo pipefail

packages=(sip-tester sipsak kamailio kamailio-tls-modules tshark baresip-core openssl chromium)
missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-peers: not root, cannot install: ${missing[*]}" >&2
    exit 0
fi
echo "install-peers: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# System packages the test suite drives for real (Debian names):
#   chromium, chromium-driver  the headless browser of the MLflow UI test (issue 8)
#   postgresql                 the team tracking server's backend store (issue 9)
# Installs only what is missing, with apt-get, when that is possible without a password
# (root, or passwordless sudo). Otherwise it prints the exact command and exits 0: the
# tests that need a missing package then skip with that command in their reason (they
# fail instead when CI=true, so CI never skips them silently).
set -euo pipefail

packages=(chromium chromium-driver postgresql)

is_installed() {
    dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed
}

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "install-system-deps: not a Debian-like system (no dpkg/apt-get); install" \
        "${packages[*]} with this system's package manager." >&2
    exit 0
fi

missing=()
for package in "${packages[@]}"; do
    is_installed "$package" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-system-deps: ${packages[*]} already installed."
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "install-system-deps: missing ${missing[*]}; install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 0
fi

echo "install-system-deps: installing ${missing[*]}"
if ! { "${as_root[@]}" apt-get update -q &&
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"; }; then
    # The tests that need these packages say so themselves (and fail when CI=true).
    echo "install-system-deps: apt-get could not install ${missing[*]}; see above." >&2
fi

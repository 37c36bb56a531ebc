#!/usr/bin/env bash
# Installs the Debian packages listed in packages/debian.txt (as root, or through sudo), or in
# the list given (a path from the repository root: the container's runtime stage installs
# packages/debian-runtime.txt this way).
#
#   bash scripts/setup.sh [packages/LIST.txt]
set -euo pipefail
cd "$(dirname "$0")/.."
list=${1:-packages/debian.txt}
packages=$(grep -o '^[^#]*' "$list" | tr -s ' \n' ' ')
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
missing=$(dpkg-query -W -f='${Package} ${Status}\n' $packages 2>/dev/null | grep -c -v 'install ok installed' || true)
if [ "$missing" != "0" ] || ! dpkg-query -W $packages >/dev/null 2>&1; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $packages
fi

#!/usr/bin/env bash
# The container's HEALTHCHECK (deploy/Dockerfile): exit 0 when `refusal serve` on this host's
# REFUSAL_SERVE_PORT (default 8000) answers GET /readyz (or the path given) with 200; else 1.
# Plain bash (/dev/tcp), so that the image needs no HTTP client.
#
#   refusal-healthcheck [PATH]
set -u
port=${REFUSAL_SERVE_PORT:-8000}
path=${1:-/readyz}
{ exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || exit 1
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
IFS= read -r -t 5 status <&3 || exit 1
[[ "$status" == HTTP/1.?" 200 "* ]]

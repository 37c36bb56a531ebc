#!/usr/bin/env bash
# The web page of `refusal serve`, as headless chromium renders it, after a check has run:
# docs/images/server-page.png. Usage: scripts/server_screenshot.sh [REFUSAL_BINARY] [MODEL]
set -euo pipefail
bin=${1:-build/release/refusal}
model=${2:-tests/data/models/random-roberta-tok}
out=docs/images/server-page.png
log=$(mktemp)
"$bin" serve --model "$model" --port 0 --access-log false >"$log" 2>/dev/null &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 50); do grep -q listening "$log" && break; sleep 0.1; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$log")
profile=$(mktemp -d)
text='Great%20question!%20I%20cannot%20help%20with%20that%20request.%20Here%20are%20some%20safer%20alternatives%20you%20could%20try.'
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
  --virtual-time-budget=10000 --window-size=900,640 --screenshot="$out" \
  "http://127.0.0.1:$port/ui?threshold=0.4&text=$text" 2>/dev/null
rm -rf "$profile"
echo "wrote $out"

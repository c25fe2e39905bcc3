#!/usr/bin/env bash
# Render a run report in headless Chromium and save a full-page screenshot, to check that it looks right to a person.
#   bench/screenshot_report.sh RUN_DIR [OUT.png] [WIDTH] [HEIGHT]
# Builds RUN_DIR/report.html first if it is missing. Needs chromium (`apt-get install -y chromium`); tests do not.
set -euo pipefail
RUN_DIR=${1:?usage: bench/screenshot_report.sh RUN_DIR [OUT.png] [WIDTH] [HEIGHT]}
OUT=${2:-$RUN_DIR/report_screenshot.png}
WIDTH=${3:-1280}
HEIGHT=${4:-4000}
cd "$(dirname "$0")/.."
if [ ! -f "$RUN_DIR/report.html" ]; then .venv/bin/safealign report "$RUN_DIR"; fi
BROWSER=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$BROWSER" ]; then echo "chromium not found: apt-get install -y chromium" >&2; exit 1; fi
HTML=$(cd "$RUN_DIR" && pwd)/report.html
OUT_ABS=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
"$BROWSER" --headless --no-sandbox --disable-gpu --disable-background-networking --hide-scrollbars \
  --window-size="$WIDTH,$HEIGHT" --screenshot="$OUT_ABS" "file://$HTML" 2>/dev/null
echo "screenshot: $OUT_ABS"

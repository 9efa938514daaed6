#!/usr/bin/env bash
# End-to-end test of the VS Code extension in a real VS Code: code-server 4.100.3 (npm; the last
# release that runs on Node 20) rendered by headless Chromium, driven over the DevTools protocol.
#
#   editors/vscode/e2e/run.sh            # from anywhere; needs root for apt on a fresh machine
#
# What it does:
#   1. apt-get installs what code-server's native modules and the browser need (libkrb5-dev,
#      ripgrep, chromium) when they are missing;
#   2. npm-installs code-server@4.100.3 into editors/vscode/e2e/work/ (once; the @vscode/ripgrep
#      download is served from a cache seeded with Debian's rg, as no other download is possible);
#   3. builds inbatch (cargo build) and the extension's .vsix when missing, installs the .vsix into
#      code-server offline, points `inbatch.path` at target/debug/inbatch (or $INBATCH_BIN);
#   4. serves code-server on 127.0.0.1 only, opens a copy of examples/analytics in headless Chromium,
#      opens n_plus_one.py, waits for the INB001 entries in the Problems panel, opens the quick-fix
#      menu on the first one and reads its entries;
#   5. writes work/out/result.json and screenshots work/out/problems.png, work/out/quickfix.png.
# Exit code 0 when every check passed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
EXT=$(dirname "$HERE")
ROOT=$(cd "$EXT/../.." && pwd)
WORK=$HERE/work
OUT=$WORK/out
CS_VERSION=4.100.3
export TMPDIR=${TMPDIR:-/tmp}

say() { printf '\n[e2e] %s\n' "$*"; }
t0=$(date +%s)

# 1. System packages.
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v rg >/dev/null || need+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need+=(libkrb5-dev)
command -v make >/dev/null && command -v g++ >/dev/null || need+=(build-essential)
if [ ${#need[@]} -gt 0 ]; then
    say "apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# 2. code-server from npm.
mkdir -p "$WORK"
CS=$WORK/node_modules/code-server
if [ ! -x "$CS/out/node/entry.js" ] && [ ! -f "$CS/out/node/entry.js" ] || \
   [ "$(node -p "require('$CS/package.json').version" 2>/dev/null)" != "$CS_VERSION" ]; then
    say "npm install code-server@$CS_VERSION (several minutes: native modules are compiled)"
    cache=$TMPDIR/vscode-ripgrep-cache-1.15.11
    mkdir -p "$cache/pack"
    cp "$(command -v rg)" "$cache/pack/rg"
    tar -C "$cache/pack" -czf "$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" rg
    [ -f "$WORK/package.json" ] || echo '{"name":"inbatch-e2e","private":true}' > "$WORK/package.json"
    # npm 11 skips dependencies' install scripts unless allowed; code-server's postinstall runs
    # nested npm installs that compile native modules (node-pty, kerberos, ...), so allow them all
    # for this throwaway folder only.
    (cd "$WORK" && npm_config_unsafe_perm=true npm_config_yes=true npm_config_dangerously_allow_all_scripts=true \
        npm install --no-audit --no-fund --loglevel=error "code-server@$CS_VERSION")
fi
CODE_SERVER=("node" "$CS/out/node/entry.js")

# 3. inbatch and the .vsix.
BIN=${INBATCH_BIN:-$ROOT/target/debug/inbatch}
if [ ! -x "$BIN" ]; then
    say "cargo build"
    (cd "$ROOT" && cargo build --locked)
fi
if [ ! -f "$EXT/inbatch.vsix" ]; then
    say "building the .vsix"
    (cd "$EXT" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent compile && npm run --silent package)
fi

rm -rf "$WORK/user" "$WORK/extensions" "$WORK/proj" "$WORK/chromium" "$OUT"
mkdir -p "$WORK/user/User" "$WORK/extensions" "$WORK/proj" "$OUT"
cp -r "$ROOT/examples/analytics" "$WORK/proj/analytics"
# The Problems panel renders only visible rows: the half-fixed example's seven findings (other rules)
# would push the N+1 file's INB001 rows below the fold, so the e2e project holds the N+1 file alone.
rm -f "$WORK/proj/analytics/half_fixed.py"
# The N+1 rules are off by default (under 90 % precise on real code): the project turns them on.
printf '[project]\nname = "vscode-e2e"\nversion = "0"\n\n[tool.inbatch]\nextend-select = ["INB001", "INB002", "INB003", "INB005"]\n' > "$WORK/proj/pyproject.toml"
cat > "$WORK/user/User/settings.json" <<JSON
{
  "inbatch.path": "$BIN",
  "inbatch.trace.server": "verbose",
  "inbatch.ignore": ["INB201"],
  "inbatch.diagnosticMode": "openFilesOnly",
  "security.workspace.trust.enabled": false,
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "telemetry.telemetryLevel": "off",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "update.mode": "none",
  "window.restoreWindows": "none",
  "chat.commandCenter.enabled": false,
  "git.openRepositoryInParentFolders": "never",
  "git.enabled": false
}
JSON

say "installing the .vsix into code-server (offline)"
"${CODE_SERVER[@]}" --config "$WORK/config.yaml" --user-data-dir "$WORK/user" --extensions-dir "$WORK/extensions" \
    --install-extension "$EXT/inbatch.vsix" 2>&1 | tail -3
ls "$WORK/extensions" | grep -q '^inbatch\.inbatch-' || { echo "the .vsix did not install" >&2; exit 1; }
# The settings the e2e sets (and the server reads) are declared by the installed extension, so that
# settings.json does not flag them as unknown.
node -e '
const pkg = require(process.argv[1]);
const declared = Object.keys(pkg.contributes.configuration.properties);
const missing = ["inbatch.select", "inbatch.ignore", "inbatch.inlayHints", "inbatch.diagnosticMode", "inbatch.batchSize"]
  .filter((key) => !declared.includes(key));
if (missing.length) { console.error("undeclared settings: " + missing.join(", ")); process.exit(1); }
' "$(ls -d "$WORK"/extensions/inbatch.inbatch-*/ | head -1)package.json"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CS_PORT=$(free_port)
CDP_PORT=$(free_port)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 1
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

say "code-server on 127.0.0.1:$CS_PORT"
"${CODE_SERVER[@]}" --config "$WORK/config.yaml" --auth none --bind-addr "127.0.0.1:$CS_PORT" \
    --user-data-dir "$WORK/user" --extensions-dir "$WORK/extensions" \
    --disable-telemetry --disable-update-check --disable-workspace-trust \
    --disable-getting-started-override "$WORK/proj" > "$OUT/code-server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$CS_PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.5
done
curl -fsS "http://127.0.0.1:$CS_PORT/healthz" >/dev/null || { cat "$OUT/code-server.log"; exit 1; }

say "headless chromium (DevTools on 127.0.0.1:$CDP_PORT)"
chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
    --remote-debugging-address=127.0.0.1 --remote-debugging-port="$CDP_PORT" \
    --user-data-dir="$WORK/chromium" --window-size=1400,900 about:blank > "$OUT/chromium.log" 2>&1 &
pids+=($!)

status=0
node --experimental-websocket --no-warnings "$HERE/drive.mjs" "$CDP_PORT" \
    "http://127.0.0.1:$CS_PORT/?folder=$WORK/proj" "$OUT" || status=$?
[ "$status" -eq 0 ] && echo "VSCODE E2E OK"

# The extension host's log (server start, errors) for the record.
find "$WORK/user/logs" -name '*inbatch*' -o -name 'exthost.log' 2>/dev/null | while read -r f; do
    cp "$f" "$OUT/" 2>/dev/null || true
done
say "result: $OUT/result.json (status $status, $(( $(date +%s) - t0 ))s)"
cat "$OUT/result.json" 2>/dev/null | head -60 || true
exit $status

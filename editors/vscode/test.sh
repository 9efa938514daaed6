#!/usr/bin/env bash
# Builds and checks the VS Code extension: npm ci, compile (tsc + esbuild bundle), lint, unit tests,
# package the .vsix, then checks the .vsix: small, no node_modules, and its bundle loads with only
# the `vscode` module provided (as in the editor). Run by tests/editors/test_vscode.py (tests/run).
set -euo pipefail
cd "$(dirname "$0")"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

step() { printf '\n--> %s\n' "$*"; }

step "npm ci"
npm ci --no-audit --no-fund --loglevel=error
step "npm run compile"
npm run --silent compile
step "npm run lint"
npm run --silent lint
step "npm test"
npm test --silent
step "vsce package"
rm -f inbatch.vsix
npm run --silent package

step "check the .vsix"
test -f inbatch.vsix || { echo "inbatch.vsix was not produced" >&2; exit 1; }
size=$(stat -c %s inbatch.vsix)
# The bundle is ~90 KB zipped; a bundled binary in bin/ adds a few MB. node_modules would add far more.
limit=$((1024 * 1024))
if [ -e bin/inbatch ] || [ -e bin/inbatch.exe ]; then limit=$((64 * 1024 * 1024)); fi
if [ "$size" -gt "$limit" ]; then
    echo "inbatch.vsix is $size bytes, over $limit" >&2; exit 1
fi
listing=$(python3 -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' inbatch.vsix)
echo "$listing"
if grep -q 'node_modules/' <<<"$listing"; then echo "node_modules leaked into the .vsix" >&2; exit 1; fi
for want in extension/package.json extension/dist/extension.js extension/readme.md; do
    grep -qx "$want" <<<"$listing" || { echo "$want missing from the .vsix" >&2; exit 1; }
done
if grep -Eq '^extension/(src|test|out)/' <<<"$listing"; then echo "sources leaked into the .vsix" >&2; exit 1; fi

# The packaged bundle must load without node_modules: unpack it elsewhere, stub `vscode`.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' inbatch.vsix "$tmp"
node -e '
const Module = require("module");
const orig = Module._load;
Module._load = function (request, ...rest) {
  if (request === "vscode") { return new Proxy({}, { get: () => function () {} }); }
  return orig.call(this, request, ...rest);
};
const ext = require(process.argv[1] + "/extension/dist/extension.js");
if (typeof ext.activate !== "function" || typeof ext.deactivate !== "function") {
  throw new Error("dist/extension.js does not export activate/deactivate");
}
const pkg = require(process.argv[1] + "/extension/package.json");
const cmds = pkg.contributes.commands.map((c) => c.command).sort().join(",");
if (cmds !== "inbatch.fixAll,inbatch.fixAllUnsafe,inbatch.restart,inbatch.showOutput") { throw new Error("commands: " + cmds); }
console.log("bundle loads without node_modules; commands:", cmds);
' "$tmp"
echo "VSIX OK: inbatch.vsix ($size bytes)"

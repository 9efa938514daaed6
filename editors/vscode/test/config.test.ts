// Unit tests for the client-side logic (no VS Code needed): `npm test` after `npm run compile`.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import {
  Environment,
  InbatchSettings,
  ProgressTracker,
  expandPath,
  initializationOptions,
  needsRestart,
  notFoundMessage,
  readSettings,
  resolveServerCommand,
} from "../src/config";

function settings(over: Partial<InbatchSettings> = {}): InbatchSettings {
  return { enable: true, path: "", args: [], batchSize: null, trace: "off", ...over };
}

function env(executables: string[], over: Partial<Environment> = {}): Environment {
  const set = new Set(executables);
  return {
    extensionPath: "/ext",
    workspaceFolder: "/ws",
    platform: "linux",
    homeDir: "/home/u",
    isExecutable: (p) => set.has(p),
    pathEnv: "/usr/local/bin:/usr/bin",
    ...over,
  };
}

function reader(values: Record<string, unknown>) {
  return (key: string) => values[key];
}

describe("readSettings", () => {
  it("uses defaults when nothing is set", () => {
    const { settings: s, warnings } = readSettings(reader({}));
    assert.deepEqual(s, { enable: true, path: "", args: [], batchSize: null, trace: "off" });
    assert.deepEqual(warnings, []);
  });

  it("reads every setting", () => {
    const { settings: s } = readSettings(
      reader({ enable: false, path: " /opt/inbatch ", args: ["--log", "debug"], batchSize: 500, "trace.server": "verbose" }),
    );
    assert.deepEqual(s, { enable: false, path: "/opt/inbatch", args: ["--log", "debug"], batchSize: 500, trace: "verbose" });
  });

  it("rejects bad values with warnings", () => {
    const { settings: s, warnings } = readSettings(reader({ args: ["ok", 3], batchSize: 0, "trace.server": "loud" }));
    assert.deepEqual(s.args, ["ok"]);
    assert.equal(s.batchSize, null);
    assert.equal(s.trace, "off");
    assert.equal(warnings.length, 2);
    assert.equal(readSettings(reader({ batchSize: 2.5 })).settings.batchSize, null);
    assert.equal(readSettings(reader({ args: "--x" })).warnings.length, 1);
  });
});

describe("resolveServerCommand", () => {
  it("prefers inbatch.path", () => {
    const cmd = resolveServerCommand(settings({ path: "/opt/inbatch", args: ["-v"] }), env(["/opt/inbatch", "/ext/bin/inbatch"]));
    assert.deepEqual(cmd, { command: "/opt/inbatch", args: ["server", "-v"], source: "setting", found: true });
  });

  it("reports a missing inbatch.path", () => {
    const cmd = resolveServerCommand(settings({ path: "/nope/inbatch" }), env(["/ext/bin/inbatch"]));
    assert.equal(cmd.found, false);
    assert.equal(cmd.source, "setting");
    assert.match(notFoundMessage(cmd), /inbatch\.path/);
  });

  it("resolves relative, ~ and ${workspaceFolder} paths", () => {
    assert.equal(expandPath("./target/debug/inbatch", env([])), "/ws/target/debug/inbatch");
    assert.equal(expandPath("~/bin/inbatch", env([])), "/home/u/bin/inbatch");
    assert.equal(expandPath("${workspaceFolder}/x/inbatch", env([])), "/ws/x/inbatch");
    const cmd = resolveServerCommand(settings({ path: "target/debug/inbatch" }), env(["/ws/target/debug/inbatch"]));
    assert.equal(cmd.command, "/ws/target/debug/inbatch");
    assert.equal(cmd.found, true);
  });

  it("looks a bare inbatch.path name up on PATH", () => {
    const cmd = resolveServerCommand(settings({ path: "inbatch-dev" }), env(["/usr/bin/inbatch-dev"]));
    assert.equal(cmd.command, "/usr/bin/inbatch-dev");
    assert.equal(cmd.found, true);
  });

  it("falls back to the bundled binary, then PATH", () => {
    assert.deepEqual(resolveServerCommand(settings(), env(["/ext/bin/inbatch", "/usr/bin/inbatch"])), {
      command: "/ext/bin/inbatch",
      args: ["server"],
      source: "bundled",
      found: true,
    });
    assert.deepEqual(resolveServerCommand(settings(), env(["/usr/bin/inbatch"])), {
      command: "/usr/bin/inbatch",
      args: ["server"],
      source: "path",
      found: true,
    });
    const missing = resolveServerCommand(settings(), env([]));
    assert.equal(missing.found, false);
    assert.equal(missing.command, "inbatch");
    assert.match(notFoundMessage(missing), /PATH/);
  });

  it("uses inbatch.exe and ; on Windows", () => {
    const winEnv = env(["C:\\tools\\inbatch.exe"], { platform: "win32", pathEnv: "C:\\tools;C:\\other", extensionPath: "C:\\ext" });
    const cmd = resolveServerCommand(settings(), winEnv);
    assert.equal(cmd.command, "C:\\tools\\inbatch.exe");
    assert.equal(cmd.source, "path");
  });
});

describe("initializationOptions", () => {
  it("sends batchSize only when set", () => {
    assert.deepEqual(initializationOptions(settings()), {});
    assert.deepEqual(initializationOptions(settings({ batchSize: 500 })), { batchSize: 500 });
  });
});

describe("needsRestart", () => {
  it("restarts for path, args, enable and batchSize but not trace", () => {
    assert.equal(needsRestart((k) => k === "inbatch.path"), true);
    assert.equal(needsRestart((k) => k === "inbatch.batchSize"), true);
    assert.equal(needsRestart((k) => k === "inbatch.trace.server"), false);
  });
});

describe("ProgressTracker", () => {
  it("shows the running progress and hides when it ends", () => {
    const p = new ProgressTracker();
    assert.equal(p.text(), undefined);
    p.update("idx", { kind: "begin", title: "Indexing", message: "0/40 files", percentage: 0 });
    assert.equal(p.busy, true);
    assert.equal(p.text(), "$(sync~spin) inbatch: Indexing 0/40 files (0%)");
    p.update("idx", { kind: "report", message: "20/40 files", percentage: 50 });
    assert.equal(p.text(), "$(sync~spin) inbatch: Indexing 20/40 files (50%)");
    p.update("idx", { kind: "end" });
    assert.equal(p.busy, false);
    assert.equal(p.text(), undefined);
  });

  it("does not repeat the inbatch prefix of the server's title", () => {
    const p = new ProgressTracker();
    p.update(1, { kind: "begin", title: "inbatch: indexing", percentage: 0 });
    assert.equal(p.text(), "$(sync~spin) inbatch: indexing (0%)");
  });

  it("lets a new run of the same task supersede a never-ended one", () => {
    const p = new ProgressTracker();
    p.update("inbatch/index/1", { kind: "begin", title: "inbatch: indexing", percentage: 0 });
    p.update("inbatch/index/2", { kind: "begin", title: "inbatch: indexing", percentage: 0 });
    p.update("inbatch/index/2", { kind: "report", message: "4/4 files", percentage: 100 });
    p.update("inbatch/index/2", { kind: "end", message: "4 files indexed" });
    assert.equal(p.busy, false);
    assert.equal(p.text(), undefined);
  });
});

describe("package.json", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pkg = require("../../package.json");

  it("declares every option the server reads, so settings.json knows them", () => {
    const declared = Object.keys(pkg.contributes.configuration.properties);
    for (const option of ["batchSize", "select", "ignore", "inlayHints", "diagnosticMode"]) {
      assert.ok(declared.includes(`inbatch.${option}`), `inbatch.${option} is not declared`);
    }
    assert.deepEqual(pkg.contributes.configuration.properties["inbatch.diagnosticMode"].enum, [
      "openFilesOnly",
      "workspace",
    ]);
  });

  it("has an opt-in command for the unsafe fix-all", () => {
    const commands = pkg.contributes.commands.map((c: { command: string }) => c.command);
    assert.ok(commands.includes("inbatch.fixAllUnsafe"), commands.join(","));
  });
});

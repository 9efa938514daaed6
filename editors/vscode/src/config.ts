// Client-side logic of the inbatch extension that does not need VS Code: reading and validating
// settings, choosing the server binary, building its arguments and initializationOptions, and
// turning `$/progress` notifications into status-bar text. Unit-tested with `node --test`.
// Keep this module free of `vscode` imports.

import * as path from "path";

export type TraceLevel = "off" | "messages" | "verbose";

export interface InbatchSettings {
  enable: boolean;
  /** `inbatch.path`: empty when unset. */
  path: string;
  /** `inbatch.args`: extra arguments after `server`. */
  args: string[];
  /** `inbatch.batchSize`: null when unset. */
  batchSize: number | null;
  trace: TraceLevel;
}

/** Reads one setting (like `WorkspaceConfiguration.get`), `undefined` when absent. */
export type SettingReader = (key: string) => unknown;

/** Settings whose change needs a server restart (the others are sent as didChangeConfiguration). */
export const RESTART_SETTINGS = ["inbatch.enable", "inbatch.path", "inbatch.args", "inbatch.batchSize"];

/**
 * Reads the `inbatch.*` settings from `get` (keys without the `inbatch.` prefix), replacing values
 * of the wrong type with defaults. Problems are returned as human-readable warnings.
 */
export function readSettings(get: SettingReader): { settings: InbatchSettings; warnings: string[] } {
  const warnings: string[] = [];
  const enable = get("enable");
  const rawPath = get("path");
  const rawArgs = get("args");
  const rawBatch = get("batchSize");
  const rawTrace = get("trace.server");

  let args: string[] = [];
  if (Array.isArray(rawArgs)) {
    args = rawArgs.filter((a): a is string => typeof a === "string");
    if (args.length !== rawArgs.length) {
      warnings.push("inbatch.args: ignoring entries that are not strings");
    }
  } else if (rawArgs !== undefined && rawArgs !== null) {
    warnings.push("inbatch.args must be an array of strings");
  }

  let batchSize: number | null = null;
  if (typeof rawBatch === "number") {
    if (Number.isInteger(rawBatch) && rawBatch >= 1) {
      batchSize = rawBatch;
    } else {
      warnings.push(`inbatch.batchSize must be a positive integer, got ${rawBatch}`);
    }
  } else if (rawBatch !== undefined && rawBatch !== null && rawBatch !== "") {
    warnings.push("inbatch.batchSize must be a positive integer");
  }

  const trace: TraceLevel =
    rawTrace === "messages" || rawTrace === "verbose" ? rawTrace : "off";

  return {
    settings: {
      enable: enable === undefined || enable === null ? true : enable !== false,
      path: typeof rawPath === "string" ? rawPath.trim() : "",
      args,
      batchSize,
      trace,
    },
    warnings,
  };
}

export interface Environment {
  /** The extension's install folder (holds `bin/`). */
  extensionPath: string;
  /** The first workspace folder, for relative `inbatch.path` values and `${workspaceFolder}`. */
  workspaceFolder?: string;
  platform: NodeJS.Platform;
  homeDir: string;
  /** Whether an executable file exists at this absolute path. */
  isExecutable(p: string): boolean;
  /** Value of PATH. */
  pathEnv: string;
}

export type ServerSource = "setting" | "bundled" | "path";

export interface ServerCommand {
  command: string;
  args: string[];
  source: ServerSource;
  /** False when the binary could not be found (the command is still returned, for the message). */
  found: boolean;
}

function exeName(platform: NodeJS.Platform): string {
  return platform === "win32" ? "inbatch.exe" : "inbatch";
}

/** Expands `~`, `${workspaceFolder}`, `${userHome}` and resolves a relative path against the workspace. */
export function expandPath(p: string, env: Environment): string {
  let out = p;
  if (env.workspaceFolder) {
    out = out.split("${workspaceFolder}").join(env.workspaceFolder);
  }
  out = out.split("${userHome}").join(env.homeDir);
  if (out === "~" || out.startsWith("~/") || out.startsWith("~\\")) {
    out = env.homeDir + out.slice(1);
  }
  const pathApi = env.platform === "win32" ? path.win32 : path.posix;
  const looksLikePath = out.includes("/") || out.includes("\\");
  if (looksLikePath && !pathApi.isAbsolute(out) && env.workspaceFolder) {
    out = pathApi.resolve(env.workspaceFolder, out);
  }
  return out;
}

/** Finds `name` on PATH; undefined when absent. */
export function which(name: string, env: Environment): string | undefined {
  const pathApi = env.platform === "win32" ? path.win32 : path.posix;
  const sep = env.platform === "win32" ? ";" : ":";
  for (const dir of env.pathEnv.split(sep)) {
    if (!dir) {
      continue;
    }
    const candidate = pathApi.join(dir, name);
    if (env.isExecutable(candidate)) {
      return candidate;
    }
  }
  return undefined;
}

/**
 * The server command: `inbatch.path` if set, else the binary bundled in the extension's `bin/`,
 * else `inbatch` on PATH. Arguments are `server` followed by `inbatch.args`.
 */
export function resolveServerCommand(settings: InbatchSettings, env: Environment): ServerCommand {
  const args = ["server", ...settings.args];
  const pathApi = env.platform === "win32" ? path.win32 : path.posix;
  if (settings.path) {
    const expanded = expandPath(settings.path, env);
    const isBareName = !expanded.includes("/") && !expanded.includes("\\");
    if (isBareName) {
      const onPath = which(expanded, env);
      return { command: onPath ?? expanded, args, source: "setting", found: onPath !== undefined };
    }
    return { command: expanded, args, source: "setting", found: env.isExecutable(expanded) };
  }
  const bundled = pathApi.join(env.extensionPath, "bin", exeName(env.platform));
  if (env.isExecutable(bundled)) {
    return { command: bundled, args, source: "bundled", found: true };
  }
  const onPath = which(exeName(env.platform), env);
  return { command: onPath ?? "inbatch", args, source: "path", found: onPath !== undefined };
}

/** initializationOptions sent to `inbatch server` (only the settings the user actually set). */
export function initializationOptions(settings: InbatchSettings): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  if (settings.batchSize !== null) {
    options.batchSize = settings.batchSize;
  }
  return options;
}

/** Whether a configuration change (tested with `affects(key)`) needs a server restart. */
export function needsRestart(affects: (key: string) => boolean): boolean {
  return RESTART_SETTINGS.some((key) => affects(key));
}

/** A human message for a server binary that was not found. */
export function notFoundMessage(cmd: ServerCommand): string {
  if (cmd.source === "setting") {
    return `inbatch: the server binary from "inbatch.path" was not found or is not executable: ${cmd.command}`;
  }
  return (
    "inbatch: no `inbatch` binary found (none bundled with the extension and none on PATH). " +
    'Install it (`pip install inbatch` or `cargo install --path server`) or set "inbatch.path".'
  );
}

export interface ProgressValue {
  kind: "begin" | "report" | "end";
  title?: string;
  message?: string;
  percentage?: number;
}

/** Tracks the `$/progress` tokens that are running and renders the status-bar text. */
export class ProgressTracker {
  private readonly running = new Map<string, { title: string; message?: string; percentage?: number }>();

  update(token: string | number, value: ProgressValue): void {
    const key = String(token);
    if (value.kind === "begin") {
      const title = value.title ?? "indexing";
      // A new run of the same task (e.g. re-indexing after a configuration change) supersedes an
      // older one, even if the server never ended the older token.
      for (const [other, state] of this.running) {
        if (state.title === title) {
          this.running.delete(other);
        }
      }
      this.running.set(key, { title, message: value.message, percentage: value.percentage });
    } else if (value.kind === "report") {
      const cur = this.running.get(key) ?? { title: "indexing" };
      if (value.message !== undefined) {
        cur.message = value.message;
      }
      if (value.percentage !== undefined) {
        cur.percentage = value.percentage;
      }
      this.running.set(key, cur);
    } else {
      this.running.delete(key);
    }
  }

  get busy(): boolean {
    return this.running.size > 0;
  }

  /** Status-bar text, or undefined when nothing runs (the item is hidden then). */
  text(): string | undefined {
    const last = Array.from(this.running.values()).pop();
    if (!last) {
      return undefined;
    }
    const title = /^inbatch\b/i.test(last.title) ? last.title : `inbatch: ${last.title}`;
    let text = `$(sync~spin) ${title}`;
    if (last.message) {
      text += ` ${last.message}`;
    }
    if (last.percentage !== undefined) {
      text += ` (${Math.round(last.percentage)}%)`;
    }
    return text;
  }
}

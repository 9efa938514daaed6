// The inbatch VS Code extension: starts `inbatch server` for Python files through
// vscode-languageclient, and adds the restart / fix-all / output commands and an indexing
// status-bar item. Everything that does not need VS Code lives in ./config.ts.

import * as fs from "fs";
import * as os from "os";
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  State,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
} from "vscode-languageclient/node";
import {
  Environment,
  ProgressTracker,
  initializationOptions,
  needsRestart,
  notFoundMessage,
  readSettings,
  resolveServerCommand,
} from "./config";

const FIX_ALL_KIND = "source.fixAll.inbatch";
/** Not under `source.fixAll`: an editor's fix-all on save never runs it. */
const FIX_ALL_UNSAFE_KIND = "source.fixAllUnsafe.inbatch";

let client: LanguageClient | undefined;
let outputChannel: vscode.OutputChannel;
let traceChannel: vscode.OutputChannel;
let statusItem: vscode.StatusBarItem;
let progress = new ProgressTracker();

function isExecutable(p: string): boolean {
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) {
      return false;
    }
    if (process.platform === "win32") {
      return true;
    }
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function environment(context: vscode.ExtensionContext): Environment {
  return {
    extensionPath: context.extensionPath,
    workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
    platform: process.platform,
    homeDir: os.homedir(),
    isExecutable,
    pathEnv: process.env.PATH ?? "",
  };
}

function refreshStatus(): void {
  const text = progress.text();
  if (text) {
    statusItem.text = text;
    statusItem.tooltip = "inbatch is indexing the workspace's models";
    statusItem.show();
  } else {
    statusItem.hide();
  }
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  const config = vscode.workspace.getConfiguration("inbatch");
  const { settings, warnings } = readSettings((key) => config.get(key));
  for (const warning of warnings) {
    outputChannel.appendLine(`settings: ${warning}`);
  }
  if (!settings.enable) {
    outputChannel.appendLine("inbatch.enable is false: the server is not started");
    return;
  }
  const cmd = resolveServerCommand(settings, environment(context));
  if (!cmd.found) {
    outputChannel.appendLine(notFoundMessage(cmd));
    void vscode.window.showErrorMessage(notFoundMessage(cmd), "Show Output").then((choice) => {
      if (choice) {
        outputChannel.show();
      }
    });
    return;
  }
  outputChannel.appendLine(`starting ${cmd.command} ${cmd.args.join(" ")} (${cmd.source})`);

  const serverOptions: ServerOptions = {
    run: { command: cmd.command, args: cmd.args },
    debug: { command: cmd.command, args: cmd.args },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "python" },
      { scheme: "untitled", language: "python" },
    ],
    initializationOptions: initializationOptions(settings),
    outputChannel,
    traceOutputChannel: traceChannel,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    synchronize: {
      configurationSection: "inbatch",
      fileEvents: [
        vscode.workspace.createFileSystemWatcher("**/*.py"),
        vscode.workspace.createFileSystemWatcher("**/{pyproject.toml,inbatch.toml}"),
      ],
    },
  };

  const lc = new LanguageClient("inbatch", "inbatch", serverOptions, clientOptions);
  client = lc;
  progress = new ProgressTracker();
  refreshStatus();
  await lc.start();

  // Drive the status-bar item from the server's work-done progress (workspace indexing).
  lc.onRequest(WorkDoneProgressCreateRequest.type, (params) => {
    lc.onProgress(WorkDoneProgress.type, params.token, (value) => {
      progress.update(params.token, value);
      refreshStatus();
    });
    return null;
  });
  lc.onDidChangeState((e) => {
    if (e.newState === State.Stopped) {
      progress = new ProgressTracker();
      refreshStatus();
    }
  });
}

async function stopClient(): Promise<void> {
  const lc = client;
  client = undefined;
  if (lc) {
    try {
      await lc.stop();
    } catch (err) {
      outputChannel.appendLine(`stopping the server failed: ${String(err)}`);
    }
  }
  progress = new ProgressTracker();
  refreshStatus();
}

async function restart(context: vscode.ExtensionContext): Promise<void> {
  await stopClient();
  await startClient(context);
}

/**
 * Applies the server's `source.fixAll.inbatch` action (safe fixes only) to the active editor, or
 * with `unsafe` its `source.fixAllUnsafe.inbatch` action (the loop rewrites too).
 */
async function fixAll(unsafe: boolean): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== "python") {
    void vscode.window.showInformationMessage("inbatch: open a Python file to fix");
    return;
  }
  const doc = editor.document;
  const range = new vscode.Range(0, 0, doc.lineCount, 0);
  const kind = unsafe ? FIX_ALL_UNSAFE_KIND : FIX_ALL_KIND;
  const actions =
    (await vscode.commands.executeCommand<vscode.CodeAction[]>(
      "vscode.executeCodeActionProvider",
      doc.uri,
      range,
      kind,
      1,
    )) ?? [];
  const action = actions.find((a) => a.kind?.value === kind);
  if (!action) {
    void vscode.window.setStatusBarMessage("inbatch: nothing to fix", 3000);
    return;
  }
  if (action.edit) {
    await vscode.workspace.applyEdit(action.edit);
  }
  if (action.command) {
    await vscode.commands.executeCommand(action.command.command, ...(action.command.arguments ?? []));
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  outputChannel = vscode.window.createOutputChannel("inbatch");
  traceChannel = vscode.window.createOutputChannel("inbatch Language Server Trace");
  statusItem = vscode.window.createStatusBarItem("inbatch.indexing", vscode.StatusBarAlignment.Left, 10);
  statusItem.name = "inbatch indexing";
  statusItem.command = "inbatch.showOutput";
  context.subscriptions.push(
    outputChannel,
    traceChannel,
    statusItem,
    vscode.commands.registerCommand("inbatch.restart", () => restart(context)),
    vscode.commands.registerCommand("inbatch.fixAll", () => fixAll(false)),
    vscode.commands.registerCommand("inbatch.fixAllUnsafe", () => fixAll(true)),
    vscode.commands.registerCommand("inbatch.showOutput", () => outputChannel.show()),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (needsRestart((key) => e.affectsConfiguration(key))) {
        void restart(context);
      }
    }),
  );
  await startClient(context);
}

export async function deactivate(): Promise<void> {
  await stopClient();
}

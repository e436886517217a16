// The mhc extension: the language (language-configuration.json), the
// TextMate grammar (syntaxes/) and this client, which starts the language
// server `mhcc lsp` and talks to it over its stdin and stdout. Everything
// the editor learns about a file (diagnostics, hover, completion,
// formatting, definitions) comes from mhcc; docs/editors.md describes it.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("mhc").get("server.path") || "mhcc";
  // An executable without a transport talks over stdio, no flag added.
  const serverOptions = { command, args: ["lsp"] };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "mhc" },
      { scheme: "untitled", language: "mhc" },
    ],
  };
  client = new LanguageClient("mhcc", "mhcc language server", serverOptions, clientOptions);
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };

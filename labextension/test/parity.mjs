// The TypeScript half of the op-parity check: applies op cases to real @jupyter/ydoc
// notebooks (the model behind a live JupyterLab notebook) with the extension's applier.
//
//   jlpm build:test && node test/parity.mjs RUNS.json
//
// RUNS.json: [{"name", "notebook": <nbformat JSON>, "steps": [[op, ...], ...]}]. Each step is
// applied to the notebook the previous step left. Prints one JSON list on stdout:
// [{"name", "steps": [{"ok", "reason", "cells": [<cell JSON>, ...]}, ...]}].
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { YNotebook } from '@jupyter/ydoc';

const require = createRequire(import.meta.url);
const { applySharedOps } = require('./build/ops.js');

// yjs warns about every cell's metadata read while ydoc builds a cell before attaching it; that
// noise says nothing about the ops and would bury real failures in the test's output.
const warn = console.warn;
console.warn = (...args) => {
  if (!String(args[0]).startsWith('Invalid access: Add Yjs type to a document')) {
    warn(...args);
  }
};

function run(item) {
  const notebook = YNotebook.create();
  try {
    notebook.fromJSON(JSON.parse(JSON.stringify(item.notebook)));
    return {
      name: item.name,
      steps: item.steps.map(ops => {
        const result = applySharedOps(notebook, ops);
        // JSON round trip: what the front end would send back (undefined keys dropped).
        const cells = JSON.parse(JSON.stringify(notebook.toJSON().cells));
        return { ok: result.ok, reason: result.reason, cells };
      })
    };
  } finally {
    notebook.dispose();
  }
}

const runs = JSON.parse(readFileSync(process.argv[2], 'utf-8'));
// A ydoc notebook's awareness keeps a timer alive: end once the results are flushed to the pipe.
process.stdout.write(JSON.stringify(runs.map(run)), () => process.exit(0));

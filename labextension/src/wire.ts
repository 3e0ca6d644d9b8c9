/* eslint-disable */
/**
 * The wire contract between codex-nb's Python side and this extension.
 * Generated from src/wire.schema.json by scripts/gen-types.mjs — do not edit;
 * change the Python data classes (codex_nb/wire/registry.py) and run `jlpm gen:types`.
 */

/**
 * Every message between codex-nb's Python side and its lab extension.
 */
export type WireMessage = Proposal | LiveOp | ValidationReport | GateResult;
export type LiveOp = InsertOp | ReplaceOp | DeleteOp | RestoreOp | RemoveOp;

/**
 * An explanation and the edits that carry it out, as `codex-nb propose --json` prints it.
 */
export interface Proposal {
  created: string;
  edits: (InsertCell | ReplaceCell | DeleteCell | PatchFile)[];
  explanation: string;
  id: string;
  model: string;
  notebook: string | null;
  version: 1;
}
/**
 * A new cell, placed after one cell, before one, or (neither) at the end.
 */
export interface InsertCell {
  after: string | null;
  before: string | null;
  cell_type: 'code' | 'markdown' | 'raw';
  new_id: string;
  op: 'insert';
  source: string;
}
/**
 * New source (and maybe a new type) for an existing cell.
 */
export interface ReplaceCell {
  base_hash: string;
  cell_id: string;
  cell_type: ('code' | 'markdown' | 'raw') | null;
  op: 'replace';
  source: string;
}
/**
 * Remove an existing cell.
 */
export interface DeleteCell {
  base_hash: string;
  cell_id: string;
  op: 'delete';
}
/**
 * A change to a repository file: a unified diff or one search/replace pair.
 */
export interface PatchFile {
  base_hash: string | null;
  diff: string | null;
  op: 'patch_file';
  path: string;
  replace: string | null;
  search: string | null;
}
/**
 * Insert a new cell after ``after``, before ``before``, or at the end when both are null.
 */
export interface InsertOp {
  after: string | null;
  before: string | null;
  cell_type: 'code' | 'markdown' | 'raw';
  new_id: string;
  op: 'insert';
  source: string;
}
/**
 * Give a cell new source (and, when ``cell_type`` is not null, a new type).
 */
export interface ReplaceOp {
  cell_id: string;
  cell_type: ('code' | 'markdown' | 'raw') | null;
  expected_source: string | null;
  op: 'replace';
  source: string;
}
/**
 * Delete a cell whose source is still ``expected_source`` (null: whatever it is).
 */
export interface DeleteOp {
  cell_id: string;
  expected_source: string | null;
  op: 'delete';
}
/**
 * Put ``cell`` back exactly at ``index`` (clamped), replacing any cell with its id.
 */
export interface RestoreOp {
  cell: CodeCell | MarkdownCell | RawCell;
  index: number;
  op: 'restore';
}
export interface CodeCell {
  cell_type: 'code';
  execution_count: number | null;
  id: string;
  metadata: {
    [k: string]: unknown | undefined;
  };
  outputs: (StreamOutput | DisplayDataOutput | ExecuteResultOutput | ErrorOutput)[];
  source: string | string[];
}
export interface StreamOutput {
  name: string;
  output_type: 'stream';
  text: string | string[];
}
export interface DisplayDataOutput {
  data: {
    [k: string]: unknown | undefined;
  };
  metadata: {
    [k: string]: unknown | undefined;
  };
  output_type: 'display_data';
}
export interface ExecuteResultOutput {
  data: {
    [k: string]: unknown | undefined;
  };
  execution_count: number | null;
  metadata: {
    [k: string]: unknown | undefined;
  };
  output_type: 'execute_result';
}
export interface ErrorOutput {
  ename: string;
  evalue: string;
  output_type: 'error';
  traceback: string[];
}
export interface MarkdownCell {
  attachments?: {
    [k: string]:
      | {
          [k: string]: unknown | undefined;
        }
      | undefined;
  };
  cell_type: 'markdown';
  id: string;
  metadata: {
    [k: string]: unknown | undefined;
  };
  source: string | string[];
}
export interface RawCell {
  attachments?: {
    [k: string]:
      | {
          [k: string]: unknown | undefined;
        }
      | undefined;
  };
  cell_type: 'raw';
  id: string;
  metadata: {
    [k: string]: unknown | undefined;
  };
  source: string | string[];
}
/**
 * Remove a cell whatever its source (the undo of an insert).
 */
export interface RemoveOp {
  cell_id: string;
  op: 'remove';
}
/**
 * The outcome of one validation; ``to_json()`` is the documented report format.
 */
export interface ValidationReport {
  cells_run: string[];
  cells_selected: string[];
  drift: {
    [k: string]: unknown | undefined;
  }[];
  failed: {
    [k: string]: unknown | undefined;
  } | null;
  kernel: string | null;
  mode: string;
  notebook: string | null;
  ok: boolean;
  reasons: {
    [k: string]: string | undefined;
  };
  requested_mode: string;
  seconds: number;
  skipped: {
    [k: string]: string | undefined;
  };
  widened: string | null;
}
export interface GateResult {
  detail: {
    [k: string]: unknown | undefined;
  };
  gate: string;
  ok: boolean;
  repair_text: string;
  seconds: number;
  summary: string;
}

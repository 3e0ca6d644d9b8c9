/* eslint-disable */
/**
 * The wire contract between codex-nb's Python side and this extension.
 * Generated from src/wire.schema.json by scripts/gen-types.mjs — do not edit;
 * change the Python data classes (codex_nb/wire/registry.py) and run `jlpm gen:types`.
 */

/**
 * Every message between codex-nb's Python side and its lab extension.
 */
export type WireMessage =
  Proposal | LiveOp | ValidationReport | GateResult | EngineEvent | Outcome | AuditEntry;
export type LiveOp = InsertOp | ReplaceOp | DeleteOp | RestoreOp | RemoveOp;
export type EngineEvent =
  | Decided
  | Status
  | Refused
  | Applied
  | Progress
  | Validated
  | Kept
  | RolledBack
  | RepairStarted
  | RepairDelta
  | RepairProposed
  | RepairFailed
  | Undone
  | Committed
  | ApplyRequest
  | RunRequest
  | Finished;
/**
 * One line of .codex_nb/audit.jsonl
 */
export type AuditEntry =
  | AuditEntryAsked
  | AuditEntryProposed
  | AuditEntryDecided
  | AuditEntryRefused
  | AuditEntryApplied
  | AuditEntryValidated
  | AuditEntryKept
  | AuditEntryRolledBack
  | AuditEntryRepair
  | AuditEntryUndone
  | AuditEntryCommitted
  | AuditEntryFallback
  | AuditEntryValidationRun
  | AuditEntryFailed
  | AuditEntryAgentRun
  | AuditEntryAgentStep
  | AuditEntryAgentRewind;

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
  cell_seconds: {
    [k: string]: number | undefined;
  };
  cells_run: string[];
  cells_selected: string[];
  drift: {
    [k: string]: unknown | undefined;
  }[];
  estimate: {
    [k: string]: unknown | undefined;
  };
  failed: {
    [k: string]: unknown | undefined;
  } | null;
  gateway: {
    [k: string]: unknown | undefined;
  } | null;
  in_place: boolean;
  kernel: string | null;
  kernel_start: {
    [k: string]: unknown | undefined;
  };
  labels: {
    [k: string]: string | undefined;
  };
  linked: string[];
  mode: string;
  mode_reason: string | null;
  network: boolean;
  notebook: string | null;
  ok: boolean;
  quiet_figures: string[];
  reasons: {
    [k: string]: string | undefined;
  };
  requested_mode: string;
  seconds: number;
  skipped: {
    [k: string]: string | undefined;
  };
  widened: string | null;
  workdir: string | null;
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
export interface Decided {
  decision: 'accepted' | 'rejected';
  edits: number[];
  type: 'decided';
}
export interface Status {
  notice: boolean;
  text: string;
  type: 'status';
}
export interface Refused {
  hint: string;
  no_frontend: boolean;
  reason: string;
  type: 'refused';
}
export interface Applied {
  applier: string;
  cells: string[];
  edits: number[];
  files: string[];
  type: 'applied';
}
export interface Progress {
  event: {
    [k: string]: unknown | undefined;
  };
  gate: string;
  type: 'progress';
}
export interface Validated {
  gates: {
    [k: string]: unknown | undefined;
  }[];
  ok: boolean;
  summary: string;
  type: 'validated';
}
export interface Kept {
  commit: string | null;
  commit_offer: CommitOffer | null;
  type: 'kept';
}
/**
 * With ``commit = "ask"``: the commit a door may offer for a kept change, exactly as ``"on"`` would make it.
 *
 * ``hashes`` are the sha256 of each file as the change left it (None: the change removed it);
 * ``Engine.commit_offered`` commits only while every file is still that, so what is committed
 * is what was validated.
 */
export interface CommitOffer {
  dirty: string[];
  files: string[];
  hashes: {
    [k: string]: (string | null) | undefined;
  };
  message: string;
  repo_root: string;
}
export interface RolledBack {
  exact: boolean;
  failure: {
    [k: string]: unknown | undefined;
  };
  files: string[];
  reason: string;
  type: 'rolled_back';
}
export interface RepairStarted {
  attempt: number;
  type: 'repair_started';
}
export interface RepairDelta {
  text: string;
  type: 'repair_delta';
}
export interface RepairProposed {
  attempt: number;
  proposal: {
    [k: string]: unknown | undefined;
  };
  type: 'repair_proposed';
}
export interface RepairFailed {
  attempt: number;
  error: string;
  type: 'repair_failed';
}
export interface Undone {
  commit: string | null;
  edits: number[];
  files: string[];
  type: 'undone';
}
/**
 * A kept change's offered commit was made (commit = "ask", after the person said yes).
 */
export interface Committed {
  commit: string;
  files: string[];
  proposal_id: string;
  type: 'committed';
}
export interface ApplyRequest {
  action: 'read' | 'apply';
  ops: {
    [k: string]: unknown | undefined;
  }[];
  request_id: string;
  type: 'apply_request';
}
/**
 * Agent mode in the panel: the page runs cells in the notebook's own kernel (or interrupts it).
 */
export interface RunRequest {
  action: 'run' | 'interrupt' | 'variables';
  cell_ids: string[];
  names: string[];
  request_id: string;
  reset: boolean;
  type: 'run_request';
}
export interface Finished {
  outcome: {
    [k: string]: unknown | undefined;
  };
  type: 'finished';
}
export interface Outcome {
  attempts: number;
  cells: string[];
  commit: string | null;
  commit_offer: CommitOffer | null;
  edits: number[];
  failure: {
    [k: string]: unknown | undefined;
  } | null;
  files: string[];
  gates: {
    [k: string]: unknown | undefined;
  }[];
  hint: string;
  id: string;
  no_frontend: boolean;
  proposal: {
    [k: string]: unknown | undefined;
  };
  proposal_id: string;
  reason: string;
  repair_tokens: number;
  status: 'kept' | 'rolled_back' | 'refused';
  validated: boolean;
}
/**
 * an ask / explain answer (no edits)
 */
export interface AuditEntryAsked {
  event: 'asked';
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  instruction_hash: string;
  model: string | null;
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}
/**
 * a proposal: the ops of its edits
 */
export interface AuditEntryProposed {
  edits: string[];
  event: 'proposed';
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  instruction_hash: string;
  model: string | null;
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}
/**
 * a person accepted or rejected edits (indexes into the proposal)
 */
export interface AuditEntryDecided {
  decision: 'accepted' | 'rejected';
  edits: number[];
  event: 'decided';
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}
/**
 * an acceptance refused before anything changed (stale, bad path, …)
 */
export interface AuditEntryRefused {
  event: 'refused';
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  reason: string;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}
/**
 * edits written: cells changed, files patched, by which applier
 */
export interface AuditEntryApplied {
  applier: 'file' | 'kernel' | 'panel';
  cells: string[];
  edits: number[];
  event: 'applied';
  files: string[];
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}
/**
 * the gates run on an applied change
 */
export interface AuditEntryValidated {
  event: 'validated';
  gates: {
    gate: string;
    ok: boolean;
    summary: string;
  }[];
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  mode: string;
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  ok: boolean;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  seconds: number;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}
/**
 * a validated change kept (and the commit, if one was made)
 */
export interface AuditEntryKept {
  commit: string | null;
  event: 'kept';
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}
/**
 * an applied change undone because validation failed (or on request)
 */
export interface AuditEntryRolledBack {
  event: 'rolled_back';
  exact: boolean;
  files: string[];
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  reason: string;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}
/**
 * a failed change handed to the model for a fix
 */
export interface AuditEntryRepair {
  attempt: number;
  event: 'repair';
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  new_proposal_id: string | null;
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}
/**
 * a kept change undone by the user (by a revert commit, named in 'commit', when it was committed)
 */
export interface AuditEntryUndone {
  edits: number[];
  event: 'undone';
  files: string[];
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}
/**
 * a kept change committed after it was kept (commit = 'ask': the person accepted the offered commit)
 */
export interface AuditEntryCommitted {
  commit: string;
  event: 'committed';
  files: string[];
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}
/**
 * a model answer inserted as a plain cell because it could not be applied as edits
 */
export interface AuditEntryFallback {
  event: 'fallback';
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  inserted: boolean;
  missed: string[];
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}
/**
 * a standalone validation (`codex-nb validate`), not tied to a proposal
 */
export interface AuditEntryValidationRun {
  event: 'validation_run';
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  mode: string;
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  ok: boolean;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}
/**
 * a request to the model that ended in an error: what was asked (as a hash) and why it failed
 */
export interface AuditEntryFailed {
  error: {};
  event: 'failed';
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  instruction_hash: string;
  kind: string;
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}
/**
 * agent mode: a run started or finished
 */
export interface AuditEntryAgentRun {
  detail: string | {};
  event: 'agent_run';
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  run_id: string;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  step: number;
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}
/**
 * agent mode: one step of a run
 */
export interface AuditEntryAgentStep {
  detail: string | {};
  event: 'agent_step';
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  run_id: string;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  step: number;
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}
/**
 * agent mode: a run rewound to an earlier step
 */
export interface AuditEntryAgentRewind {
  detail: string | {};
  event: 'agent_rewind';
  /**
   * sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)
   */
  hash: string;
  /**
   * absolute path of the notebook, or null
   */
  notebook: string | null;
  /**
   * sha256 of the previous line's bytes; 64 zeros on line 1
   */
  prev: string;
  proposal_id: string | null;
  run_id: string;
  /**
   * 1-based line number in the log
   */
  seq: number;
  source: 'cli' | 'kernel' | 'server' | 'agent' | 'api';
  step: number;
  /**
   * UTC, milliseconds
   */
  time: string;
  /**
   * the Jupyter user from the server's identity provider, else the OS user
   */
  user: string;
  [k: string]: unknown | undefined;
}

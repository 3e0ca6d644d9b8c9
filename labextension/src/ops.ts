/**
 * Apply live-apply ops to a notebook: check all, then apply all in ONE shared-model
 * transaction (one undo step). Used by the comm target (kernel side) and by the panel
 * (accept / roll back). The ops, their JSON Schema and their meaning are the Python
 * side's (codex_nb/edits/live_ops.py); tests/data/ops_cases.json runs through both
 * appliers and must give identical notebooks.
 */
import type { INotebookModel } from '@jupyterlab/notebook';
import type {
  ISharedAttachmentsCell,
  ISharedCell,
  ISharedCodeCell,
  ISharedNotebook,
  SharedCell
} from '@jupyter/ydoc';
import Ajv2020 from 'ajv/dist/2020';
import type { ValidateFunction } from 'ajv';
import wireSchema from './wire.schema.json';
import type { CodeCell, LiveOp, MarkdownCell, RawCell } from './wire';

export type { LiveOp } from './wire';

export interface IApplyResult {
  ok: boolean;
  reason: string | null;
}

type WireCell = CodeCell | MarkdownCell | RawCell;
type Bundle = { [mime: string]: unknown };

/** Validate, then apply every op to a live notebook model in one transaction. */
export function applyOps(model: INotebookModel, ops: LiveOp[]): IApplyResult {
  return applySharedOps(model.sharedModel, ops);
}

/**
 * Validate, then apply every op in one transaction; nothing changes when any op is refused.
 * `raw` comes from the kernel or the server, so it is checked against the wire schema first.
 */
export function applySharedOps(shared: ISharedNotebook, raw: unknown): IApplyResult {
  try {
    const ops = parseOps(raw);
    if (typeof ops === 'string') {
      return { ok: false, reason: ops };
    }
    const problem = checkOps(shared, ops);
    if (problem) {
      return { ok: false, reason: problem };
    }
    shared.transact(() => applyChecked(shared, ops));
  } catch (err) {
    return { ok: false, reason: `applying failed: ${err}` };
  }
  return { ok: true, reason: null };
}

/** The ops if every one matches the wire schema, else what is wrong with the first that does not. */
export function parseOps(raw: unknown): LiveOp[] | string {
  if (!Array.isArray(raw)) {
    return 'ops must be a list';
  }
  const validators = opValidators();
  for (const [n, op] of raw.entries()) {
    const kind = isObject(op) ? op.op : undefined;
    const validate = typeof kind === 'string' ? validators.get(kind) : undefined;
    if (!validate) {
      return `op ${n} has unknown kind ${JSON.stringify(kind ?? null)} (ops are ${[...validators.keys()].join(', ')})`;
    }
    if (!validate(op)) {
      const first = validate.errors?.[0];
      const extra = first?.params.additionalProperty;
      const what = `${first?.message ?? 'is malformed'}${extra ? ` (${extra})` : ''}`;
      return `op ${n} (${kind}): ${first?.instancePath || 'op'} ${what}`;
    }
  }
  return raw as LiveOp[];
}

/** Check every op against a simulation of the cell list; the first problem is the reason. */
export function checkOps(shared: ISharedNotebook, ops: LiveOp[]): string | null {
  const ids: string[] = [];
  const sources = new Map<string, string>();
  for (const cell of shared.cells) {
    ids.push(cell.id);
    sources.set(cell.id, cell.getSource());
  }
  const gone = (id: string) => `cell ${id} is gone`;
  for (const op of ops) {
    switch (op.op) {
      case 'insert': {
        if (op.after !== null && op.before !== null) {
          return `insert ${op.new_id} names both a cell to follow and a cell to precede`;
        }
        if (ids.includes(op.new_id)) {
          return `cell ${op.new_id} already exists`;
        }
        const anchor = op.after ?? op.before;
        const at = anchor === null ? ids.length : ids.indexOf(anchor);
        if (at < 0) {
          return gone(anchor as string);
        }
        ids.splice(op.after !== null ? at + 1 : at, 0, op.new_id);
        sources.set(op.new_id, op.source);
        break;
      }
      case 'replace':
      case 'delete': {
        if (!ids.includes(op.cell_id)) {
          return gone(op.cell_id);
        }
        if (op.expected_source !== null && sources.get(op.cell_id) !== op.expected_source) {
          return `cell ${op.cell_id} changed since the proposal`;
        }
        if (op.op === 'replace') {
          sources.set(op.cell_id, op.source);
        } else {
          ids.splice(ids.indexOf(op.cell_id), 1);
        }
        break;
      }
      case 'restore': {
        const id = op.cell.id;
        const at = ids.indexOf(id);
        if (at >= 0) {
          ids.splice(at, 1);
        }
        ids.splice(Math.min(op.index, ids.length), 0, id);
        sources.set(id, text(op.cell.source));
        break;
      }
      case 'remove': {
        if (!ids.includes(op.cell_id)) {
          return gone(op.cell_id);
        }
        ids.splice(ids.indexOf(op.cell_id), 1);
        break;
      }
    }
  }
  return null;
}

/** Apply ops that `checkOps` accepted; runs inside the caller's transaction. */
function applyChecked(shared: ISharedNotebook, ops: LiveOp[]): void {
  // Inside a transaction `shared.cells` is only refreshed when the transaction ends, so
  // positions come from a mirror of the cell order kept in step with every insert/delete.
  const ids = shared.cells.map(c => c.id);
  const byId = new Map<string, ISharedCell>(shared.cells.map(c => [c.id, c]));
  const insertAt = (index: number, cell: WireCell) => {
    byId.set(cell.id, shared.insertCell(index, cell as SharedCell.Cell));
    ids.splice(index, 0, cell.id);
  };
  const deleteAt = (index: number) => {
    shared.deleteCell(index);
    byId.delete(ids[index]);
    ids.splice(index, 1);
  };
  for (const op of ops) {
    switch (op.op) {
      case 'insert': {
        let index = ids.length;
        if (op.after !== null) {
          index = ids.indexOf(op.after) + 1;
        } else if (op.before !== null) {
          index = ids.indexOf(op.before);
        }
        insertAt(index, newCell(op.new_id, op.cell_type, op.source));
        break;
      }
      case 'replace': {
        const index = ids.indexOf(op.cell_id);
        const cell = byId.get(op.cell_id) as ISharedCell;
        if (op.cell_type !== null && op.cell_type !== cell.cell_type) {
          // A shared cell cannot change type in place: replace it, keeping its id and metadata.
          const changed = newCell(op.cell_id, op.cell_type, op.source);
          changed.metadata = cell.getMetadata();
          const attachments = (cell as ISharedAttachmentsCell).attachments;
          if (changed.cell_type !== 'code' && attachments !== undefined) {
            changed.attachments = attachments;
          }
          deleteAt(index);
          insertAt(index, changed);
        } else {
          cell.setSource(op.source);
          if (cell.cell_type === 'code') {
            // Outputs belong to the old source; keeping them would show results the new code never produced.
            const code = cell as ISharedCodeCell;
            code.setOutputs([]);
            code.execution_count = null;
          }
        }
        break;
      }
      case 'delete':
      case 'remove':
        deleteAt(ids.indexOf(op.cell_id));
        break;
      case 'restore': {
        const existing = ids.indexOf(op.cell.id);
        if (existing >= 0) {
          deleteAt(existing);
        }
        insertAt(Math.min(op.index, ids.length), joined(op.cell));
        break;
      }
    }
  }
}

function newCell(id: string, cellType: WireCell['cell_type'], source: string): WireCell {
  if (cellType === 'code') {
    return { id, cell_type: 'code', source, metadata: {}, outputs: [], execution_count: null };
  }
  return { id, cell_type: cellType, source, metadata: {} };
}

/** nbformat's in-memory form, as the Python applier stores it: multi-line strings as one string. */
function joined(cell: WireCell): WireCell {
  const copy = JSON.parse(JSON.stringify(cell)) as WireCell;
  copy.source = text(copy.source);
  if (copy.cell_type === 'code') {
    for (const output of copy.outputs) {
      if (output.output_type === 'stream') {
        output.text = text(output.text);
      } else if (output.output_type !== 'error') {
        output.data = bundle(output.data);
      }
    }
  } else if (copy.attachments !== undefined) {
    for (const name of Object.keys(copy.attachments)) {
      copy.attachments[name] = bundle(copy.attachments[name] as Bundle);
    }
  }
  return copy;
}

function bundle(data: Bundle): Bundle {
  const out: Bundle = {};
  for (const [mime, value] of Object.entries(data)) {
    const json = mime === 'application/json' || mime.endsWith('+json');
    out[mime] = !json && isLines(value) ? value.join('') : value;
  }
  return out;
}

function text(value: string | string[]): string {
  return Array.isArray(value) ? value.join('') : value;
}

function isLines(value: unknown): value is string[] {
  return Array.isArray(value) && value.every(line => typeof line === 'string');
}

function isObject(value: unknown): value is { [key: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

let validatorsByKind: Map<string, ValidateFunction> | null = null;

/** One compiled validator per op kind, from the wire schema's LiveOp union (compiled once). */
function opValidators(): Map<string, ValidateFunction> {
  if (validatorsByKind) {
    return validatorsByKind;
  }
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, discriminator: true });
  ajv.addSchema(wireSchema, 'wire');
  const defs = wireSchema.$defs as { [name: string]: { properties?: { op?: { const?: string } } } };
  validatorsByKind = new Map();
  for (const member of wireSchema.$defs.LiveOp.oneOf) {
    const name = member.$ref.split('/').pop() as string;
    const kind = defs[name].properties?.op?.const as string;
    validatorsByKind.set(kind, ajv.getSchema(`wire#/$defs/${name}`) as ValidateFunction);
  }
  return validatorsByKind;
}

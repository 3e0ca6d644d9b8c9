/**
 * Apply live-apply ops to a notebook model: validate all, then apply all in ONE
 * shared-model transaction (one undo step). Used by the comm target (kernel side)
 * and by the panel (accept / roll back), so both paths behave identically.
 */
import type * as nbformat from '@jupyterlab/nbformat';
import type { INotebookModel } from '@jupyterlab/notebook';
import type { ISharedCell, ISharedCodeCell } from '@jupyter/ydoc';

export type LiveOp =
  | {
      op: 'insert';
      new_id: string;
      after?: string | null;
      before?: string | null;
      cell_type?: string;
      source: string;
    }
  | {
      op: 'replace';
      cell_id: string;
      source: string;
      cell_type?: string | null;
      expected_source?: string | null;
    }
  | { op: 'delete'; cell_id: string; expected_source?: string | null }
  | { op: 'restore'; index: number; cell: nbformat.ICell }
  | { op: 'remove'; cell_id: string };

export interface IApplyResult {
  ok: boolean;
  reason: string | null;
}

const CELL_TYPES = ['code', 'markdown', 'raw'];

/** Check every op against a simulation of the cell list; the first problem is the reason. */
export function checkOps(model: INotebookModel, ops: LiveOp[]): string | null {
  const ids: string[] = [];
  const sources = new Map<string, string>();
  for (const cell of model.sharedModel.cells) {
    ids.push(cell.id);
    sources.set(cell.id, cell.getSource());
  }
  const gone = (id: string) => `cell ${id} is gone`;
  for (const op of ops) {
    switch (op?.op) {
      case 'insert': {
        if (!op.new_id || ids.includes(op.new_id)) {
          return `cell ${op.new_id} already exists`;
        }
        if (op.cell_type && !CELL_TYPES.includes(op.cell_type)) {
          return `unknown cell type ${op.cell_type}`;
        }
        let index = ids.length;
        if (op.after) {
          const at = ids.indexOf(op.after);
          if (at < 0) {
            return gone(op.after);
          }
          index = at + 1;
        } else if (op.before) {
          const at = ids.indexOf(op.before);
          if (at < 0) {
            return gone(op.before);
          }
          index = at;
        }
        ids.splice(index, 0, op.new_id);
        sources.set(op.new_id, op.source ?? '');
        break;
      }
      case 'replace':
      case 'delete': {
        if (!ids.includes(op.cell_id)) {
          return gone(op.cell_id);
        }
        if (
          op.expected_source !== undefined &&
          op.expected_source !== null &&
          sources.get(op.cell_id) !== op.expected_source
        ) {
          return `cell ${op.cell_id} changed since the proposal`;
        }
        if (op.op === 'replace') {
          if (op.cell_type && !CELL_TYPES.includes(op.cell_type)) {
            return `unknown cell type ${op.cell_type}`;
          }
          sources.set(op.cell_id, op.source ?? '');
        } else {
          ids.splice(ids.indexOf(op.cell_id), 1);
        }
        break;
      }
      case 'restore': {
        const id = op.cell?.id as string | undefined;
        if (!op.cell || !CELL_TYPES.includes(op.cell.cell_type) || !id) {
          return 'restore needs a cell with an id and a cell_type';
        }
        const at = ids.indexOf(id);
        if (at >= 0) {
          ids.splice(at, 1);
        }
        ids.splice(Math.max(0, Math.min(op.index, ids.length)), 0, id);
        sources.set(id, sourceText(op.cell.source));
        break;
      }
      case 'remove': {
        if (!ids.includes(op.cell_id)) {
          return gone(op.cell_id);
        }
        ids.splice(ids.indexOf(op.cell_id), 1);
        break;
      }
      default:
        return `unknown op ${JSON.stringify((op as any)?.op)}`;
    }
  }
  return null;
}

/** Validate, then apply every op in one transaction; nothing changes when any op is refused. */
export function applyOps(model: INotebookModel, ops: LiveOp[]): IApplyResult {
  if (!Array.isArray(ops)) {
    return { ok: false, reason: 'ops must be a list' };
  }
  const problem = checkOps(model, ops);
  if (problem) {
    return { ok: false, reason: problem };
  }
  const shared = model.sharedModel;
  // Inside a transaction `shared.cells` is only refreshed when the transaction ends, so
  // positions come from a mirror of the cell order kept in step with every insert/delete.
  const ids = shared.cells.map(c => c.id);
  const byId = new Map<string, ISharedCell>(shared.cells.map(c => [c.id, c]));
  const insertAt = (index: number, cell: Record<string, any>) => {
    const created = shared.insertCell(index, cell as any);
    ids.splice(index, 0, cell.id);
    byId.set(cell.id, created);
  };
  const deleteAt = (index: number) => {
    shared.deleteCell(index);
    byId.delete(ids[index]);
    ids.splice(index, 1);
  };
  try {
    shared.transact(() => {
      for (const op of ops) {
        switch (op.op) {
          case 'insert': {
            let index = ids.length;
            if (op.after) {
              index = ids.indexOf(op.after) + 1;
            } else if (op.before) {
              index = ids.indexOf(op.before);
            }
            insertAt(index, { id: op.new_id, cell_type: op.cell_type || 'code', source: op.source ?? '', metadata: {} });
            break;
          }
          case 'replace': {
            const index = ids.indexOf(op.cell_id);
            const cell = byId.get(op.cell_id)!;
            if (op.cell_type && op.cell_type !== cell.cell_type) {
              // A cell cannot change type in place: replace it, keeping its id and metadata.
              const metadata = cell.getMetadata();
              deleteAt(index);
              insertAt(index, { id: op.cell_id, cell_type: op.cell_type, source: op.source ?? '', metadata });
            } else {
              cell.setSource(op.source ?? '');
              clearOutputs(cell);
            }
            break;
          }
          case 'delete':
          case 'remove':
            deleteAt(ids.indexOf(op.cell_id));
            break;
          case 'restore': {
            const existing = ids.indexOf(op.cell.id as string);
            if (existing >= 0) {
              deleteAt(existing);
            }
            insertAt(Math.max(0, Math.min(op.index, ids.length)), JSON.parse(JSON.stringify(op.cell)));
            break;
          }
        }
      }
    });
  } catch (err) {
    return { ok: false, reason: `applying failed: ${err}` };
  }
  return { ok: true, reason: null };
}

function clearOutputs(cell: ISharedCell): void {
  if (cell.cell_type === 'code') {
    const code = cell as ISharedCodeCell;
    code.setOutputs([]);
    code.execution_count = null;
  }
}

function sourceText(source: nbformat.MultilineString): string {
  return Array.isArray(source) ? source.join('') : source ?? '';
}

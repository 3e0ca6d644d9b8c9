/**
 * The panel agent's cells, run in the notebook's own kernel: the server's agent run sends a
 * `run_request`, this page runs the cells as Shift+Enter would (outputs land in the notebook),
 * interrupts the kernel, or reads names from it, and answers on the acceptance's reply route.
 */
import { CodeCell } from '@jupyterlab/cells';
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { RunRequest } from './wire';

export interface IRunReply {
  ok: boolean;
  reason?: string;
  ran?: string[]; // the cells that ran, in order; the first error ends the list
  values?: Record<string, string | null>;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export async function runForAgent(panel: NotebookPanel, request: RunRequest): Promise<IRunReply> {
  const session = panel.sessionContext;
  const kernel = session.session?.kernel;
  if (!kernel) {
    return { ok: false, reason: 'the notebook has no running kernel' };
  }
  try {
    if (request.action === 'interrupt') {
      await kernel.interrupt();
      return { ok: true };
    }
    if (request.action === 'variables') {
      const names = (request.names ?? []).filter(n => NAME.test(n));
      const expressions: Record<string, string> = {};
      for (const n of names) {
        expressions[n] = `repr(${n}) if '${n}' in globals() else None`;
      }
      const reply = await kernel.requestExecute({ code: '', silent: true, store_history: false, user_expressions: expressions }).done;
      const found = ((reply.content as any).user_expressions ?? {}) as Record<string, any>;
      const values: Record<string, string | null> = {};
      for (const n of names) {
        values[n] = found[n]?.status === 'ok' ? (found[n].data?.['text/plain'] ?? null) : null;
      }
      return { ok: true, values };
    }
    if (request.reset) {
      // a rewind's rebuild: the state the restored cells leave, nothing from after the checkpoint
      await kernel.requestExecute({ code: '%reset -f', silent: true, store_history: false }).done;
    }
    const ran: string[] = [];
    for (const id of request.cell_ids ?? []) {
      const cell = panel.content.widgets.find(w => w.model.id === id);
      if (!cell || cell.model.type !== 'code') {
        continue;
      }
      const reply = await CodeCell.execute(cell as CodeCell, session);
      ran.push(id);
      if (!reply || reply.content.status !== 'ok') {
        break; // cells below an error would run on the state it left half-made
      }
    }
    return { ok: true, ran };
  } catch (err) {
    return { ok: false, reason: `the page could not run the cells: ${(err as Error).message}` };
  }
}

/**
 * The `codex_nb.live_apply` comm target: the kernel (the %codex widgets) asks the
 * front end to change the open notebook, so an accepted proposal goes through the
 * notebook model (undoable, collaborative) and never behind the editor's back.
 */
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import { NotebookActions } from '@jupyterlab/notebook';
import type { Notebook, NotebookPanel } from '@jupyterlab/notebook';
import { CodeCell } from '@jupyterlab/cells';
import { applyOps, LiveOp } from './ops';

export const COMM_TARGET = 'codex_nb.live_apply';

const registered = new WeakSet<Kernel.IKernelConnection>();
/** The open comm of each notebook (the kernel opens it when %load_ext codex_nb runs). */
const comms = new WeakMap<Notebook, { panel: NotebookPanel; comm: Kernel.IComm }>();
const CODEX_CELL = /^\s*%%?codex\b/m;

function snapshot(panel: NotebookPanel, requestId: string | null, ok: boolean, reason: string | null) {
  const model = panel.content.model;
  return {
    type: 'result',
    request_id: requestId,
    ok,
    reason,
    notebook: model ? (model.toJSON() as any) : null,
    path: panel.context.path
  };
}

/**
 * Before a %codex cell runs, hand the kernel the notebook as it is in the editor, unsaved
 * edits included. The comm message goes out ahead of the execute request on the same
 * channel, so the kernel has it when the magic asks what the notebook holds (a reply to a
 * request made while the cell runs would only arrive after it has finished).
 */
export function sendSnapshotsBeforeCodexCells(): void {
  NotebookActions.executionScheduled.connect((_, { notebook, cell }) => {
    const open = comms.get(notebook);
    if (!open || open.comm.isDisposed || cell.model.type !== 'code' || !CODEX_CELL.test(cell.model.sharedModel.getSource())) {
      return;
    }
    open.comm.send(snapshot(open.panel, null, true, null));
  });
}

/** Register the target on the panel's kernel now and whenever the kernel changes. */
export function watchPanel(panel: NotebookPanel): void {
  const session = panel.sessionContext;
  const register = (kernel: Kernel.IKernelConnection | null | undefined) => {
    if (!kernel || registered.has(kernel)) {
      return;
    }
    registered.add(kernel);
    kernel.registerCommTarget(COMM_TARGET, (comm, _open) => {
      comms.set(panel.content, { panel, comm });
      comm.onMsg = (msg: KernelMessage.ICommMsgMsg) => handleMessage(panel, comm, msg);
    });
    openFromPage(panel, kernel);
  };
  register(session.session?.kernel);
  session.kernelChanged.connect((_, args) => register(args.newValue));
}

/**
 * A page that (re)connects to a kernel where codex-nb is loaded opens the comm itself, so cards
 * drawn before a reload work at once: the kernel adopts the newest page's comm. Where codex-nb is
 * not loaded the kernel closes it again, and %load_ext opens one later from its side.
 */
function openFromPage(panel: NotebookPanel, kernel: Kernel.IKernelConnection): void {
  try {
    const comm = kernel.createComm(COMM_TARGET);
    comm.onMsg = (msg: KernelMessage.ICommMsgMsg) => handleMessage(panel, comm, msg);
    comms.set(panel.content, { panel, comm });
    comm.open({ page: true }).done.catch(() => undefined);
  } catch (err) {
    console.debug('codex-nb: no comm from the page', err);
  }
}

function handleMessage(panel: NotebookPanel, comm: Kernel.IComm, msg: KernelMessage.ICommMsgMsg): void {
  const data = (msg.content.data ?? {}) as any;
  const model = panel.content.model;
  const reply = (ok: boolean, reason: string | null) => comm.send(snapshot(panel, data.request_id ?? null, ok, reason));
  if (!model) {
    reply(false, 'the notebook is not loaded');
    return;
  }
  if (data.type === 'snapshot') {
    reply(true, null);
    return;
  }
  if (data.type === 'run') {
    // Accept & Run: execute the accepted cells through the notebook, so outputs land in them.
    const ids: string[] = Array.isArray(data.cell_ids) ? data.cell_ids : [];
    const cells = ids.map(id => panel.content.widgets.find(cell => cell.model.id === id));
    const missing = ids.filter((_, i) => !cells[i]);
    if (missing.length) {
      reply(false, `cell ${missing[0]} is gone`);
      return;
    }
    for (const cell of cells) {
      if (cell instanceof CodeCell) {
        void CodeCell.execute(cell, panel.sessionContext);
      }
    }
    reply(true, null);
    return;
  }
  if (data.type !== 'apply') {
    reply(false, `unknown message type ${JSON.stringify(data.type)}`);
    return;
  }
  const result = applyOps(model, (data.ops ?? []) as LiveOp[]);
  reply(result.ok, result.reason);
}

/**
 * What the inline completer keeps beside the editor: the kernel's names (refreshed after each run,
 * never while the user types) and the local accept / dismiss statistics.
 */
import { NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { requestAPI } from './api';

/**
 * Evaluated in the kernel as a user expression: the variables' names, types and shapes through
 * codex-nb's own bounded collector (redacted there). A kernel without codex-nb gives an error, and
 * completion then goes without kernel context.
 */
const KERNEL_STATE_EXPR =
  "__import__('IPython.display', fromlist=['JSON']).JSON(" +
  "__import__('codex_nb.context.kernel', fromlist=['collect_kernel_state'])" +
  '.collect_kernel_state(get_ipython().user_ns, max_vars=40, time_limit=0.05))';

/** Kernel state per notebook, refreshed when a cell has run. */
export class KernelNames {
  private states = new WeakMap<NotebookPanel, object | null>();

  constructor() {
    NotebookActions.executed.connect((_, { notebook }) => {
      const panel = notebook.parent;
      if (panel instanceof NotebookPanel) {
        void this.refresh(panel);
      }
    });
  }

  get(panel: NotebookPanel): object | null {
    return this.states.get(panel) ?? null;
  }

  async refresh(panel: NotebookPanel): Promise<void> {
    const kernel = panel.sessionContext.session?.kernel;
    if (!kernel) {
      return;
    }
    try {
      const reply = await kernel.requestExecute({
        code: '',
        silent: true,
        store_history: false,
        user_expressions: { state: KERNEL_STATE_EXPR }
      }).done;
      const value = (reply.content as any).user_expressions?.state;
      const data = value?.status === 'ok' ? value.data?.['application/json'] : null;
      this.states.set(panel, data && typeof data === 'object' ? data : null);
    } catch {
      this.states.set(panel, null);
    }
  }
}

/** How long after an acceptance the cell is checked for the accepted text. */
export const RETAIN_CHECK_MS = 5000;

/** A suggestion that was shown: whether it was accepted, and whether what was accepted stayed. */
export interface IShown {
  prefix: string; // the cell's text before the cursor when the suggestion was shown
  text: string;
  model: string;
  cellText: () => string;
  settled: boolean;
}

/** Sends accept / dismiss events to the server, which keeps the totals on this machine. */
export class CompletionStats {
  private current: IShown | null = null;

  constructor(private settings: ServerConnection.ISettings) {}

  /** A new suggestion is on screen; the one before it, if not accepted, was dismissed. */
  shown(item: IShown): void {
    this.dismissCurrent();
    this.current = item;
    this.post('shown', 0, item.model);
  }

  /** More of the suggestion on screen has streamed in. */
  update(text: string): void {
    if (this.current && !this.current.settled) {
      this.current.text = text;
    }
  }

  /**
   * A new request: the cell now reads `prefix` before the cursor. If that is the shown suggestion
   * inserted (Tab, whose command signal may come later, or typed out in full) it was accepted;
   * otherwise it was dismissed.
   */
  typedOn(prefix: string): void {
    if (this.current && prefix === this.current.prefix + this.current.text) {
      this.accepted();
    } else {
      this.dismissCurrent();
    }
  }

  /** The user typed on, or the suggestion was withdrawn. */
  dismissCurrent(): void {
    const item = this.current;
    this.current = null;
    if (item && !item.settled) {
      item.settled = true;
      this.post('dismissed', 0, item.model);
    }
  }

  /** Tab (or Alt-End) took the suggestion: count it, and later whether it is still there. */
  accepted(): void {
    const item = this.current;
    this.current = null;
    if (!item || item.settled) {
      return;
    }
    item.settled = true;
    this.post('accepted', item.text.length, item.model);
    setTimeout(() => {
      const kept = item.cellText().includes(item.text) ? item.text.length : 0;
      this.post('retained', kept, item.model);
    }, RETAIN_CHECK_MS);
  }

  private post(event: string, chars: number, model: string): void {
    void requestAPI('complete/stats', this.settings, {
      method: 'POST',
      body: JSON.stringify({ event, chars, model })
    }).catch(() => undefined);
  }
}

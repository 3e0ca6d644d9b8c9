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
  // the suggestions the user can cycle to with Alt-] / Alt-[ (they arrive with the end of the stream)
  alternatives?: () => string[];
}

/**
 * Which of the shown suggestions is in the cell: the first one or an alternative cycled to. The longest
 * that follows the prefix wins, so a suggestion that another one extends is not mistaken for it.
 */
export function insertedSuggestion(item: IShown, cellText: string): string | null {
  const candidates = [item.text, ...(item.alternatives?.() ?? [])].filter(t => t);
  candidates.sort((a, b) => b.length - a.length);
  return candidates.find(text => cellText.includes(item.prefix + text)) ?? null;
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
    const item = this.current;
    const typed = item && prefix.startsWith(item.prefix) ? prefix.slice(item.prefix.length) : '';
    if (item && typed && [item.text, ...(item.alternatives?.() ?? [])].includes(typed)) {
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
    // Tab may have taken an alternative the user cycled to: count what went into the cell.
    const text = insertedSuggestion(item, item.cellText()) ?? item.text;
    this.post('accepted', text.length, item.model);
    setTimeout(() => {
      const kept = item.cellText().includes(text) ? text.length : 0;
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

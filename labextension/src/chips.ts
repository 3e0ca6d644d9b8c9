/**
 * Context chips: the active notebook and its selected cells are attached by default;
 * `@` completes files (from the server) and variables (from the kernel). Every chip
 * can be removed.
 */
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import type { ServerConnection } from '@jupyterlab/services';
import { requestAPI } from './api';
import { el } from './dom';

interface IChip {
  type: 'notebook' | 'cells' | 'file' | 'variable';
  label: string;
  value: string;
  summary?: string;
}

interface ICompletion {
  type: 'file' | 'variable';
  value: string;
}

const VARIABLES_EXPR =
  "[n for n, v in globals().items() if not n.startswith('_') and type(v).__name__ not in ('module', 'function', 'type', 'builtin_function_or_method') and n not in ('In', 'Out', 'exit', 'quit', 'get_ipython')]";

export class ContextChips {
  readonly node = el('div', { class: 'codex-chips' });
  readonly menu = el('div', { class: 'codex-completions' });
  private removed = new Set<string>();
  private extra: IChip[] = [];
  private options: ICompletion[] = [];
  private token = 0;

  constructor(
    private tracker: INotebookTracker,
    private settings: ServerConnection.ISettings
  ) {
    this.menu.hidden = true;
    tracker.activeCellChanged.connect(() => this.refresh());
    tracker.selectionChanged.connect(() => this.refresh());
  }

  private selected(panel: NotebookPanel | null): string[] {
    if (!panel) {
      return [];
    }
    const nb = panel.content;
    return nb.widgets.filter(c => nb.isSelectedOrActive(c)).map(c => c.model.id);
  }

  private chips(): IChip[] {
    const panel = this.tracker.currentWidget;
    const chips: IChip[] = [];
    if (panel) {
      chips.push({ type: 'notebook', label: panel.context.path.split('/').pop() ?? panel.context.path, value: panel.context.path });
      const cells = this.selected(panel);
      if (cells.length) {
        chips.push({ type: 'cells', label: cells.length === 1 ? '1 cell' : `${cells.length} cells`, value: cells.join(',') });
      }
    }
    return [...chips.filter(c => !this.removed.has(`${c.type}:${c.value}`)), ...this.extra];
  }

  refresh(): void {
    this.node.replaceChildren();
    for (const chip of this.chips()) {
      const node = el('span', { class: `codex-chip codex-chip-${chip.type}`, title: chip.summary ?? chip.value });
      const close = el('button', { class: 'codex-chip-remove', type: 'button', title: 'Remove' }, '×');
      close.addEventListener('click', () => {
        if (chip.type === 'file' || chip.type === 'variable') {
          this.extra = this.extra.filter(c => c !== chip);
        } else {
          this.removed.add(`${chip.type}:${chip.value}`);
        }
        this.refresh();
      });
      node.append(el('span', { class: 'codex-chip-label' }, chip.type === 'file' || chip.type === 'variable' ? `@${chip.label}` : chip.label), close);
      this.node.appendChild(node);
    }
  }

  /** The request fields the chips stand for. */
  requestContext(panel: NotebookPanel): Record<string, any> {
    const chips = this.chips();
    const hasNotebook = chips.some(c => c.type === 'notebook');
    const cells = chips.find(c => c.type === 'cells');
    const out: Record<string, any> = {
      context: this.extra.map(c => (c.type === 'file' ? { type: 'file', path: c.value } : { type: 'variable', name: c.value, summary: c.summary ?? '' }))
    };
    if (hasNotebook) {
      out.notebook = panel.content.model!.toJSON();
      out.active_cell = panel.content.activeCell?.model.id ?? null;
    }
    out.selected_cells = cells ? cells.value.split(',') : [];
    return out;
  }

  /** Show completions for the `@word` just before the cursor. */
  complete(input: HTMLTextAreaElement): void {
    const match = /@([\w./-]*)$/.exec(input.value.slice(0, input.selectionStart ?? input.value.length));
    if (!match) {
      this.hide();
      return;
    }
    const prefix = match[1];
    const token = ++this.token;
    void Promise.all([this.files(prefix), this.variables(prefix)]).then(([files, vars]) => {
      if (token !== this.token) {
        return;
      }
      this.options = [...vars, ...files].slice(0, 12);
      this.menu.replaceChildren();
      for (const option of this.options) {
        const item = el('div', { class: `codex-completion codex-completion-${option.type}` }, `${option.type === 'variable' ? '𝑥 ' : ''}${option.value}`);
        item.addEventListener('mousedown', e => {
          e.preventDefault();
          void this.pick(option, input);
        });
        this.menu.appendChild(item);
      }
      this.menu.hidden = this.options.length === 0;
    });
  }

  /** Tab / Enter take the first completion, Escape closes the menu; true when the key was used. */
  handleKey(e: KeyboardEvent, input: HTMLTextAreaElement): boolean {
    if (this.menu.hidden || !this.options.length) {
      return false;
    }
    if (e.key === 'Tab' || e.key === 'Enter') {
      e.preventDefault();
      void this.pick(this.options[0], input);
      return true;
    }
    if (e.key === 'Escape') {
      this.hide();
      return true;
    }
    return false;
  }

  private hide(): void {
    this.menu.hidden = true;
    this.options = [];
  }

  private async pick(option: ICompletion, input: HTMLTextAreaElement): Promise<void> {
    const cursor = input.selectionStart ?? input.value.length;
    const before = input.value.slice(0, cursor).replace(/@[\w./-]*$/, '');
    if (option.type === 'file' && option.value.endsWith('/')) {
      input.value = `${before}@${option.value}${input.value.slice(cursor)}`;
      this.complete(input);
      return;
    }
    input.value = before + input.value.slice(cursor);
    this.hide();
    const summary = option.type === 'variable' ? await this.summary(option.value) : undefined;
    this.extra.push({ type: option.type, label: option.value, value: option.value, summary });
    this.refresh();
    input.focus();
  }

  private async files(prefix: string): Promise<ICompletion[]> {
    try {
      const data = await requestAPI<{ files: { path: string }[] }>(`files?prefix=${encodeURIComponent(prefix)}`, this.settings);
      return data.files.map(f => ({ type: 'file' as const, value: f.path }));
    } catch {
      return [];
    }
  }

  private async evaluate(expression: string): Promise<string | null> {
    const data = await this.evaluateData(expression);
    return data ? String(data['text/plain']) : null;
  }

  private async variables(prefix: string): Promise<ICompletion[]> {
    if (prefix.includes('/') || prefix.includes('.')) {
      return [];
    }
    const text = await this.evaluate(VARIABLES_EXPR);
    const names = text ? (text.match(/'([A-Za-z_]\w*)'/g) ?? []).map(s => s.slice(1, -1)) : [];
    return names.filter(n => n.startsWith(prefix)).map(n => ({ type: 'variable' as const, value: n }));
  }

  /**
   * The variable's summary as codex-nb builds it for every door (secret names hidden, values
   * redacted before they are cut), computed by the kernel; the server redacts and bounds it again.
   */
  private async summary(name: string): Promise<string> {
    if (!/^[A-Za-z_]\w*$/.test(name)) {
      return '';
    }
    const data = await this.evaluateData(`__import__('codex_nb.context.kernel', fromlist=['summary_json']).summary_json('${name}', globals())`);
    if (!data) {
      return '';
    }
    try {
      const parsed = (data['application/json'] as { summary?: string } | undefined) ?? JSON.parse(String(data['text/plain']));
      return typeof parsed.summary === 'string' ? parsed.summary : '';
    } catch {
      return '';
    }
  }

  private async evaluateData(expression: string): Promise<Record<string, unknown> | null> {
    const kernel = this.tracker.currentWidget?.sessionContext.session?.kernel;
    if (!kernel) {
      return null;
    }
    try {
      const reply = await kernel.requestExecute({ code: '', silent: true, store_history: false, user_expressions: { v: expression } }).done;
      const value = (reply.content as any).user_expressions?.v;
      return value?.status === 'ok' ? (value.data as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }
}

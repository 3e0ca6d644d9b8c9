/**
 * The Codex side panel: a conversation per notebook, context chips, a model picker,
 * a streaming answer, proposals with diffs, and a Stop button.
 */
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import type { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';
import { requestAPI, streamAPI } from './api';
import { ContextChips } from './chips';
import { addCodeActions, CodeAction } from './codeactions';
import { el, renderMarkdown, RenderMime } from './dom';
import { ProposalView } from './proposal';
import { ICodexSettings, preferredModel, saveLastModel } from './settings';
import type { ICodexPanel } from './tokens';

export interface ISendOptions {
  kind: string;
  instruction: string;
  activeCell?: string | null;
}

export class CodexPanel extends Widget implements ICodexPanel {
  private messages: HTMLElement;
  private input: HTMLTextAreaElement;
  private kind: HTMLSelectElement;
  private model: HTMLSelectElement;
  private stopButton: HTMLButtonElement;
  private sendButton: HTMLButtonElement;
  private chips: ContextChips;
  private running: { chatId: string; abort: AbortController } | null = null;
  private shownPath: string | null = null;

  constructor(
    private tracker: INotebookTracker,
    private rendermime: RenderMime,
    private settings: ServerConnection.ISettings,
    private codexSettings: ICodexSettings | null = null
  ) {
    super();
    this.id = 'codex-nb-panel';
    this.addClass('codex-panel');
    const header = el('div', { class: 'codex-header' });
    this.model = el('select', { class: 'jp-mod-styled codex-model-select', title: 'Model' }) as HTMLSelectElement;
    this.stopButton = el('button', { class: 'jp-Button codex-button codex-stop', type: 'button', title: 'Stop' }, 'Stop') as HTMLButtonElement;
    this.stopButton.disabled = true;
    this.stopButton.addEventListener('click', () => this.stop());
    const clear = el('button', { class: 'jp-Button codex-button codex-clear', type: 'button', title: 'Clear this notebook\'s conversation' }, 'Clear');
    clear.addEventListener('click', () => void this.clearHistory());
    header.append(el('span', { class: 'codex-title' }, 'Codex'), this.model, this.stopButton, clear);

    this.messages = el('div', { class: 'codex-messages' });
    this.chips = new ContextChips(tracker, settings);
    const composer = el('div', { class: 'codex-composer' });
    this.input = el('textarea', { class: 'jp-mod-styled codex-input', rows: '3', placeholder: 'Ask Codex… (@ to attach a file or variable)' }) as HTMLTextAreaElement;
    this.kind = el('select', { class: 'jp-mod-styled codex-kind', title: 'What to do' }) as HTMLSelectElement;
    for (const k of ['propose', 'ask', 'explain', 'review', 'fix']) {
      this.kind.appendChild(el('option', { value: k }, k));
    }
    this.sendButton = el('button', { class: 'jp-Button jp-mod-accept codex-button codex-send', type: 'button' }, 'Send') as HTMLButtonElement;
    this.sendButton.addEventListener('click', () => this.sendFromInput());
    this.input.addEventListener('keydown', e => {
      if (this.chips.handleKey(e, this.input)) {
        return;
      }
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        this.sendFromInput();
      }
    });
    this.input.addEventListener('input', () => this.chips.complete(this.input));
    const row = el('div', { class: 'codex-composer-row' });
    row.append(this.kind, this.sendButton);
    composer.append(this.chips.node, this.input, this.chips.menu, row);
    this.node.append(header, this.messages, composer);

    tracker.currentChanged.connect(() => this.notebookChanged());
    // The picker remembers its choice in the settings registry, so a reload keeps it.
    this.model.addEventListener('change', () => {
      this.model.title = this.model.value; // a long model name is cut in the picker: the full one on hover
      void saveLastModel(this.codexSettings?.settings ?? null, this.model.value);
    });
    this.codexSettings?.changed.connect(() => this.selectPreferred());
    void this.loadModels();
    this.notebookChanged();
  }

  private notebook(): NotebookPanel | null {
    return this.tracker.currentWidget;
  }

  private async loadModels(): Promise<void> {
    try {
      const { models, default: def } = await requestAPI<{ models: any[]; default: string | null }>('models', this.settings);
      this.model.replaceChildren();
      const ids = new Set<string>();
      for (const m of models) {
        ids.add(m.id);
        const label = m.configured ? m.id : `${m.id} (not configured)`;
        const opt = el('option', { value: m.id }, label) as HTMLOptionElement;
        opt.disabled = !m.configured;
        this.model.appendChild(opt);
      }
      this.serverDefault = def;
      if (def && !ids.has(def)) {
        this.model.prepend(el('option', { value: def }, def));
      }
      this.selectPreferred();
    } catch (err) {
      this.model.replaceChildren(el('option', { value: '' }, 'models unavailable'));
      console.warn('codex-nb: could not list models', err);
    }
  }

  private serverDefault: string | null = null;

  /** The settings page's model, else the one picked last time, else the server's default (one resolver there). */
  private selectPreferred(): void {
    const values = this.codexSettings?.values;
    const choice = values ? preferredModel(values, this.serverDefault) : this.serverDefault;
    if (!choice) {
      return;
    }
    if (![...this.model.options].some(o => o.value === choice)) {
      this.model.prepend(el('option', { value: choice }, choice));
    }
    this.model.value = choice;
    this.model.title = choice;
  }

  /** What the settings page sets for acceptances (validation mode, timeouts), as engine setting names. */
  acceptSettings(): Record<string, unknown> {
    const v = this.codexSettings?.overrides().validate ?? {};
    return { validate_mode: v.mode, cell_timeout: v.cell_timeout, total_timeout: v.total_timeout };
  }

  private notebookChanged(): void {
    const path = this.notebook()?.context.path ?? null;
    this.chips.refresh();
    if (path === this.shownPath) {
      return;
    }
    this.shownPath = path;
    this.messages.replaceChildren();
    if (path) {
      void this.loadHistory(path);
    } else {
      this.messages.appendChild(el('div', { class: 'codex-empty' }, 'Open a notebook to talk to Codex about it.'));
    }
  }

  private async loadHistory(path: string): Promise<void> {
    try {
      const data = await requestAPI<{ messages: any[] }>(`history?path=${encodeURIComponent(path)}`, this.settings);
      if (this.shownPath !== path) {
        return;
      }
      for (const msg of data.messages) {
        if (msg.role === 'user') {
          this.addUser(msg.text, msg.kind);
        } else if (msg.role === 'assistant') {
          const box = this.addAssistant();
          const answer = box.querySelector('.codex-answer') as HTMLElement;
          void renderMarkdown(this.rendermime, answer, msg.text || (msg.error ? `**Error:** ${msg.error.message}` : '')).then(() =>
            this.codeActions(answer, box)
          );
          if (msg.proposal) {
            box.appendChild(this.proposalView(msg.id, msg.proposal, msg.diffs ?? [], msg.status).node);
          }
        }
      }
      this.scroll();
    } catch (err) {
      console.warn('codex-nb: could not load the history', err);
    }
  }

  private async clearHistory(): Promise<void> {
    const path = this.notebook()?.context.path;
    if (!path) {
      return;
    }
    await requestAPI(`history?path=${encodeURIComponent(path)}`, this.settings, { method: 'DELETE' });
    this.messages.replaceChildren();
  }

  private addUser(text: string, kind: string): void {
    const box = el('div', { class: 'codex-message codex-user' });
    box.append(el('div', { class: 'codex-kind-tag' }, kind), el('div', { class: 'codex-user-text' }, text));
    this.messages.appendChild(box);
  }

  private addAssistant(): HTMLElement {
    const box = el('div', { class: 'codex-message codex-assistant' });
    box.appendChild(el('div', { class: 'codex-answer' }));
    this.messages.appendChild(box);
    return box;
  }

  private proposalView(messageId: string, proposal: any, diffs: any[], status: string | null): ProposalView {
    return new ProposalView({
      messageId,
      proposal,
      diffs,
      status,
      settings: this.settings,
      acceptSettings: () => this.acceptSettings(),
      notebook: () => this.notebook(),
      onFix: outcomeId => this.repair(outcomeId)
    });
  }

  /** Copy / Insert below / Replace cell on each code block of a rendered answer. */
  private codeActions(answer: HTMLElement, box: HTMLElement): void {
    addCodeActions(answer, box, { propose: (code, action, host) => this.proposeCode(code, action, host) });
  }

  /**
   * A code block as an ordinary proposal for the active notebook (insert after the active cell, or replace
   * it), shown as the usual card: nothing changes until Accept, which goes through the engine.
   */
  private async proposeCode(code: string, action: CodeAction, box: HTMLElement): Promise<void> {
    const panel = this.notebook();
    const model = panel?.content.model;
    if (!panel || !model) {
      box.appendChild(el('div', { class: 'codex-error' }, 'Open a notebook first.'));
      return;
    }
    const active = panel.content.activeCell?.model.id ?? null;
    try {
      const data = await requestAPI<{ proposal: any; diffs: any[] }>('snippet', this.settings, {
        method: 'POST',
        body: JSON.stringify({ path: panel.context.path, notebook: model.toJSON(), cell_id: active, code, action })
      });
      const view = this.proposalView('', data.proposal, data.diffs, 'pending');
      view.node.classList.add('codex-code-proposal');
      box.appendChild(view.node);
      this.scroll();
    } catch (err) {
      box.appendChild(el('div', { class: 'codex-error' }, (err as Error).message));
    }
  }

  private scroll(): void {
    this.messages.scrollTop = this.messages.scrollHeight;
  }

  private sendFromInput(): void {
    const text = this.input.value.trim();
    if (!text || this.running) {
      return;
    }
    this.input.value = '';
    this.send({ kind: this.kind.value, instruction: text });
  }

  stop(): void {
    const running = this.running;
    if (!running) {
      return;
    }
    void requestAPI(`chat/${running.chatId}/cancel`, this.settings, { method: 'POST' }).catch(() => {
      running.abort.abort(); // the server no longer knows it: drop the stream
    });
  }

  /** Fix: the engine sends the rolled-back change's failure to the model; the fix streams in like an answer. */
  repair(outcomeId: string): void {
    const panel = this.notebook();
    if (!panel || !panel.content.model) {
      return;
    }
    this.stream('repair', { path: panel.context.path, outcome_id: outcomeId }, 'fix', 'Fix the change that failed validation.');
  }

  send(options: ISendOptions): void {
    const panel = this.notebook();
    if (!panel || !panel.content.model) {
      this.messages.appendChild(el('div', { class: 'codex-error' }, 'Open a notebook first.'));
      return;
    }
    if (this.running) {
      return;
    }
    const chatId = 'c-' + Math.random().toString(36).slice(2, 12);
    const context = this.chips.requestContext(panel);
    const body = {
      chat_id: chatId,
      kind: options.kind,
      instruction: options.instruction,
      path: panel.context.path,
      ...(this.codexSettings?.overrides().chat ?? {}),
      model: this.model.value || null,
      ...context,
      active_cell: options.activeCell ?? context.active_cell
    };
    this.stream('chat', body, options.kind, options.instruction, chatId);
  }

  /** Stream a chat (or a repair) into a new assistant message; the page answers the engine's read requests. */
  private stream(route: string, body: any, kind: string, shown: string, chatId: string = ''): void {
    const model = this.notebook()?.content.model;
    if (this.running) {
      return;
    }
    const abort = new AbortController();
    this.running = { chatId, abort };
    this.stopButton.disabled = !chatId;
    this.sendButton.disabled = true;
    this.addUser(shown, kind);
    const box = this.addAssistant();
    const answer = box.querySelector('.codex-answer') as HTMLElement;
    answer.classList.add('codex-streaming');
    let text = '';
    let runId = '';
    const finish = async () => {
      answer.classList.remove('codex-streaming');
      this.running = null;
      this.stopButton.disabled = true;
      this.sendButton.disabled = false;
    };
    void (async () => {
      let finalText: string | null = null;
      try {
        await streamAPI(
          route,
          this.settings,
          body,
          ({ event, data }) => {
            if (event === 'accept') {
              runId = data.run_id;
            } else if (event === 'apply_request' && model) {
              void requestAPI(`accept/${runId}/reply`, this.settings, {
                method: 'POST',
                body: JSON.stringify({ request_id: data.request_id, ok: data.action === 'read', reason: data.action === 'read' ? null : 'a repair only reads the notebook', notebook: model.toJSON() })
              });
            } else if (event === 'delta') {
              text += data.text;
              answer.textContent = text;
              this.scroll();
            } else if (event === 'proposal') {
              box.appendChild(this.proposalView(data.message_id, data.proposal, data.diffs, 'pending').node);
            } else if (event === 'done') {
              finalText = data.text || text;
              box.dataset.state = data.cancelled ? 'cancelled' : 'done';
            } else if (event === 'cancelled') {
              box.dataset.state = 'cancelled';
              box.appendChild(el('div', { class: 'codex-note codex-cancelled' }, 'Stopped.'));
            } else if (event === 'error') {
              box.dataset.state = 'error';
              box.appendChild(el('div', { class: 'codex-error' }, `${data.message}${data.hint ? ' — ' + data.hint : ''}`));
            }
          },
          abort.signal
        );
      } catch (err) {
        if (!abort.signal.aborted) {
          box.appendChild(el('div', { class: 'codex-error' }, (err as Error).message));
        }
      }
      await finish();
      if (finalText !== null) {
        await renderMarkdown(this.rendermime, answer, finalText);
        this.codeActions(answer, box);
      }
      this.scroll();
    })();
  }
}

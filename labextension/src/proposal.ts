/**
 * One proposal in the panel: per-cell diffs (from the server's proposal_diffs, the
 * same data the ipywidgets draw) and Accept / Reject per edit or all. Accepting hands
 * the proposal to the server's engine, with this page as the applier of cell ops.
 */
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { ServerConnection } from '@jupyterlab/services';
import { applyOps, LiveOp } from './ops';
import type { ApplyRequest, EngineEvent, Outcome } from './wire';
import { requestAPI, streamAPI } from './api';
import { el } from './dom';

export interface IDiff {
  edit_index: number;
  op: string;
  cell_id: string | null;
  title: string;
  old: string;
  new: string;
  unified: string;
}

export interface IProposalOptions {
  messageId: string;
  proposal: any;
  diffs: IDiff[];
  status: string | null;
  settings: ServerConnection.ISettings;
  acceptSettings?: () => Record<string, unknown>;
  notebook: () => NotebookPanel | null;
  onFix: (outcomeId: string) => void;
}

type EditState = 'pending' | 'accepted' | 'rejected';

export class ProposalView {
  readonly node: HTMLElement;
  private states: EditState[];
  private badge: HTMLElement;
  private buttons: HTMLButtonElement[] = [];

  constructor(private options: IProposalOptions) {
    const { diffs, status } = options;
    const done = status && status !== 'pending';
    this.states = diffs.map(() => (done ? (status === 'rejected' ? 'rejected' : 'accepted') : 'pending'));
    this.node = el('div', { class: 'codex-proposal', 'data-proposal-id': options.proposal.id });
    for (const diff of diffs) {
      this.node.appendChild(this.diffNode(diff));
    }
    const all = el('div', { class: 'codex-proposal-actions' });
    all.append(
      this.button('Accept all', 'codex-accept-all', () => this.accept(diffs.map(d => d.edit_index))),
      this.button('Reject all', 'codex-reject-all', () => this.reject(diffs.map(d => d.edit_index)))
    );
    this.node.appendChild(all);
    this.badge = el('div', { class: 'codex-validation' });
    this.node.appendChild(this.badge);
    if (done) {
      this.setBadge(`${status?.replace('_', ' ')}`, status === 'rolled_back' ? 'failed' : 'info');
      this.lock();
    }
  }

  private diffNode(diff: IDiff): HTMLElement {
    const box = el('div', { class: 'codex-diff', 'data-edit-index': String(diff.edit_index) });
    const head = el('div', { class: 'codex-diff-head' });
    head.append(
      el('span', { class: 'codex-diff-title', title: diff.cell_id ?? '' }, diff.title),
      this.button('Accept', 'codex-accept-edit', () => this.accept([diff.edit_index])),
      this.button('Reject', 'codex-reject-edit', () => this.reject([diff.edit_index]))
    );
    box.append(head, diffLines(diff));
    return box;
  }

  private button(label: string, cls: string, onClick: () => void): HTMLButtonElement {
    const b = el('button', { class: `jp-Button codex-button ${cls}`, type: 'button' }, label) as HTMLButtonElement;
    b.addEventListener('click', () => void onClick());
    this.buttons.push(b);
    return b;
  }

  private lock(): void {
    this.node.querySelectorAll('.codex-diff').forEach((node, i) => {
      const state = this.states[i];
      node.classList.toggle('codex-edit-accepted', state === 'accepted');
      node.classList.toggle('codex-edit-rejected', state === 'rejected');
      node.querySelectorAll('button').forEach(b => ((b as HTMLButtonElement).disabled = state !== 'pending'));
    });
    const pending = this.states.includes('pending');
    this.node.querySelectorAll('.codex-proposal-actions button').forEach(b => ((b as HTMLButtonElement).disabled = !pending));
  }

  private setBadge(text: string, kind: 'running' | 'passed' | 'failed' | 'info'): void {
    this.badge.textContent = text;
    this.badge.className = `codex-validation codex-validation-${kind}`;
  }

  private path(): string {
    return this.options.notebook()?.context.path ?? this.options.proposal.notebook ?? '';
  }

  async reject(indexes: number[]): Promise<void> {
    indexes = indexes.filter(i => this.states[i] === 'pending');
    if (!indexes.length) {
      return;
    }
    indexes.forEach(i => (this.states[i] = 'rejected'));
    this.lock();
    const final = this.states.includes('pending') ? null : this.states.includes('accepted') ? 'partial' : 'rejected';
    try {
      await requestAPI('reject', this.options.settings, {
        method: 'POST',
        body: JSON.stringify({
          path: this.path(),
          proposal: this.options.proposal,
          edit_indexes: indexes,
          message_id: this.options.messageId,
          status: final
        })
      });
    } catch (err) {
      console.warn('codex-nb: could not record the decision', err);
    }
    if (final === 'rejected') {
      this.setBadge('rejected', 'info');
    }
  }

  /**
   * Accept: the server's engine does the work (plan, lock, write files, validate, keep or roll back,
   * audit); this page is its applier — it applies the ops the engine sends to the notebook model and
   * answers with the notebook as it then is. The card only draws the engine's events.
   */
  async accept(indexes: number[]): Promise<void> {
    indexes = indexes.filter(i => this.states[i] === 'pending');
    const panel = this.options.notebook();
    const model = panel?.content.model;
    if (!indexes.length || !panel || !model) {
      if (!panel) {
        this.setBadge('open the notebook to apply this proposal', 'failed');
      }
      return;
    }
    this.buttons.forEach(b => (b.disabled = true));
    this.setBadge('applying…', 'running');
    let runId = '';
    const answer = async (request: ApplyRequest) => {
      const result = request.action === 'apply' ? applyOps(model, request.ops as unknown as LiveOp[]) : { ok: true, reason: null };
      await requestAPI(`accept/${runId}/reply`, this.options.settings, {
        method: 'POST',
        body: JSON.stringify({ request_id: request.request_id, ok: result.ok, reason: result.reason, notebook: model.toJSON() })
      });
    };
    const replies: Promise<void>[] = [];
    let outcome: Outcome | null = null;
    try {
      await streamAPI(
        'accept',
        this.options.settings,
        {
          path: panel.context.path,
          proposal: this.options.proposal,
          edit_indexes: indexes,
          message_id: this.options.messageId,
          settings: this.options.acceptSettings?.() ?? {}
        },
        ({ event, data }) => {
          if (event === 'accept') {
            runId = data.run_id;
          } else if (event === 'error') {
            this.setBadge(`${data.message}${data.hint ? ' — ' + data.hint : ''}`, 'failed');
          } else {
            const engineEvent = data as EngineEvent;
            if (engineEvent.type === 'apply_request') {
              replies.push(answer(engineEvent));
            } else if (engineEvent.type === 'finished') {
              outcome = engineEvent.outcome as unknown as Outcome;
            } else {
              this.draw(engineEvent, indexes);
            }
          }
        }
      );
      await Promise.all(replies);
    } catch (err) {
      this.setBadge(`cannot apply: ${(err as Error).message}`, 'failed');
    }
    if (!outcome || (outcome as Outcome).status !== 'kept') {
      indexes.forEach(i => (this.states[i] = this.states[i] === 'accepted' ? 'pending' : this.states[i]));
    }
    this.lock();
    const ended = outcome as Outcome | null;
    if (ended && ended.status === 'rolled_back') {
      const fix = el('button', { class: 'jp-Button codex-button codex-fix', type: 'button' }, 'Fix with Codex') as HTMLButtonElement;
      fix.addEventListener('click', () => {
        fix.disabled = true;
        this.options.onFix(ended.id);
      });
      this.badge.appendChild(fix);
    }
  }

  /** One engine event on the card (the same vocabulary the widget, terminal and CLI draw). */
  private draw(ev: EngineEvent, indexes: number[]): void {
    switch (ev.type) {
      case 'status':
        this.setBadge(ev.text, 'running');
        break;
      case 'refused':
        this.setBadge(`not applied: ${ev.reason}${ev.hint ? ' — ' + ev.hint : ''}`, 'failed');
        break;
      case 'applied':
        indexes.forEach(i => (this.states[i] = 'accepted'));
        this.lock();
        this.setBadge(ev.files.length ? `applied (and ${ev.files.join(', ')}); validating…` : 'applied; validating…', 'running');
        break;
      case 'progress': {
        const step = ev.event as { type?: string; index?: number; total?: number };
        if (step.type === 'start') {
          this.setBadge(`validating: ${step.total ?? 0} cell(s) to run`, 'running');
        } else if (step.type?.startsWith('cell_')) {
          const where = `${(step.index ?? 0) + 1}/${step.total ?? '?'}`;
          const what = step.type === 'cell_error' ? 'error in cell' : step.type === 'cell_done' ? 'ran cell' : 'running cell';
          this.setBadge(`validating: ${what} ${where}`, 'running');
        }
        break;
      }
      case 'validated':
        this.setBadge(ev.ok ? `validation passed (${ev.summary})` : `validation failed: ${ev.summary}`, ev.ok ? 'passed' : 'failed');
        break;
      case 'kept':
        if (!this.badge.className.includes('passed')) {
          this.setBadge('applied and kept', 'passed');
        }
        break;
      case 'rolled_back':
        this.setBadge(
          ev.exact
            ? `validation failed — rolled back: ${String((ev.failure as { summary?: string }).summary ?? '')}`
            : `validation failed; the rollback was not exact: ${ev.reason}`,
          'failed'
        );
        break;
    }
  }
}

/** The unified diff, one element per line, classed so the theme colours additions and removals. */
function diffLines(diff: IDiff): HTMLElement {
  const body = el('pre', { class: 'codex-diff-body' });
  const text = diff.unified || (diff.new ? diff.new.split('\n').map(l => '+' + l).join('\n') : '');
  for (const line of text.replace(/\n$/, '').split('\n')) {
    let cls = 'codex-line';
    if (line.startsWith('+++') || line.startsWith('---')) {
      cls += ' codex-line-file';
    } else if (line.startsWith('@@')) {
      cls += ' codex-line-hunk';
    } else if (line.startsWith('+')) {
      cls += ' codex-line-add';
    } else if (line.startsWith('-')) {
      cls += ' codex-line-del';
    }
    body.appendChild(el('span', { class: cls }, line + '\n'));
  }
  return body;
}

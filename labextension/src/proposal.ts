/**
 * One proposal in the panel: per-cell diffs (from the server's proposal_diffs, the
 * same data the ipywidgets draw), Accept / Reject per edit or all, then apply
 * through the notebook model, validate on the server, roll back on failure.
 */
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { ServerConnection } from '@jupyterlab/services';
import { applyOps, LiveOp } from './ops';
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
  notebook: () => NotebookPanel | null;
  onFix: (failure: string, cellId: string | null) => void;
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
      el('span', { class: 'codex-diff-title' }, diff.title),
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

  private async decide(event: string, indexes: number[], status: string | null, fields: object = {}): Promise<void> {
    try {
      await requestAPI('audit', this.options.settings, {
        method: 'POST',
        body: JSON.stringify({
          path: this.path(),
          event,
          proposal_id: this.options.proposal.id,
          message_id: this.options.messageId,
          status,
          fields: { edit_indexes: indexes, ...fields }
        })
      });
    } catch (err) {
      console.warn('codex-nb: could not record the decision', err);
    }
  }

  async reject(indexes: number[]): Promise<void> {
    indexes = indexes.filter(i => this.states[i] === 'pending');
    if (!indexes.length) {
      return;
    }
    indexes.forEach(i => (this.states[i] = 'rejected'));
    this.lock();
    const final = this.states.includes('pending') ? null : this.states.includes('accepted') ? 'partial' : 'rejected';
    await this.decide('reject', indexes, final);
    if (final === 'rejected') {
      this.setBadge('rejected', 'info');
    }
  }

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
    const path = panel.context.path;
    let plan: { ops: LiveOp[]; inverse: LiveOp[]; changed: string[] };
    try {
      plan = await requestAPI('ops', this.options.settings, {
        method: 'POST',
        body: JSON.stringify({ path, notebook: model.toJSON(), proposal: this.options.proposal, edit_indexes: indexes })
      });
    } catch (err) {
      this.setBadge(`cannot apply: ${(err as Error).message}`, 'failed');
      return;
    }
    const before = model.toJSON();
    const applied = applyOps(model, plan.ops);
    if (!applied.ok) {
      this.setBadge(`not applied: ${applied.reason}`, 'failed');
      await this.decide('accept', indexes, null, { applied: false, reason: applied.reason });
      return;
    }
    indexes.forEach(i => (this.states[i] = 'accepted'));
    this.lock();
    await this.decide('accept', indexes, this.states.includes('pending') ? null : 'accepted', { applied: true });
    await this.validate(panel, plan, before);
  }

  private async validate(panel: NotebookPanel, plan: { inverse: LiveOp[]; changed: string[] }, before: unknown): Promise<void> {
    const model = panel.content.model!;
    this.setBadge('validating…', 'running');
    let result: any = null;
    let failure: string | null = null;
    try {
      await streamAPI(
        'validate',
        this.options.settings,
        {
          path: panel.context.path,
          notebook: model.toJSON(),
          previous: before,
          changed: plan.changed,
          mode: 'targeted',
          proposal_id: this.options.proposal.id
        },
        ({ event, data }) => {
          if (event === 'progress' && data.type === 'start') {
            this.setBadge(`validating: ${data.total ?? 0} cell(s) to run`, 'running');
          } else if (event === 'progress' && data.type?.startsWith('cell_')) {
            const step = `${(data.index ?? 0) + 1}/${data.total ?? '?'}`;
            const what = data.type === 'cell_error' ? 'error in cell' : data.type === 'cell_done' ? 'ran cell' : 'running cell';
            this.setBadge(`validating: ${what} ${step}`, 'running');
          } else if (event === 'result') {
            result = data;
          } else if (event === 'error') {
            failure = data.message;
          }
        }
      );
    } catch (err) {
      failure = (err as Error).message;
    }
    if (result && result.ok) {
      this.setBadge(`validation passed${summary(result)}`, 'passed');
      return;
    }
    failure = failure ?? describeFailure(result);
    const rolled = applyOps(model, plan.inverse);
    const text = rolled.ok ? `validation failed — rolled back: ${failure}` : `validation failed: ${failure}; rollback refused: ${rolled.reason}`;
    this.setBadge(text, 'failed');
    await this.decide('rollback', [], rolled.ok ? 'rolled_back' : 'accepted', { reason: failure, rolled_back: rolled.ok });
    const fix = el('button', { class: 'jp-Button codex-button codex-fix', type: 'button' }, 'Fix with Codex') as HTMLButtonElement;
    fix.addEventListener('click', () => this.options.onFix(failure ?? 'validation failed', result?.failed?.cell_id ?? null));
    this.badge.appendChild(fix);
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

function summary(result: any): string {
  const ran = Array.isArray(result?.cells_run) ? result.cells_run.length : null;
  return ran !== null ? ` (${result.mode ?? 'targeted'}, ${ran} cell${ran === 1 ? '' : 's'} ran)` : '';
}

function describeFailure(result: any): string {
  if (!result) {
    return 'the validation did not finish';
  }
  const failed = result.failed;
  if (failed && typeof failed === 'object') {
    return failed.message || `${failed.ename ?? 'Error'}: ${failed.evalue ?? ''}`.trim();
  }
  return 'the notebook failed to run';
}

/**
 * One proposal in the panel: per-cell diffs (from the server's proposal_diffs, the
 * same data the ipywidgets draw) and Accept / Reject per edit or all. Accepting hands
 * the proposal to the server's engine, with this page as the applier of cell ops.
 */
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { ServerConnection } from '@jupyterlab/services';
import { applyOps, LiveOp } from './ops';
import type { ApplyRequest, CommitOffer, EngineEvent, Outcome } from './wire';
import { APIError, requestAPI, streamAPI } from './api';
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

type EditState = 'pending' | 'accepted' | 'rejected' | 'undone';

/** What the card says after a kept change: the undo that works, and that the card follows it. */
export const UNDO_HINT =
  'Undo here takes it back (the card then says undone); Z in command mode also reverts the cells, but the card cannot see that.';

export class ProposalView {
  readonly node: HTMLElement;
  private states: EditState[];
  private badge: HTMLElement;
  private buttons: HTMLButtonElement[] = [];
  private undoButton: HTMLButtonElement;
  private redoButton: HTMLButtonElement;
  private keptOutcome: string | null = null; // the engine outcome Undo takes back
  private commitButton: HTMLButtonElement;
  private commitOffer: CommitOffer | null = null; // commit = 'ask': the commit the server's engine can make now
  private undoneEdits: number[] = [];

  constructor(private options: IProposalOptions) {
    const { diffs, status } = options;
    const done = status && status !== 'pending';
    const stored: Record<string, EditState> = { rejected: 'rejected', undone: 'undone' };
    this.states = diffs.map(() => (done ? stored[status ?? ''] ?? 'accepted' : 'pending'));
    this.node = el('div', { class: 'codex-proposal', 'data-proposal-id': options.proposal.id });
    for (const diff of diffs) {
      this.node.appendChild(this.diffNode(diff));
    }
    const all = el('div', { class: 'codex-proposal-actions' });
    all.append(
      this.button('Accept all', 'codex-accept-all', () => this.accept(diffs.map(d => d.edit_index))),
      this.button('Reject all', 'codex-reject-all', () => this.reject(diffs.map(d => d.edit_index)))
    );
    // Undo: the server's engine takes this kept change back (newest first); Redo accepts the same edits again.
    this.undoButton = this.button('Undo', 'codex-undo', () => this.undo());
    this.redoButton = this.button('Redo', 'codex-redo', () => this.redo());
    // Commit (commit = 'ask'): the server's engine makes the commit it offered, if the files are still as kept.
    this.commitButton = this.button('Commit', 'codex-commit', () => this.commit());
    show(this.undoButton, false);
    show(this.redoButton, false);
    show(this.commitButton, false);
    all.append(this.undoButton, this.redoButton, this.commitButton);
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
      el('span', { class: 'codex-diff-state' }),
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
      node.classList.toggle('codex-edit-undone', state === 'undone');
      const mark = node.querySelector('.codex-diff-state');
      if (mark) {
        mark.textContent = { pending: '', accepted: '✓ accepted', rejected: '✗ rejected', undone: '↶ undone' }[state];
      }
      node.querySelectorAll('button').forEach(b => ((b as HTMLButtonElement).disabled = state !== 'pending'));
    });
    const pending = this.states.includes('pending');
    this.node.querySelectorAll('.codex-accept-all, .codex-reject-all').forEach(b => ((b as HTMLButtonElement).disabled = !pending));
    show(this.undoButton, !!this.keptOutcome);
    this.undoButton.disabled = false;
    show(this.redoButton, this.undoneEdits.length > 0);
    this.redoButton.disabled = false;
    show(this.commitButton, !!this.keptOutcome && !!this.commitOffer);
    this.commitButton.disabled = false;
    if (this.commitOffer) {
      this.commitButton.title = `Commit ${this.commitOffer.files.length} file(s): ${this.commitOffer.files.join(', ')}`;
    }
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
    if (!indexes.length) {
      return;
    }
    this.keptOutcome = null;
    this.commitOffer = null;
    const outcome = await this.runEngine('accept', { proposal: this.options.proposal, edit_indexes: indexes, settings: this.options.acceptSettings?.() ?? {} }, indexes);
    if (!outcome || outcome.status !== 'kept') {
      indexes.forEach(i => (this.states[i] = this.states[i] === 'accepted' ? 'pending' : this.states[i]));
    } else {
      this.keptOutcome = outcome.id;
      this.commitOffer = outcome.commit_offer ?? null;
      this.undoneEdits = [];
      this.badge.appendChild(el('div', { class: 'codex-undo-hint' }, UNDO_HINT));
    }
    this.lock();
    const ended = outcome;
    if (ended && ended.status === 'rolled_back') {
      const fix = el('button', { class: 'jp-Button codex-button codex-fix', type: 'button' }, 'Fix with Codex') as HTMLButtonElement;
      fix.addEventListener('click', () => {
        fix.disabled = true;
        this.options.onFix(ended.id);
      });
      this.badge.appendChild(fix);
    }
  }

  /** Undo: the engine reverts the kept change through this page (the same ops applier as Accept). */
  async undo(): Promise<void> {
    const outcomeId = this.keptOutcome;
    if (!outcomeId) {
      return;
    }
    const indexes = this.states.map((s, i) => (s === 'accepted' ? i : -1)).filter(i => i >= 0);
    await this.runEngine('undo', { outcome_id: outcomeId }, indexes);
    this.lock();
  }

  /** Commit: the engine commits exactly the files the kept change touched, as offered (refused if they changed since). */
  async commit(): Promise<void> {
    const outcomeId = this.keptOutcome;
    if (!outcomeId || !this.commitOffer) {
      return;
    }
    this.commitButton.disabled = true;
    this.setBadge('committing…', 'running');
    try {
      const done = await requestAPI<{ commit: string; files: string[] }>('commit', this.options.settings, {
        method: 'POST',
        body: JSON.stringify({ path: this.path(), outcome_id: outcomeId, message_id: this.options.messageId })
      });
      this.commitOffer = null;
      this.setBadge(`committed ${done.commit.slice(0, 12)}: ${done.files.join(', ')} (Undo reverts it with a revert commit)`, 'passed');
    } catch (err) {
      const hint = err instanceof APIError && err.hint ? ` — ${err.hint}` : '';
      this.setBadge(`not committed: ${(err as Error).message}${hint}`, 'failed');
    }
    this.lock();
  }

  /** Redo: the same edits accepted again — a new acceptance, planned against the notebook as it is now. */
  async redo(): Promise<void> {
    const indexes = this.undoneEdits;
    if (!indexes.length) {
      return;
    }
    indexes.forEach(i => (this.states[i] = 'pending'));
    this.undoneEdits = [];
    await this.accept(indexes); // a redo that fails leaves the edits pending: Accept tries again
  }

  /**
   * One engine run streamed from the server (accept or undo); this page answers its apply requests and the
   * card draws its events. The engine's final outcome for an acceptance, null otherwise.
   */
  private async runEngine(route: string, extra: Record<string, unknown>, indexes: number[]): Promise<Outcome | null> {
    const panel = this.options.notebook();
    const model = panel?.content.model;
    if (!panel || !model) {
      this.setBadge('open the notebook to apply this proposal', 'failed');
      return null;
    }
    this.buttons.forEach(b => (b.disabled = true));
    this.setBadge(route === 'undo' ? 'undoing…' : 'applying…', 'running');
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
        route,
        this.options.settings,
        { path: panel.context.path, message_id: this.options.messageId, ...extra },
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
      this.setBadge(`${route === 'undo' ? 'cannot undo' : 'cannot apply'}: ${(err as Error).message}`, 'failed');
    }
    return outcome;
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
      case 'validated': {
        this.setBadge(ev.ok ? `validation passed (${ev.summary})` : `validation failed: ${ev.summary}`, ev.ok ? 'passed' : 'failed');
        const report = ev.gates.find(g => (g as { gate?: string }).gate === 'notebook') as { detail?: { drift?: IDrift[] } } | undefined;
        const drift = driftNode(report?.detail?.drift ?? []);
        if (drift) {
          this.badge.appendChild(drift);
        }
        break;
      }
      case 'kept':
        if (!this.badge.className.includes('passed')) {
          this.setBadge('applied and kept', 'passed');
        }
        break;
      case 'undone':
        ev.edits.forEach(i => (this.states[i] = 'undone'));
        this.undoneEdits = ev.edits;
        this.keptOutcome = null;
        this.commitOffer = null;
        this.setBadge(
          'undone: the notebook is back to how it was before this change' +
            (ev.commit ? `, and its commit is reverted by commit ${ev.commit.slice(0, 12)}` : '') +
            ' (Redo applies it again)',
          'info'
        );
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

/** Show or hide a button (JupyterLab's button style sets display, which would beat the hidden attribute). */
function show(node: HTMLElement, visible: boolean): void {
  node.style.display = visible ? '' : 'none';
}

export interface IDrift {
  cell_id: string;
  index: number;
  name?: string | null;
  cell?: string | null;
  detail: string;
  diff?: string[];
}

/** Output drift of cells the edit did not touch: each cell as people name it, what changed, a small diff. */
export function driftNode(drift: IDrift[]): HTMLElement | null {
  if (!drift.length) {
    return null;
  }
  const byCell = new Map<string, IDrift[]>();
  for (const item of drift) {
    byCell.set(item.cell_id, [...(byCell.get(item.cell_id) ?? []), item]);
  }
  const box = el('div', { class: 'codex-drift' });
  const n = byCell.size;
  box.appendChild(el('div', { class: 'codex-drift-head' }, `Outputs changed in ${n} cell${n === 1 ? '' : 's'} the edit did not touch:`));
  for (const [cellId, items] of byCell) {
    const cell = el('div', { class: 'codex-drift-cell', title: cellId });
    cell.appendChild(el('b', { class: 'codex-drift-name' }, items[0].name || items[0].cell || `cell [${items[0].index + 1}]`));
    for (const item of items) {
      cell.appendChild(el('div', { class: 'codex-drift-detail' }, item.detail));
      if (item.diff?.length) {
        const pre = el('pre', { class: 'codex-diff-body codex-drift-diff' });
        for (const line of item.diff) {
          const cls = line.startsWith('+') ? 'codex-line codex-line-add' : line.startsWith('-') ? 'codex-line codex-line-del' : 'codex-line';
          pre.appendChild(el('span', { class: cls }, line + '\n'));
        }
        cell.appendChild(pre);
      }
    }
    box.appendChild(cell);
  }
  return box;
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

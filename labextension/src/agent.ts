/**
 * Agent mode: a goal in, the plan shown for editing and approval, steps streamed with Accept / Reject
 * per proposal, the remaining budget, Stop, and Rewind to a completed step. The server's agent run
 * (POST /codex-nb/agent) drives the one engine; this page is its applier (the same apply requests and
 * reply route as an acceptance) and answers its questions on /codex-nb/agent/<run>/answer.
 */
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';
import type { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';
import { requestAPI, streamAPI } from './api';
import { el } from './dom';
import { applyOps, LiveOp } from './ops';
import { runForAgent } from './agentkernel';
import type { RunRequest } from './wire';

function button(label: string, cls: string, onClick: () => void): HTMLButtonElement {
  const b = el('button', { class: `jp-Button codex-button ${cls}`, type: 'button' }, label) as HTMLButtonElement;
  b.addEventListener('click', onClick);
  return b;
}

export class AgentPanel extends Widget {
  private goal = el('textarea', { class: 'codex-agent-goal', rows: '3', placeholder: 'Goal, e.g. load sales.csv and plot monthly revenue' }) as HTMLTextAreaElement;
  private approve = el('select', { class: 'codex-agent-approve-mode' }) as HTMLSelectElement;
  private maxSteps = el('input', { class: 'codex-agent-max-steps', type: 'number', min: '1', value: '12' }) as HTMLInputElement;
  private budget = el('div', { class: 'codex-agent-budget' });
  private status = el('div', { class: 'codex-agent-status' });
  private notice = el('div', { class: 'codex-agent-notice' }); // said once and kept in view (where cells run)
  private question = el('div', { class: 'codex-agent-question' });
  private steps = el('ol', { class: 'codex-agent-steps' });
  private start = button('Start', 'codex-agent-start', () => void this.run());
  private stop = button('Stop', 'codex-agent-stop', () => void this.control('stop'));
  private rebuild = el('input', { type: 'checkbox', class: 'codex-agent-rebuild' }) as HTMLInputElement;
  private runId = '';

  constructor(private tracker: INotebookTracker, private settings: ServerConnection.ISettings) {
    super();
    this.id = 'codex-nb-agent';
    this.addClass('codex-agent-panel');
    this.title.caption = 'Codex Agent';
    for (const mode of ['ask', 'auto']) {
      const option = el('option', { value: mode }, mode === 'ask' ? 'ask before every edit' : 'accept edits that validate');
      this.approve.appendChild(option);
    }
    this.stop.disabled = true;
    const rebuildLabel = el('label', { class: 'codex-agent-rebuild-label' });
    rebuildLabel.append(this.rebuild, document.createTextNode(' rebuild kernel on rewind'));
    const limits = el('div', { class: 'codex-agent-limits' });
    limits.append(this.approve, document.createTextNode(' max steps '), this.maxSteps);
    this.node.append(el('h3', {}, 'Agent'), this.goal, limits, this.start, this.stop, this.budget, this.status, this.notice,
      this.question, this.steps, rebuildLabel);
  }

  private get notebook() {
    return this.tracker.currentWidget;
  }

  private say(text: string): void {
    this.status.textContent = text;
  }

  async run(): Promise<void> {
    const panel = this.notebook;
    const model = panel?.content.model;
    if (!panel || !model || !this.goal.value.trim()) {
      this.say(!panel ? 'Open a notebook first.' : 'Say what the agent should do.');
      return;
    }
    if (this.runId) {
      await this.control('close').catch(() => undefined); // a finished run kept open for rewinds
    }
    this.start.disabled = true;
    this.stop.disabled = false;
    this.steps.replaceChildren();
    this.notice.textContent = '';
    this.say('Planning…');
    const replies: Promise<unknown>[] = [];
    let mine = '';
    try {
      await streamAPI(
        'agent',
        this.settings,
        { path: panel.context.path, goal: this.goal.value, approve: this.approve.value, max_steps: Number(this.maxSteps.value) || 12 },
        ({ event, data }) => {
          if (event === 'agent') {
            this.runId = mine = data.run_id;
          } else if (event === 'run_request') {
            // The agent's cells run in this notebook's kernel; the reply carries the notebook with their outputs.
            replies.push(
              runForAgent(panel, data as RunRequest).then(result =>
                requestAPI(`accept/${mine}/reply`, this.settings, {
                  method: 'POST',
                  body: JSON.stringify({ request_id: data.request_id, ...result, notebook: model.toJSON() })
                })
              )
            );
          } else if (event === 'apply_request') {
            const result = data.action === 'apply' ? applyOps(model, data.ops as LiveOp[]) : { ok: true, reason: null };
            replies.push(
              requestAPI(`accept/${mine}/reply`, this.settings, {
                method: 'POST',
                body: JSON.stringify({ request_id: data.request_id, ok: result.ok, reason: result.reason, notebook: model.toJSON() })
              })
            );
          } else {
            this.draw(event, data);
          }
        }
      );
      await Promise.all(replies);
    } catch (err) {
      this.say(`The agent stopped: ${(err as Error).message}`);
    }
    if (this.runId === mine) {
      this.start.disabled = false;
      this.stop.disabled = true;
      this.runId = '';
    }
  }

  private async control(action: string, body: unknown = {}): Promise<any> {
    if (!this.runId) {
      return null;
    }
    return requestAPI(`agent/${this.runId}/${action}`, this.settings, { method: 'POST', body: JSON.stringify(body) });
  }

  private answer(questionId: string, value: unknown): void {
    this.question.replaceChildren();
    void this.control('answer', { question_id: questionId, value });
  }

  private draw(event: string, data: any): void {
    if (data && data.remaining) {
      const r = data.remaining;
      this.budget.textContent = `left: ${r.steps} steps, ${r.tokens} tokens, ${r.seconds} s, ${r.repairs} repairs`;
    }
    switch (event) {
      case 'agent_question':
        this.ask(data);
        break;
      case 'agent_notice':
        this.notice.textContent = data.text;
        break;
      case 'agent_step_started':
        this.say(`Step ${data.step}: asking the model…`);
        break;
      case 'agent_action':
        this.say(`Step ${data.step}: ${data.tool} — ${data.explanation}`);
        break;
      case 'agent_step_done':
        this.addStep(data);
        break;
      case 'agent_engine':
        if (data.event?.type === 'validated' || data.event?.type === 'refused' || data.event?.type === 'rolled_back') {
          this.say(`Step ${data.step}: ${data.event.type.replace('_', ' ')} ${data.event.summary ?? data.event.reason ?? ''}`);
        }
        break;
      case 'agent_rewound':
        Array.from(this.steps.children).forEach(li => {
          if (Number((li as HTMLElement).dataset.step) > data.step) {
            li.remove();
          }
        });
        this.say(`Rewound to the end of step ${data.step}${data.rebuilt_kernel ? ' and rebuilt the kernel' : ''}.`);
        break;
      case 'agent_finished':
        this.question.replaceChildren();
        this.stop.disabled = true;
        this.start.disabled = false; // the stream stays open for rewinds; a new Start closes it
        this.say(`${data.status}: ${data.reason}`);
        break;
      case 'error':
        this.say(`Error: ${data.message}`);
        break;
    }
  }

  private ask(q: any): void {
    if (q.kind === 'plan') {
      const editor = el('textarea', { class: 'codex-agent-plan', rows: String(Math.max(3, q.steps.length + 1)) }) as HTMLTextAreaElement;
      editor.value = q.steps.join('\n');
      const steps = () => editor.value.split('\n').map(s => s.trim()).filter(Boolean);
      this.question.replaceChildren(
        el('div', {}, 'Plan — edit the steps (one per line), then approve:'),
        editor,
        button('Approve plan', 'codex-agent-approve', () => this.answer(q.question_id, steps())),
        button('Cancel', 'codex-agent-cancel', () => this.answer(q.question_id, null))
      );
      this.say('Waiting for the plan to be approved.');
    } else if (q.kind === 'proposal') {
      const edits = (q.proposal.edits as any[]).map((e, i) => {
        const card = el('div', { class: 'codex-agent-edit' });
        const where = e.op === 'insert' ? `insert after ${e.after ?? 'the end'}` : e.op === 'patch_file' ? `patch ${e.path}` : `${e.op} ${e.cell_id}`;
        card.append(el('div', { class: 'codex-agent-edit-title' }, `${i + 1}. ${where}`), el('pre', {}, e.source ?? e.replace ?? ''));
        return card;
      });
      const all = (q.proposal.edits as any[]).map((_e, i) => i);
      this.question.replaceChildren(
        el('div', {}, `Step ${q.step}: ${q.proposal.explanation}`),
        ...edits,
        button('Accept', 'codex-agent-accept', () => this.answer(q.question_id, { indexes: all })),
        button('Reject', 'codex-agent-reject', () => this.answer(q.question_id, { indexes: [] })),
        button('Accept edits that validate from now on', 'codex-agent-policy-auto', () =>
          this.answer(q.question_id, { indexes: all, policy: 'accept_validated' })
        )
      );
      this.say('Waiting for a decision. File patches and deletions are always asked for.');
    } else {
      this.question.replaceChildren(
        el('div', {}, `Step ${q.step} wants to run cells ${q.cell_ids.join(', ')}`),
        button('Run', 'codex-agent-run', () => this.answer(q.question_id, true)),
        button("Don't run", 'codex-agent-skip', () => this.answer(q.question_id, false))
      );
    }
  }

  private addStep(data: any): void {
    const li = el('li', { class: `codex-agent-step codex-agent-step-${data.status}` });
    li.dataset.step = String(data.step);
    li.append(el('span', {}, `${data.tool} — ${data.status} ${data.summary ?? ''}`));
    li.append(
      button('Rewind to here', 'codex-agent-rewind', () => {
        void this.control('rewind', { step: data.step, rebuild: this.rebuild.checked }).catch(err => this.say(`Cannot rewind: ${err.message}`));
      })
    );
    this.steps.appendChild(li);
  }

  /** Leaving Agent mode ends the run's stream (a finished run stays open for rewinds until then). */
  close(): void {
    void this.control('close');
    super.close();
  }
}

export const agentPlugin: JupyterFrontEndPlugin<void> = {
  id: 'codex-nb:agent',
  description: 'Agent mode: plan, then step-by-step edits through the engine, with approval, Stop and Rewind.',
  autoStart: true,
  requires: [INotebookTracker, ILabShell],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, shell: ILabShell) => {
    const panel = new AgentPanel(tracker, app.serviceManager.serverSettings);
    panel.title.label = 'Agent';
    shell.add(panel, 'right', { rank: 610 });
  }
};

/**
 * "Fix with Codex" on cells whose output is an error: a small button in the cell,
 * kept in step with the outputs (added when an error appears, removed when it goes).
 */
import type { CodeCell } from '@jupyterlab/cells';
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { CommandRegistry } from '@lumino/commands';
import { CommandIDs } from './tokens';

const BUTTON_CLASS = 'codex-fix-cell';

export function watchErrors(panel: NotebookPanel, commands: CommandRegistry): void {
  let timer = 0;
  const scan = () => {
    timer = 0;
    for (const cell of panel.content.widgets) {
      if (cell.model.type !== 'code') {
        continue;
      }
      const outputs = (cell as CodeCell).model.outputs;
      let failed = false;
      for (let i = 0; i < outputs.length; i++) {
        if (outputs.get(i).type === 'error') {
          failed = true;
          break;
        }
      }
      const existing = cell.node.querySelector(`:scope > .${BUTTON_CLASS}`);
      if (failed && !existing) {
        const button = document.createElement('button');
        button.className = `jp-Button ${BUTTON_CLASS}`;
        button.type = 'button';
        button.textContent = 'Fix with Codex';
        button.title = 'Ask Codex to fix the error in this cell';
        button.addEventListener('click', () => void commands.execute(CommandIDs.fixCell, { cellId: cell.model.id }));
        cell.node.appendChild(button);
      } else if (!failed && existing) {
        existing.remove();
      }
    }
  };
  const schedule = () => {
    if (!timer) {
      timer = window.setTimeout(scan, 200);
    }
  };
  panel.content.modelContentChanged.connect(schedule);
  panel.content.model?.contentChanged.connect(schedule);
  panel.context.ready.then(schedule).catch(() => undefined);
  panel.disposed.connect(() => window.clearTimeout(timer));
}

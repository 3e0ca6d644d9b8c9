/**
 * Actions on the code blocks of a chat answer: Copy, Insert below, Replace cell.
 *
 * Insert and Replace never touch the notebook themselves: they ask the server for an
 * ordinary proposal (one insert after the active cell, or one replace of it) and the
 * panel shows it as the usual card, whose Accept goes through the engine.
 */
import { el } from './dom';

export type CodeAction = 'insert' | 'replace';

export interface ICodeActionHost {
  /** Build the proposal for `code` and show its card below the answer. */
  propose(code: string, action: CodeAction, answerBox: HTMLElement): Promise<void>;
}

/** Add the action bar to every code block rendered in `answer` (once per block). */
export function addCodeActions(answer: HTMLElement, box: HTMLElement, host: ICodeActionHost): void {
  answer.querySelectorAll('pre').forEach(pre => {
    if (pre.parentElement?.querySelector(':scope > .codex-code-actions')) {
      return;
    }
    const code = (pre.textContent ?? '').replace(/\n$/, '');
    if (!code.trim()) {
      return;
    }
    const bar = el('div', { class: 'codex-code-actions' });
    const copy = button('Copy', 'codex-code-copy', 'Copy the code to the clipboard');
    copy.addEventListener('click', () => void copyCode(copy, code));
    const insert = button('Insert below', 'codex-code-insert', 'Propose a new cell with this code below the active cell');
    insert.addEventListener('click', () => void run(insert, () => host.propose(code, 'insert', box)));
    const replace = button('Replace cell', 'codex-code-replace', 'Propose this code as the new source of the active cell');
    replace.addEventListener('click', () => void run(replace, () => host.propose(code, 'replace', box)));
    bar.append(copy, insert, replace);
    pre.insertAdjacentElement('afterend', bar);
  });
}

function button(label: string, cls: string, title: string): HTMLButtonElement {
  return el('button', { class: `jp-Button codex-button codex-code-action ${cls}`, type: 'button', title }, label) as HTMLButtonElement;
}

async function run(b: HTMLButtonElement, action: () => Promise<void>): Promise<void> {
  b.disabled = true;
  try {
    await action();
  } finally {
    b.disabled = false;
  }
}

/**
 * Copy with the Clipboard API, else with the older copy command on a hidden text area
 * (pages without clipboard permission). The button says which happened; `data-copied`
 * holds the text that was copied.
 */
async function copyCode(b: HTMLButtonElement, code: string): Promise<void> {
  let ok = false;
  try {
    await navigator.clipboard.writeText(code);
    ok = true;
  } catch {
    const area = el('textarea', { class: 'codex-copy-buffer' }) as HTMLTextAreaElement;
    area.value = code;
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    area.remove();
  }
  b.dataset.copied = ok ? code : '';
  b.classList.toggle('codex-copied', ok);
  b.textContent = ok ? 'Copied' : 'Copy failed — select the code';
  window.setTimeout(() => (b.textContent = 'Copy'), 2000);
}

import { Token } from '@lumino/coreutils';
import type { INotebookModel } from '@jupyterlab/notebook';
import type { IApplyResult, LiveOp } from './ops';

/** Every command of the extension, in one place. */
export namespace CommandIDs {
  export const openPanel = 'codex-nb:open-panel';
  export const ask = 'codex-nb:ask';
  export const fixCell = 'codex-nb:fix-cell';
  export const explainCell = 'codex-nb:explain-cell';
  export const stop = 'codex-nb:stop';
  export const openMap = 'codex-nb:open-map';
  export const requestOverrides = 'codex-nb:request-overrides';
}

/** Applies live-apply ops to notebook models (the comm target and the panel share it). */
export interface ILiveApply {
  apply(model: INotebookModel, ops: LiveOp[]): IApplyResult;
}

export const ILiveApply = new Token<ILiveApply>(
  'codex-nb:ILiveApply',
  'Applies codex-nb edit ops (insert/replace/delete/restore/remove) to a notebook model as one undoable change; also serves the codex_nb.live_apply comm target.'
);

/** The Codex side panel. */
export interface ICodexPanel {
  /** Send a request as if typed in the panel. */
  send(options: { kind: string; instruction: string; activeCell?: string | null }): void;
  /** Stop the running request, if any. */
  stop(): void;
}

export const ICodexPanel = new Token<ICodexPanel>(
  'codex-nb:ICodexPanel',
  'The Codex side panel: chat with the assistant about the active notebook, review and apply its proposals.'
);

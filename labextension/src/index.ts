import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';
import { agentPlugin } from './agent';
import { watchErrors } from './fixbutton';
import { inlinePlugin } from './inline';
import { sendSnapshotsBeforeCodexCells, watchPanel } from './liveapply';
import { applyOps } from './ops';
import { mapPlugin } from './map';
import { CodexPanel } from './panel';
import { ICodexSettings, settingsPlugin } from './settings';
import { CommandIDs, ICodexPanel, ILiveApply } from './tokens';

export { CommandIDs, ICodexPanel, ILiveApply } from './tokens';
export { ICodexSettings } from './settings';

const codexIcon = new LabIcon({
  name: 'codex-nb:icon',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161"><path d="M8.6 16.6 4 12l4.6-4.6L10 8.8 6.8 12l3.2 3.2zm6.8 0L14 15.2l3.2-3.2L14 8.8l1.4-1.4L20 12z"/><circle cx="12" cy="12" r="1.6"/></g></svg>'
});

/** The comm target through which the kernel (%codex widgets) changes the open notebook. */
const liveApply: JupyterFrontEndPlugin<ILiveApply> = {
  id: 'codex-nb:live-apply',
  description: 'Registers the codex_nb.live_apply comm target on every notebook kernel and applies edit ops as one undoable change.',
  autoStart: true,
  requires: [INotebookTracker],
  provides: ILiveApply,
  activate: (_app: JupyterFrontEnd, tracker: INotebookTracker): ILiveApply => {
    tracker.forEach(panel => watchPanel(panel));
    tracker.widgetAdded.connect((_, panel) => watchPanel(panel));
    sendSnapshotsBeforeCodexCells();
    stopAgentCellsFromTheWidget(tracker);
    return { apply: applyOps };
  }
};

/**
 * A `%codex agent` widget's Stop while one of the run's cells runs in the kernel: the click's comm message
 * would be handled only after the cell, so the page interrupts the kernel itself (the kernel side takes that
 * KeyboardInterrupt as the run's Stop). The widget is marked `codex-agent-cell-running` only meanwhile.
 */
function stopAgentCellsFromTheWidget(tracker: INotebookTracker): void {
  document.addEventListener(
    'click',
    event => {
      const target = event.target as HTMLElement | null;
      if (!target?.closest?.('.codex-agent.codex-agent-cell-running .codex-agent-stop')) {
        return;
      }
      const panel = tracker.find(p => p.node.contains(target));
      const kernel = panel?.sessionContext.session?.kernel;
      if (kernel && kernel.status === 'busy') {
        void kernel.interrupt();
      }
    },
    true
  );
}

/** The Codex side panel on the right. */
const panelPlugin: JupyterFrontEndPlugin<ICodexPanel> = {
  id: 'codex-nb:panel',
  description: 'The Codex side panel: chat about the active notebook, review diffs, accept, validate, roll back.',
  autoStart: true,
  requires: [INotebookTracker, IRenderMimeRegistry, ILabShell],
  optional: [ICodexSettings],
  provides: ICodexPanel,
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    rendermime: IRenderMimeRegistry,
    shell: ILabShell,
    codexSettings: ICodexSettings | null
  ): ICodexPanel => {
    const panel = new CodexPanel(tracker, rendermime, app.serviceManager.serverSettings, codexSettings);
    panel.title.icon = codexIcon;
    panel.title.caption = 'Codex';
    shell.add(panel, 'right', { rank: 600 });
    return panel;
  }
};

/** Commands, palette entries and the keyboard shortcut. */
const commandsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'codex-nb:commands',
  description: 'Codex commands: open the panel, ask, fix or explain a cell, stop.',
  autoStart: true,
  requires: [ICodexPanel, INotebookTracker, ILabShell],
  optional: [ICommandPalette],
  activate: (app: JupyterFrontEnd, panel: ICodexPanel, tracker: INotebookTracker, shell: ILabShell, palette: ICommandPalette | null) => {
    const { commands } = app;
    const open = () => shell.activateById('codex-nb-panel');
    const cellOf = (cellId?: string) => {
      const nb = tracker.currentWidget?.content;
      return cellId ? nb?.widgets.find(c => c.model.id === cellId) : nb?.activeCell;
    };
    commands.addCommand(CommandIDs.openPanel, { label: 'Open the Codex panel', icon: codexIcon, execute: open });
    commands.addCommand(CommandIDs.ask, {
      label: 'Ask Codex',
      execute: args => {
        open();
        if (args.instruction) {
          panel.send({ kind: (args.kind as string) || 'propose', instruction: args.instruction as string });
        }
      }
    });
    commands.addCommand(CommandIDs.fixCell, {
      label: 'Fix with Codex',
      isEnabled: () => !!tracker.currentWidget,
      execute: args => {
        const cell = cellOf(args.cellId as string | undefined);
        if (!cell) {
          return;
        }
        const outputs = (cell.model.toJSON() as any).outputs ?? [];
        const err = outputs.find((o: any) => o.output_type === 'error');
        const what = err ? `${err.ename}: ${err.evalue}` : 'the cell does not do what it should';
        open();
        panel.send({ kind: 'fix', instruction: `Fix the error in this cell: ${what}`, activeCell: cell.model.id });
      }
    });
    commands.addCommand(CommandIDs.explainCell, {
      label: 'Explain this cell with Codex',
      isEnabled: () => !!tracker.activeCell,
      execute: () => {
        const cell = cellOf();
        if (cell) {
          open();
          panel.send({ kind: 'explain', instruction: 'Explain this cell.', activeCell: cell.model.id });
        }
      }
    });
    commands.addCommand(CommandIDs.stop, { label: 'Stop Codex', execute: () => panel.stop() });
    app.commands.addKeyBinding({ command: CommandIDs.openPanel, keys: ['Accel Alt C'], selector: 'body' });
    for (const command of [CommandIDs.openPanel, CommandIDs.fixCell, CommandIDs.explainCell, CommandIDs.stop]) {
      palette?.addItem({ command, category: 'Codex' });
    }
    app.contextMenu.addItem({ command: CommandIDs.fixCell, selector: '.jp-CodeCell', rank: 60 });
    app.contextMenu.addItem({ command: CommandIDs.explainCell, selector: '.jp-Cell', rank: 61 });
  }
};

/** "Fix with Codex" on cells whose output is an error. */
const fixButton: JupyterFrontEndPlugin<void> = {
  id: 'codex-nb:fix-button',
  description: 'Shows a "Fix with Codex" button on notebook cells whose output is an error.',
  autoStart: true,
  requires: [INotebookTracker, ICodexPanel],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker) => {
    tracker.forEach(panel => watchErrors(panel, app.commands));
    tracker.widgetAdded.connect((_, panel) => watchErrors(panel, app.commands));
  }
};

export default [liveApply, panelPlugin, commandsPlugin, fixButton, mapPlugin, settingsPlugin, inlinePlugin, agentPlugin];

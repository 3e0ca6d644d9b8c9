/**
 * The Map view: what the assistant understands of the repository and of the active notebook
 * (POST /codex-nb/map, local analysis only). Clicking a file opens it; clicking a cell jumps to it.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget } from '@jupyterlab/apputils';
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { INotebookTracker as INotebookTrackerToken } from '@jupyterlab/notebook';
import type { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';
import { requestAPI } from './api';
import { el } from './dom';
import { drawCells, drawRepository, IMapData } from './mapdraw';
import { CommandIDs } from './tokens';

export class MapView extends Widget {
  private query: HTMLInputElement;
  private status: HTMLElement;
  private repo: HTMLElement;
  private cells: HTMLElement;
  private notebook: NotebookPanel | null = null;
  data: IMapData | null = null;

  constructor(
    private tracker: INotebookTracker,
    private settings: ServerConnection.ISettings,
    private commands: JupyterFrontEnd['commands']
  ) {
    super();
    this.id = 'codex-nb-map';
    this.addClass('codex-map');
    const bar = el('div', { class: 'codex-map-bar' });
    this.query = el('input', { class: 'jp-mod-styled codex-map-query', type: 'text', placeholder: 'A question: highlight the files it would send' }) as HTMLInputElement;
    this.query.addEventListener('keydown', e => {
      if (e.key === 'Enter') {
        void this.refresh();
      }
    });
    const go = el('button', { class: 'jp-Button jp-mod-styled jp-mod-accept codex-map-refresh', type: 'button' }, 'Map');
    go.addEventListener('click', () => void this.refresh());
    this.status = el('div', { class: 'codex-map-status' });
    bar.append(this.query, go);
    this.cells = el('section', { class: 'codex-map-section codex-map-notebook' });
    this.repo = el('section', { class: 'codex-map-section codex-map-repository' });
    this.node.append(bar, this.status, this.cells, this.repo);
  }

  /** Map the active notebook (live content) for the question in the box. */
  async refresh(question?: string): Promise<void> {
    if (question !== undefined) {
      this.query.value = question;
    }
    this.notebook = this.tracker.currentWidget ?? this.notebook;
    const panel = this.notebook;
    const body = panel?.content.model
      ? { path: panel.context.path, notebook: panel.content.model.toJSON(), query: this.query.value, active_cell: panel.content.activeCell?.model.id ?? null }
      : { query: this.query.value };
    this.status.textContent = 'building the map…';
    try {
      this.data = await requestAPI<IMapData>('map', this.settings, { method: 'POST', body: JSON.stringify(body) });
    } catch (err) {
      this.status.textContent = `could not build the map: ${(err as Error).message}`;
      this.status.classList.add('codex-error');
      return;
    }
    this.status.classList.remove('codex-error');
    this.draw(this.data);
  }

  private draw(data: IMapData): void {
    const sent = data.sent.filter(s => s.code_sent).length;
    this.status.textContent =
      `${data.files} files in ${data.groups.length} folders` +
      (data.collapsed ? ' (drawn by folder)' : '') +
      (data.budget ? ` · context ${data.context_tokens} of ${data.budget} tokens, code of ${sent} file(s) sent` : '');
    const width = Math.max(this.repo.clientWidth || this.node.clientWidth || 700, 240);
    const cells = drawCells(data, width, (position, id) => this.jump(position, id));
    this.cells.replaceChildren(el('h3', {}, `Notebook ${data.notebook?.path ?? ''}: cell dependencies`));
    if (cells) {
      if (data.notebook?.widened) {
        this.cells.appendChild(el('div', { class: 'codex-note codex-map-widened' }, `Any edit re-runs every cell: ${data.notebook.widened}.`));
      }
      this.cells.appendChild(cells);
    } else {
      this.cells.appendChild(el('div', { class: 'codex-note' }, 'Open a notebook to see its cell graph.'));
    }
    this.repo.replaceChildren(el('h3', {}, 'Repository: modules, notebooks and imports'), drawRepository(data, width, path => this.open(path)));
  }

  private open(path: string): void {
    const root = this.data?.root;
    if (root === null || root === undefined) {
      return;
    }
    void this.commands.execute('docmanager:open', { path: root === '.' ? path : `${root}/${path}` });
  }

  private jump(position: number, id: string): void {
    const panel = this.notebook;
    if (!panel || panel.isDisposed) {
      return;
    }
    void this.commands
      .execute('docmanager:open', { path: panel.context.path })
      .catch(() => undefined)
      .then(() => {
        const content = panel.content;
        const index = content.widgets.findIndex(c => c.model.id === id);
        content.activeCellIndex = index >= 0 ? index : position;
        void content.scrollToItem(content.activeCellIndex);
      });
  }
}

/** The Map view in the main area, opened next to the notebook. */
export const mapPlugin: JupyterFrontEndPlugin<void> = {
  id: 'codex-nb:map',
  description: 'The Codex map: the repository graph, the files a question would send, the notebook cell graph.',
  autoStart: true,
  requires: [INotebookTrackerToken],
  optional: [ICommandPalette],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, palette: ICommandPalette | null) => {
    let shell: MainAreaWidget<MapView> | null = null;
    app.commands.addCommand(CommandIDs.openMap, {
      label: 'Open the Codex map',
      caption: 'What the assistant understands: modules, imports, the files a question sends, the cell graph',
      execute: async args => {
        if (!shell || shell.isDisposed) {
          const view = new MapView(tracker, app.serviceManager.serverSettings, app.commands);
          shell = new MainAreaWidget({ content: view });
          shell.id = 'codex-nb-map-area';
          shell.title.label = 'Codex map';
          shell.title.closable = true;
        }
        if (!shell.isAttached) {
          app.shell.add(shell, 'main', { mode: 'split-right' });
        }
        app.shell.activateById(shell.id);
        await shell.content.refresh(args.query as string | undefined);
      }
    });
    palette?.addItem({ command: CommandIDs.openMap, category: 'Codex' });
  }
};

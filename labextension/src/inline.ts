/**
 * Ghost-text completion in notebook cells: a provider for JupyterLab's own inline completer
 * (Tab accepts, Alt-] / Alt-[ cycle, Esc dismisses), fed by the streaming `complete` route.
 *
 * The provider answers as soon as the first piece of text arrives (an item marked `isIncomplete`)
 * and streams the rest. A newer keystroke aborts the request before it: the server then stops the
 * model, and the server also cancels the older request by itself when the newer one arrives.
 *
 * Alt-] / Alt-[ cycle through the items of one answer. The server streams the first suggestion
 * and sends the others (distinct, from the same model response) when it is done; the `start`
 * event says how many may come, so the provider can list that many items at once (JupyterLab
 * fixes the list when `fetch` returns) and fill them in through `stream` as they arrive.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import {
  CompletionHandler,
  ICompletionProviderManager,
  IInlineCompletionContext,
  IInlineCompletionItem,
  IInlineCompletionList,
  IInlineCompletionProvider
} from '@jupyterlab/completer';
import { NotebookPanel } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { requestAPI, streamAPI } from './api';
import { CompletionStats, KernelNames } from './inlinestate';

const PLUGIN_ID = 'codex-nb:inline';
const ACCEPT_COMMAND = 'inline-completer:accept';
const CELLS_ABOVE = 30;
const CELLS_BELOW = 5;
const OUTPUTS_PER_CELL = 3;
const OUTPUT_CHARS = 400;
const SUGGESTIONS = 3; // the first and up to two alternatives to cycle to

/** The settings in force: the lab's settings where set, else the server's (c.CodexNB). */
interface ISettings {
  enabled: boolean;
  model: string;
  debounceMs: number;
  maxLines: number;
}

/** One streamed suggestion, as the provider's `stream()` reads it. */
class Suggestion {
  text = '';
  finished = false;
  model = '';
  promised = 0; // how many alternatives the server said may come
  alternatives: string[] = [];
  private wakes: (() => void)[] = []; // the first item's stream and the alternatives' places wait together
  readonly controller = new AbortController();

  add(text: string): void {
    this.text += text;
    this.notify();
  }

  finish(): void {
    this.finished = true;
    this.notify();
  }

  changed(): Promise<void> {
    return new Promise(resolve => this.wakes.push(resolve));
  }

  private notify(): void {
    const wakes = this.wakes;
    this.wakes = [];
    wakes.forEach(wake => wake());
  }
}

function trimmedOutputs(outputs: any[]): any[] {
  return outputs.slice(0, OUTPUTS_PER_CELL).map(o => {
    if (o.output_type === 'stream') {
      return { output_type: 'stream', name: o.name, text: String(o.text ?? '').slice(0, OUTPUT_CHARS) };
    }
    if (o.output_type === 'error') {
      return { output_type: 'error', ename: o.ename, evalue: String(o.evalue ?? '').slice(0, OUTPUT_CHARS) };
    }
    const plain = o.data?.['text/plain'];
    const text = Array.isArray(plain) ? plain.join('') : plain;
    const images = Object.keys(o.data ?? {}).filter(m => m.startsWith('image/'));
    const data: Record<string, string> = {};
    if (images.length) {
      data[images[0]] = '';
    } else if (text) {
      data['text/plain'] = String(text).slice(0, OUTPUT_CHARS);
    }
    return { output_type: o.output_type, data, metadata: {} };
  });
}

function cellJSON(cell: any): object {
  const json = cell.toJSON();
  const source = Array.isArray(json.source) ? json.source.join('') : json.source;
  return { cell_type: json.cell_type, source, outputs: json.cell_type === 'code' ? trimmedOutputs(json.outputs ?? []) : [] };
}

export class CodexInlineProvider implements IInlineCompletionProvider {
  /** Shown on the ghost text's toolbar; the embedded toy model says it is a demonstration. */
  get name(): string {
    const demo = this.lab.model ? this.lab.model === 'local:smollm2' : !!this.server?.demonstration;
    return demo ? 'Codex (demonstration model: local:smollm2)' : 'Codex';
  }
  readonly identifier = 'codex-nb';
  // Our own debounce and cancellation replace the completer's; fill-in-the-middle is supported.
  readonly schema = {
    default: { enabled: true, debouncerDelay: 0, timeout: 20000, autoFillInMiddle: true }
  } as any;

  private suggestions = new Map<string, Suggestion>();
  private places = new Map<string, { suggestion: Suggestion; index: number }>();
  private latest: Suggestion | null = null;
  private counter = 0;
  private lab: { enabled: string; model: string; debounceMs: number | null; maxLines: number | null } = {
    enabled: 'auto',
    model: '',
    debounceMs: null,
    maxLines: null
  };
  private server: { enabled: boolean; model: string; debounce_ms: number; max_lines: number; demonstration?: boolean } | null =
    null;

  constructor(
    private serverSettings: ServerConnection.ISettings,
    private kernelNames: KernelNames,
    readonly stats: CompletionStats
  ) {}

  /** Settings from the lab's settings editor (the `codex-nb:inline` plugin). */
  configureFromLab(composite: any): void {
    this.lab = {
      enabled: composite.enabled ?? 'auto',
      model: composite.model ?? '',
      debounceMs: composite.debounceMs ?? null,
      maxLines: composite.maxLines ?? null
    };
    this.server = null; // the model may have changed: ask the server again
  }

  async settings(): Promise<ISettings> {
    if (!this.server) {
      try {
        this.server = await requestAPI('complete/settings', this.serverSettings);
      } catch {
        this.server = { enabled: false, model: '', debounce_ms: 250, max_lines: 3 };
      }
    }
    const server = this.server!;
    const enabled = this.lab.enabled === 'on' || (this.lab.enabled === 'auto' && (server.enabled || !!this.lab.model));
    return {
      enabled,
      model: this.lab.model || server.model,
      debounceMs: this.lab.debounceMs ?? server.debounce_ms,
      maxLines: this.lab.maxLines ?? server.max_lines
    };
  }

  async fetch(request: CompletionHandler.IRequest, context: IInlineCompletionContext): Promise<IInlineCompletionList> {
    const panel = context.widget;
    const mine = ++this.counter;
    this.latest?.controller.abort(); // the server stops the model for the request before this one
    this.latest = null;
    this.stats.typedOn(request.text.slice(0, request.offset));
    if (!(panel instanceof NotebookPanel)) {
      return { items: [] };
    }
    const settings = await this.settings();
    if (!settings.enabled) {
      return { items: [] };
    }
    if (settings.debounceMs > 0) {
      await new Promise(resolve => setTimeout(resolve, settings.debounceMs));
    }
    if (mine !== this.counter) {
      return { items: [] }; // the user kept typing
    }
    const notebook = panel.content;
    const active = notebook.activeCell;
    // Only where the user types: a cell changed by other means (a proposal being applied) gets none.
    if (!active || active.model.type !== 'code' || !active.editor?.hasFocus()) {
      return { items: [] };
    }
    const index = notebook.widgets.indexOf(active);
    const cells = notebook.widgets.map(w => w.model);
    const body = {
      editor_id: `${panel.context.path}/${active.model.id}`,
      path: panel.context.path,
      prefix: request.text.slice(0, request.offset),
      suffix: request.text.slice(request.offset),
      cells_above: cells.slice(Math.max(0, index - CELLS_ABOVE), index).map(cellJSON),
      cells_below: cells.slice(index + 1, index + 1 + CELLS_BELOW).map(cellJSON),
      kernel_state: this.kernelNames.get(panel),
      model: this.lab.model || null,
      max_lines: settings.maxLines,
      suggestions: SUGGESTIONS
    };
    const suggestion = new Suggestion();
    this.latest = suggestion;
    const token = `codex-${mine}`;
    this.suggestions.set(token, suggestion);
    const first = suggestion.changed();
    streamAPI(
      'complete',
      this.serverSettings,
      body,
      e => {
        if (e.event === 'start') {
          suggestion.model = e.data.model ?? '';
          suggestion.promised = e.data.alternatives ?? 0;
        } else if (e.event === 'delta') {
          suggestion.add(e.data.text);
        } else if (e.event === 'done') {
          suggestion.alternatives = (e.data.alternatives ?? []).filter((t: unknown) => typeof t === 'string' && t);
          suggestion.finish();
        } else if (e.event === 'cancelled' || e.event === 'error') {
          suggestion.finish();
        }
      },
      suggestion.controller.signal
    )
      .catch(() => undefined)
      .finally(() => suggestion.finish());
    await first;
    if (!suggestion.text) {
      if (!suggestion.finished) {
        await suggestion.changed(); // a first event without text: wait for the next one
      }
      if (!suggestion.text) {
        this.suggestions.delete(token);
        return { items: [] };
      }
    }
    const cellModel = active.model;
    this.stats.shown({ prefix: body.prefix, text: suggestion.text, model: suggestion.model, cellText: () => cellModel.sharedModel.getSource(), settled: false,
      alternatives: () => suggestion.alternatives });
    const item: IInlineCompletionItem = { insertText: suggestion.text, isIncomplete: !suggestion.finished, token };
    if (suggestion.finished) {
      this.suggestions.delete(token);
      return { items: [item, ...suggestion.alternatives.map(text => ({ insertText: text }))] };
    }
    // still streaming: one place per promised alternative, filled in by `stream` once `done` brings it
    const places: IInlineCompletionItem[] = [];
    for (let i = 0; i < suggestion.promised; i++) {
      const placeToken = `${token}-alternative-${i}`;
      this.places.set(placeToken, { suggestion, index: i });
      places.push({ insertText: '', isIncomplete: true, token: placeToken });
    }
    return { items: [item, ...places] };
  }

  async *stream(token: string): AsyncGenerator<{ response: IInlineCompletionItem }> {
    const place = this.places.get(token);
    if (place) {
      yield* this.streamAlternative(token, place.suggestion, place.index);
      return;
    }
    const suggestion = this.suggestions.get(token);
    if (!suggestion) {
      return;
    }
    try {
      let sent = '';
      while (!suggestion.finished || sent !== suggestion.text) {
        if (sent === suggestion.text) {
          await suggestion.changed();
        }
        if (sent !== suggestion.text) {
          sent = suggestion.text;
          this.stats.update(sent);
          yield { response: { insertText: sent, isIncomplete: !suggestion.finished } };
        }
      }
    } finally {
      this.suggestions.delete(token);
    }
  }

  /** An alternative arrives whole with `done`; a place the server could not fill stays empty. */
  private async *streamAlternative(
    token: string,
    suggestion: Suggestion,
    index: number
  ): AsyncGenerator<{ response: IInlineCompletionItem }> {
    try {
      while (!suggestion.finished) {
        await suggestion.changed();
      }
      const text = suggestion.alternatives[index];
      if (text) {
        yield { response: { insertText: text, isIncomplete: false } };
      }
    } finally {
      this.places.delete(token);
    }
  }
}

/** Registers the provider with JupyterLab's inline completer. */
export const inlinePlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Ghost-text completion in notebook cells from codex-nb, aware of the notebook, the kernel and the repository.',
  autoStart: true,
  requires: [ICompletionProviderManager],
  optional: [ISettingRegistry],
  activate: (app: JupyterFrontEnd, manager: ICompletionProviderManager, registry: ISettingRegistry | null) => {
    const serverSettings = app.serviceManager.serverSettings;
    const stats = new CompletionStats(serverSettings);
    const provider = new CodexInlineProvider(serverSettings, new KernelNames(), stats);
    manager.registerInlineProvider(provider);
    app.commands.commandExecuted.connect((_, args) => {
      if (args.id === ACCEPT_COMMAND) {
        stats.accepted();
      }
    });
    if (registry) {
      void registry
        .load(PLUGIN_ID)
        .then(settings => {
          provider.configureFromLab(settings.composite);
          settings.changed.connect(() => provider.configureFromLab(settings.composite));
        })
        .catch(() => undefined);
    }
  }
};

/**
 * The Codex settings page (schema/settings.json) and the small API the panel uses.
 *
 * Kernels and the CLI read `c.CodexNB`; the server does too. The settings page does not
 * replace that: its non-empty values travel with the panel's requests as per-request
 * overrides (`requestOverrides`), so that what a person picks in JupyterLab wins for
 * JupyterLab, and everything else keeps one source of configuration.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { Token } from '@lumino/coreutils';
import { ISignal, Signal } from '@lumino/signaling';
import { CommandIDs } from './tokens';

export const SETTINGS_PLUGIN_ID = 'codex-nb:settings';

export interface ICodexSettingsValues {
  model: string;
  completionModel: string;
  validationMode: 'default' | 'targeted' | 'full';
  cellTimeout: number;
  totalTimeout: number;
  requestTimeout: number;
  lastModel: string;
  panelWidth: number;
}

export const DEFAULTS: ICodexSettingsValues = {
  model: '',
  completionModel: '',
  validationMode: 'default',
  cellTimeout: 0,
  totalTimeout: 0,
  requestTimeout: 0,
  lastModel: '',
  panelWidth: 0
};

/** The values of a loaded settings object, with defaults for anything missing or of the wrong type. */
export function readValues(settings: ISettingRegistry.ISettings | null): ICodexSettingsValues {
  const out = { ...DEFAULTS };
  if (!settings) {
    return out;
  }
  for (const key of Object.keys(DEFAULTS) as (keyof ICodexSettingsValues)[]) {
    const value = settings.get(key).composite;
    if (typeof value === typeof DEFAULTS[key]) {
      (out as any)[key] = value;
    }
  }
  return out;
}

/** Load the Codex settings from the registry (null when the registry cannot provide them). */
export async function loadSettings(registry: ISettingRegistry): Promise<ISettingRegistry.ISettings | null> {
  try {
    return await registry.load(SETTINGS_PLUGIN_ID);
  } catch (err) {
    console.warn('codex-nb: could not load the settings', err);
    return null;
  }
}

/** Remember the model picked in the panel (shown first next time when no Model is set). */
export async function saveLastModel(settings: ISettingRegistry.ISettings | null, model: string): Promise<void> {
  if (settings && model && settings.get('lastModel').composite !== model) {
    await settings.set('lastModel', model);
  }
}

/** Remember the panel's width. */
export async function savePanelWidth(settings: ISettingRegistry.ISettings | null, width: number): Promise<void> {
  if (settings && width > 0 && settings.get('panelWidth').composite !== Math.round(width)) {
    await settings.set('panelWidth', Math.round(width));
  }
}

/** The model the panel should select: the setting, else the last one used, else the server's default. */
export function preferredModel(values: ICodexSettingsValues, serverDefault: string | null): string | null {
  return values.model || values.lastModel || serverDefault;
}

export interface IRequestOverrides {
  /** For POST /codex-nb/chat */
  chat: { model?: string; request_timeout?: number };
  /** For POST /codex-nb/validate */
  validate: { mode?: 'targeted' | 'full'; cell_timeout?: number; total_timeout?: number };
  /** For completions */
  completion: { model?: string };
}

/** Request-body fields for the values that are set (empty or 0 means: the server's configuration). */
export function requestOverrides(values: ICodexSettingsValues): IRequestOverrides {
  const out: IRequestOverrides = { chat: {}, validate: {}, completion: {} };
  if (values.model) {
    out.chat.model = values.model;
  }
  if (values.requestTimeout > 0) {
    out.chat.request_timeout = values.requestTimeout;
  }
  if (values.validationMode !== 'default') {
    out.validate.mode = values.validationMode;
  }
  if (values.cellTimeout > 0) {
    out.validate.cell_timeout = values.cellTimeout;
  }
  if (values.totalTimeout > 0) {
    out.validate.total_timeout = values.totalTimeout;
  }
  const completion = values.completionModel || values.model;
  if (completion) {
    out.completion.model = completion;
  }
  return out;
}

/** The live settings, for plugins that do not want to talk to the registry themselves. */
export interface ICodexSettings {
  readonly values: ICodexSettingsValues;
  readonly changed: ISignal<ICodexSettings, ICodexSettingsValues>;
  readonly settings: ISettingRegistry.ISettings | null;
  overrides(): IRequestOverrides;
}

export const ICodexSettings = new Token<ICodexSettings>(
  'codex-nb:ICodexSettings',
  'The Codex settings page values (model, completion model, validation mode, timeouts, what the panel remembers) and the per-request overrides they make.'
);

class LiveSettings implements ICodexSettings {
  values: ICodexSettingsValues = { ...DEFAULTS };
  settings: ISettingRegistry.ISettings | null = null;
  private _changed = new Signal<ICodexSettings, ICodexSettingsValues>(this);

  get changed(): ISignal<ICodexSettings, ICodexSettingsValues> {
    return this._changed;
  }

  attach(settings: ISettingRegistry.ISettings | null): void {
    this.settings = settings;
    const update = () => {
      this.values = readValues(settings);
      this._changed.emit(this.values);
    };
    settings?.changed.connect(update);
    update();
  }

  overrides(): IRequestOverrides {
    return requestOverrides(this.values);
  }
}

/** Registers the settings page and provides ICodexSettings; loading never blocks activation. */
export const settingsPlugin: JupyterFrontEndPlugin<ICodexSettings> = {
  id: SETTINGS_PLUGIN_ID,
  description: 'The Codex settings page: model, completion model, validation mode and timeouts, and what the panel remembers.',
  autoStart: true,
  requires: [ISettingRegistry],
  provides: ICodexSettings,
  activate: (app: JupyterFrontEnd, registry: ISettingRegistry): ICodexSettings => {
    const live = new LiveSettings();
    void loadSettings(registry).then(settings => live.attach(settings));
    // Lets scripts and tests read what the panel would send, without reaching into plugins.
    app.commands.addCommand(CommandIDs.requestOverrides, {
      label: 'Codex: request overrides from the settings page',
      execute: () => live.overrides() as any
    });
    return live;
  }
};

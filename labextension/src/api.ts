/** Talking to the codex-nb server routes: JSON requests and Server-Sent-Event streams. */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export class APIError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly hint: string = ''
  ) {
    super(message);
  }
}

function url(settings: ServerConnection.ISettings, endpoint: string): string {
  return URLExt.join(settings.baseUrl, 'codex-nb', endpoint);
}

async function errorFrom(response: Response): Promise<APIError> {
  let message = response.statusText;
  let hint = '';
  try {
    const body = await response.json();
    message = body.message || body.reason || message;
    hint = body.hint || '';
  } catch {
    /* not JSON: keep the status text */
  }
  return new APIError(message, response.status, hint);
}

export async function requestAPI<T = any>(
  endpoint: string,
  settings: ServerConnection.ISettings,
  init: RequestInit = {}
): Promise<T> {
  const response = await ServerConnection.makeRequest(url(settings, endpoint), init, settings);
  if (!response.ok) {
    throw await errorFrom(response);
  }
  if (response.status === 204) {
    return undefined as T;
  }
  return (await response.json()) as T;
}

export interface IStreamEvent {
  event: string;
  data: any;
}

/** POST a JSON body and call `onEvent` for each SSE event until the stream ends. */
export async function streamAPI(
  endpoint: string,
  settings: ServerConnection.ISettings,
  body: unknown,
  onEvent: (e: IStreamEvent) => void,
  signal?: AbortSignal
): Promise<void> {
  const response = await ServerConnection.makeRequest(
    url(settings, endpoint),
    { method: 'POST', body: JSON.stringify(body), signal },
    settings
  );
  if (!response.ok) {
    throw await errorFrom(response);
  }
  if (!response.body) {
    throw new APIError('the server sent no stream', response.status);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      break;
    }
    buffer += decoder.decode(value, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) {
          event = line.slice(6).trim();
        } else if (line.startsWith('data:')) {
          data.push(line.slice(5).trimStart());
        }
      }
      if (data.length) {
        onEvent({ event, data: JSON.parse(data.join('\n')) });
      }
    }
  }
}

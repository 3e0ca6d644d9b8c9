import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { MimeModel } from '@jupyterlab/rendermime';

export type RenderMime = IRenderMimeRegistry;

export function el(tag: string, attrs: Record<string, string> = {}, text?: string): HTMLElement {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, v);
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** Render Markdown (and fenced code) with JupyterLab's own renderer into `host`. */
export function renderMarkdown(rendermime: RenderMime, host: HTMLElement, markdown: string): Promise<void> {
  const renderer = rendermime.createRenderer('text/markdown');
  host.replaceChildren(renderer.node);
  return renderer.renderModel(new MimeModel({ data: { 'text/markdown': markdown }, trusted: false })).catch(err => {
    host.textContent = markdown;
    console.warn('codex-nb: markdown rendering failed', err);
  });
}

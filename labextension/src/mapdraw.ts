/**
 * Drawing the map (the JSON of `/codex-nb/map`) as plain SVG: no layout library, no imports,
 * so that the benchmark can load this module on its own.
 *
 * Repository: one box per folder, laid out in balanced columns; files inside as rows, the
 * files a question would send highlighted with their rank and tokens; import edges as curves.
 * A large repository arrives collapsed: then each folder is one node and the edges are counted.
 * Notebook: one row per cell in notebook order, dependency arcs on the left; hovering a cell
 * marks the cells an edit of it would re-run.
 */

export interface IMapNode {
  id: string;
  kind: 'module' | 'notebook' | 'package';
  label: string;
  group: string;
  files?: number;
  sent?: number;
  rank?: number;
  tokens?: number;
  outline?: boolean; // sent as signature lines only, not its code
  why?: string;
}

export interface IMapEdge {
  source: string;
  target: string;
  kind: 'import' | 'uses';
  count?: number;
}

export interface IMapCell {
  id: string;
  position: number;
  label: string;
  kind: string;
  defines: string[];
  uses: string[];
  rerun: string[];
  opaque?: string | null;
}

export interface IMapData {
  root: string | null;
  files: number;
  collapsed: boolean;
  groups: { id: string; label: string; files: number; sent: number; package: boolean }[];
  nodes: IMapNode[];
  edges: IMapEdge[];
  sent: { path: string; rank: number; tokens: number; code_sent: boolean; outline_sent: boolean; why: string }[];
  budget: number | null;
  context_tokens: number | null;
  notebook: {
    path: string | null;
    cells: IMapCell[];
    edges: { source: string; target: string; names: string[] }[];
    widened: string | null;
  } | null;
}

const SVG = 'http://www.w3.org/2000/svg';
const COLUMN = 250;
const MARGIN = 18; // room on the left of each column for edges between boxes of one column
const ROW = 20;
const HEAD = 24;
const GAP = 14;
const LABEL_CHARS = 26;

function svg(tag: string, attrs: Record<string, string | number>, parent?: Element): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, String(v));
  }
  parent?.appendChild(node);
  return node;
}

function text(parent: Element, x: number, y: number, value: string, cls: string, hover?: string, chars = LABEL_CHARS): SVGElement {
  const shown = value.length > chars ? value.slice(0, chars - 1) + '…' : value;
  const node = svg('text', { x, y, class: cls }, parent);
  node.textContent = shown;
  if (hover || shown !== value) {
    svg('title', {}, node).textContent = hover ?? value;
  }
  return node;
}

interface IBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The repository graph; `onOpen(path)` is called when a file (not a collapsed folder) is clicked. */
export function drawRepository(data: IMapData, width: number, onOpen: (path: string) => void): SVGSVGElement {
  const root = svg('svg', { class: 'codex-map-repo', role: 'img' }) as SVGSVGElement;
  const edgeLayer = svg('g', { class: 'codex-map-edges' }, root);
  const nodeLayer = svg('g', { class: 'codex-map-nodes' }, root);
  const columns = Math.max(1, Math.floor(width / COLUMN));
  const heights = new Array(columns).fill(0);
  const at = new Map<string, IBox>();
  const byGroup = new Map<string, IMapNode[]>();
  for (const node of data.nodes) {
    const list = byGroup.get(node.group) ?? [];
    list.push(node);
    byGroup.set(node.group, list);
  }
  for (const group of data.groups) {
    const members = byGroup.get(group.id) ?? [];
    const rows = data.collapsed ? 1 : members.length;
    const h = HEAD + rows * ROW + 6;
    const col = heights.indexOf(Math.min(...heights));
    const box = { x: col * COLUMN + MARGIN, y: heights[col] + 4, w: COLUMN - MARGIN - 6, h };
    heights[col] += h + GAP;
    const g = svg('g', { class: 'codex-map-group' + (group.sent ? ' codex-map-group-sent' : ''), 'data-group': group.id }, nodeLayer);
    svg('rect', { x: box.x, y: box.y, width: box.w, height: box.h, rx: 5, class: 'codex-map-group-box' }, g);
    const title = group.package ? `${group.label} (package)` : group.label;
    text(g, box.x + 8, box.y + 16, title, 'codex-map-group-label', `${group.label}: ${group.files} file(s)`);
    if (data.collapsed) {
      const node = members[0];
      const line = `${group.files} files` + (group.sent ? `, ${group.sent} sent` : '');
      text(g, box.x + 8, box.y + HEAD + 13, line, 'codex-map-file-label');
      if (node) {
        at.set(node.id, box);
        g.classList.add('codex-map-node');
        g.setAttribute('data-id', node.id);
      }
      continue;
    }
    members.forEach((node, k) => {
      const y = box.y + HEAD + k * ROW;
      // sent: its code is in the context; outline: its signature lines only; named: listed by name only
      const sentAs = !node.tokens ? 'named' : node.outline ? 'outline' : 'sent';
      const state = node.rank ? ` codex-map-${sentAs}` : '';
      const current = node.id === data.notebook?.path ? ' codex-map-current' : '';
      const item = svg('g', { class: `codex-map-node codex-map-${node.kind}${state}${current}`, 'data-id': node.id, tabindex: 0 }, g);
      svg('rect', { x: box.x + 4, y, width: box.w - 8, height: ROW - 3, rx: 3, class: 'codex-map-file-box' }, item);
      const hover = node.rank
        ? `${node.id} — rank ${node.rank}, ${{ sent: `${node.tokens} tokens of code sent`, outline: `outline sent (${node.tokens} tokens of signatures)`, named: 'named only' }[sentAs]}; ${node.why ?? ''}`
        : current ? `${node.id} — this notebook (sent as the notebook section)` : node.id;
      const label = current ? `${node.label} (this notebook)` : node.label;
      text(item, box.x + 10, y + 13, label, 'codex-map-file-label', hover, node.rank ? 17 : LABEL_CHARS + 4);
      if (node.rank) {
        const badge = svg('text', { x: box.x + box.w - 10, y: y + 13, class: 'codex-map-rank', 'text-anchor': 'end' }, item);
        badge.textContent = `#${node.rank} · ${{ sent: `${node.tokens} tok`, outline: `${node.tokens} tok outline`, named: 'name' }[sentAs]}`;
      }
      item.addEventListener('click', () => onOpen(node.id));
      item.addEventListener('keydown', e => {
        if ((e as KeyboardEvent).key === 'Enter') {
          onOpen(node.id);
        }
      });
      at.set(node.id, { x: box.x + 4, y, w: box.w - 8, h: ROW - 3 });
    });
  }
  const sent = new Set(data.sent.map(s => s.path));
  for (const edge of data.edges) {
    const a = at.get(edge.source);
    const b = at.get(edge.target);
    if (!a || !b || (edge.kind === 'uses' && !data.collapsed)) {
      continue; // name-use edges of single files would bury the imports
    }
    const [ya, yb] = [a.y + a.h / 2, b.y + b.h / 2];
    let d: string;
    if (Math.abs(a.x - b.x) < COLUMN / 2) {
      // one column: a loop through the margin on its left
      const bulge = Math.min(MARGIN - 2, 6 + Math.abs(yb - ya) / 20);
      d = `M${a.x},${ya} C${a.x - bulge},${ya} ${b.x - bulge},${yb} ${b.x},${yb}`;
    } else {
      const [x1, x2] = b.x > a.x ? [a.x + a.w, b.x] : [a.x, b.x + b.w];
      const bend = (x2 - x1) / 2;
      d = `M${x1},${ya} C${x1 + bend},${ya} ${x2 - bend},${yb} ${x2},${yb}`;
    }
    const hot = sent.has(edge.source) && sent.has(edge.target);
    const path = svg('path', {
      d,
      class: `codex-map-edge codex-map-edge-${edge.kind}` + (hot ? ' codex-map-edge-sent' : ''),
      'stroke-width': edge.count ? Math.min(1 + Math.log2(edge.count), 6) : 1
    }, edgeLayer);
    svg('title', {}, path).textContent = `${edge.source} ${edge.kind === 'import' ? 'imports' : 'uses names from'} ${edge.target}` + (edge.count ? ` (${edge.count}×)` : '');
  }
  root.setAttribute('width', String(columns * COLUMN + 4));
  root.setAttribute('height', String(Math.max(...heights, 40) + 8));
  return root;
}

/** The notebook's cell graph; `onJump(position)` is called when a cell is clicked. */
export function drawCells(data: IMapData, width: number, onJump: (position: number, id: string) => void): SVGSVGElement | null {
  const nb = data.notebook;
  if (!nb) {
    return null;
  }
  const rowOf = new Map(nb.cells.map((c, k) => [c.id, k]));
  const arcs = 30 + Math.min(nb.edges.length, 12) * 6;
  const boxWidth = Math.max(300, width - arcs - 12);
  const root = svg('svg', { class: 'codex-map-cells', role: 'img' }) as SVGSVGElement;
  const edgeLayer = svg('g', { class: 'codex-map-edges' }, root);
  const rows: SVGElement[] = [];
  const mid = (k: number) => k * 26 + 13;
  nb.cells.forEach((cell, k) => {
    const g = svg('g', { class: `codex-map-cell codex-map-cell-${cell.kind}`, 'data-id': cell.id, 'data-position': cell.position, tabindex: 0 }, root);
    svg('rect', { x: arcs, y: k * 26 + 2, width: boxWidth, height: 22, rx: 3, class: 'codex-map-cell-box' }, g);
    const hover = [cell.id, cell.defines.length ? `defines ${cell.defines.join(', ')}` : '', cell.uses.length ? `reads ${cell.uses.join(', ')}` : '', cell.opaque ? `cannot be analysed: ${cell.opaque}` : '']
      .filter(Boolean)
      .join('\n');
    const label = svg('text', { x: arcs + 8, y: k * 26 + 17, class: 'codex-map-cell-label' }, g);
    const chars = Math.floor((boxWidth - 130) / 7);
    label.textContent = cell.label.length > chars ? cell.label.slice(0, chars - 1) + '…' : cell.label;
    svg('title', {}, label).textContent = hover;
    if (cell.defines.length) {
      const defs = svg('text', { x: arcs + boxWidth - 8, y: k * 26 + 17, class: 'codex-map-defines', 'text-anchor': 'end' }, g);
      defs.textContent = cell.defines.slice(0, 3).join(', ') + (cell.defines.length > 3 ? '…' : '');
    }
    g.addEventListener('click', () => onJump(cell.position, cell.id));
    g.addEventListener('mouseenter', () => mark(cell.rerun, true));
    g.addEventListener('mouseleave', () => mark(cell.rerun, false));
    rows.push(g);
  });
  const mark = (ids: string[], on: boolean) => {
    for (const id of ids) {
      const k = rowOf.get(id);
      if (k !== undefined) {
        rows[k].classList.toggle('codex-map-rerun', on);
      }
    }
  };
  nb.edges.forEach(edge => {
    const a = rowOf.get(edge.source);
    const b = rowOf.get(edge.target);
    if (a === undefined || b === undefined) {
      return;
    }
    const reach = Math.min(arcs - 4, 14 + Math.abs(b - a) * 6);
    const path = svg('path', {
      d: `M${arcs},${mid(a)} C${arcs - reach},${mid(a)} ${arcs - reach},${mid(b)} ${arcs},${mid(b)}`,
      class: 'codex-map-edge codex-map-edge-cell',
      'data-source': edge.source,
      'data-target': edge.target
    }, edgeLayer);
    svg('title', {}, path).textContent = `${nb.cells[b].label.split(' “')[0]} reads ${edge.names.join(', ')} from ${nb.cells[a].label.split(' “')[0]}`;
  });
  root.setAttribute('width', String(arcs + boxWidth + 4));
  root.setAttribute('height', String(nb.cells.length * 26 + 6));
  return root;
}

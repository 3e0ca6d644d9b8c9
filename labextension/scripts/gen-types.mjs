// Regenerates the wire contract: src/wire.schema.json from the Python data classes
// (`python -m codex_nb.wire schema`), then src/wire.ts from that schema.
//
//   node scripts/gen-types.mjs [--python PATH] [--out-dir DIR]
//
// The Python interpreter is --python, else $PYTHON, else the repository's .venv, else python3.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compile } from 'json-schema-to-typescript';

const here = dirname(fileURLToPath(import.meta.url));
const labextension = resolve(here, '..');
const repository = resolve(labextension, '..');

const BANNER = `/* eslint-disable */
/**
 * The wire contract between codex-nb's Python side and this extension.
 * Generated from src/wire.schema.json by scripts/gen-types.mjs — do not edit;
 * change the Python data classes (codex_nb/wire/registry.py) and run \`jlpm gen:types\`.
 */`;

function pythonPath(given) {
  if (given) {
    return given;
  }
  if (process.env.PYTHON) {
    return process.env.PYTHON;
  }
  const venv = join(repository, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

function schemaText(python) {
  const run = spawnSync(python, ['-m', 'codex_nb.wire', 'schema'], {
    cwd: repository,
    encoding: 'utf-8',
    timeout: 120000
  });
  if (run.error || run.status !== 0) {
    const why = run.error ? run.error.message : run.stderr;
    throw new Error(`${python} -m codex_nb.wire schema failed: ${why}`);
  }
  return run.stdout;
}

async function main() {
  const { values } = parseArgs({
    options: { python: { type: 'string' }, 'out-dir': { type: 'string' } }
  });
  const outDir = resolve(values['out-dir'] ?? join(labextension, 'src'));
  const text = schemaText(pythonPath(values.python));
  const schema = JSON.parse(text);
  const types = await compile(schema, 'WireMessage', {
    bannerComment: BANNER,
    additionalProperties: false, // a data class has exactly its fields
    unreachableDefinitions: true, // every root is a named type, referenced or not
    strictIndexSignatures: true,
    style: { singleQuote: true, trailingComma: 'none', printWidth: 100 }
  });
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'wire.schema.json'), text);
  writeFileSync(join(outDir, 'wire.ts'), types);
}

main().catch(err => {
  console.error(err.message ?? err);
  process.exit(1);
});

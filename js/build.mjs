// Builds the banner assets the Python package serves from consentlog/asgi/static/.
//
//   node js/build.mjs           bundle and minify js/src/* into middleware/consentlog/asgi/static/*
//   node js/build.mjs --check   build in memory only; fail if the committed files are stale
//
// Both modes print raw and gzip sizes and exit 1 when a file is over its gzip budget.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as esbuild from 'esbuild';

const jsDir = path.dirname(fileURLToPath(import.meta.url));
const srcDir = path.join(jsDir, 'src');
const staticDir = path.join(jsDir, '..', 'middleware', 'consentlog', 'asgi', 'static');
const checkOnly = process.argv.includes('--check');

// Gzip budgets in bytes.
const assets = [
  {
    name: 'banner.js',
    entry: 'main.js',
    budget: 3072,
    options: {
      // One IIFE, so the modules' top-level names are its locals and minify shortens them;
      // mangleProps does the same for the state fields, which end in `_` (src/state.js).
      format: 'iife',
      mangleProps: /_$/,
      target: 'es2017',
    },
  },
  {
    name: 'banner.css',
    entry: 'banner.css',
    budget: 1536,
    // Browsers of the es2017 era, so esbuild lowers newer CSS (e.g. `inset`) for them.
    options: { target: ['chrome58', 'edge16', 'firefox57', 'safari11'] },
  },
  // Modules served only to pages that use them (docs/banner.md): embeds held back.
  {
    name: 'embeds.js',
    entry: 'embeds.js',
    budget: 768,
    options: { format: 'iife', mangleProps: /_$/, target: 'es2017' },
  },
  {
    name: 'embeds.css',
    entry: 'embeds.css',
    budget: 640,
    options: { target: ['chrome58', 'edge16', 'firefox57', 'safari11'] },
  },
];

async function buildAsset({ name, entry, options }) {
  const result = await esbuild.build({
    entryPoints: [path.join(srcDir, entry)],
    bundle: true,
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
    ...options,
  });
  for (const warning of result.warnings) console.warn(`${name}: warning: ${warning.text}`);
  return Buffer.from(result.outputFiles[0].contents);
}

async function readOrNull(file) {
  try {
    return await readFile(file);
  } catch {
    return null;
  }
}

let failed = false;
const staleLines = [];

for (const asset of assets) {
  const code = await buildAsset(asset);
  const gzipBytes = gzipSync(code, { level: 9 }).length;
  const withinBudget = gzipBytes <= asset.budget;
  const verdict = withinBudget ? 'ok' : 'OVER BUDGET';
  console.log(
    `${asset.name.padEnd(10)} ${String(code.length).padStart(6)} B raw ${String(gzipBytes).padStart(6)} B gzip  ` +
      `(budget ${asset.budget})  ${verdict}`,
  );
  if (!withinBudget) failed = true;

  const outFile = path.join(staticDir, asset.name);
  if (checkOnly) {
    const committed = await readOrNull(outFile);
    if (!committed || !committed.equals(code)) {
      staleLines.push(`${path.relative(process.cwd(), outFile)} is stale: run node js/build.mjs`);
      failed = true;
    }
  } else {
    await mkdir(staticDir, { recursive: true });
    await writeFile(outFile, code);
  }
}

for (const line of staleLines) console.error(line);
process.exit(failed ? 1 : 0);

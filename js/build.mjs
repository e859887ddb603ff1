// Builds the banner assets the Python package serves from consentlog/static/.
//
//   node js/build.mjs           minify js/src/* and write middleware/consentlog/static/*
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
const staticDir = path.join(jsDir, '..', 'middleware', 'consentlog', 'static');
const checkOnly = process.argv.includes('--check');

// Gzip budgets in bytes. The JS budget also has to hold the engagement beacon later.
const assets = [
  { name: 'banner.js', loader: 'js', target: 'es2017', budget: 3072 },
  // Browsers of the es2017 era, so esbuild lowers newer CSS (e.g. `inset`) for them.
  { name: 'banner.css', loader: 'css', target: ['chrome58', 'edge16', 'firefox57', 'safari11'], budget: 1536 },
];

async function buildAsset({ name, loader, target }) {
  const source = await readFile(path.join(srcDir, name), 'utf8');
  const result = await esbuild.transform(source, {
    loader,
    target,
    minify: true,
    legalComments: 'none',
    sourcefile: `js/src/${name}`,
  });
  for (const warning of result.warnings) console.warn(`${name}: warning: ${warning.text}`);
  return Buffer.from(result.code, 'utf8');
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
      staleLines.push(`static/${asset.name} is stale: run node js/build.mjs`);
      failed = true;
    }
  } else {
    await mkdir(staticDir, { recursive: true });
    await writeFile(outFile, code);
  }
}

for (const line of staleLines) console.error(line);
process.exit(failed ? 1 : 0);

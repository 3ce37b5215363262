// Bundles web/src/{app,curation,sweep}.js into web/dist/ and copies the html and css beside them.
// Everything (p5 included) is bundled: the pages fetch nothing but the prtkl API at run time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const dist = join(here, 'dist');
const watch = process.argv.includes('--dev');

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

await build({
  entryPoints: ['app', 'curation', 'sweep'].map((n) => join(src, `${n}.js`)),
  outdir: dist,
  bundle: true,
  format: 'esm',
  target: ['es2020'],
  minify: !watch,
  sourcemap: watch ? 'inline' : false,
  legalComments: 'none',
  logLevel: 'warning',
});

for (const f of readdirSync(src)) {
  if (f.endsWith('.html') || f.endsWith('.css')) copyFileSync(join(src, f), join(dist, f));
}
console.log(`built ${readdirSync(dist).sort().join(' ')} in ${dist}`);

// Bundles web/src/{app,curation,sweep}.js into web/dist/ and copies the html and css beside them.
// Everything (p5 included) is bundled: the pages fetch nothing but the prtkl API at run time.
// The attributions go beside them, so the served page can show them (the footers link NOTICE.txt): the repository's
// LICENSE and NOTICE, each bundled npm package's own license file under licenses/, and bundled-packages.json, the
// packages esbuild actually put into the bundle (from its metafile), which tests/cli/test_cli_notice.cpp checks
// against NOTICE.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const dist = join(here, 'dist');
const watch = process.argv.includes('--dev');

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const result = await build({
  absWorkingDir: here,
  metafile: true,
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

// The npm packages in the bundle: every input under node_modules/NAME/ (the innermost one for nested packages).
const packageDirs = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = input.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//);
  if (m) packageDirs.add(m[1]);
}
const bundled = [];
mkdirSync(join(dist, 'licenses'), { recursive: true });
for (const dir of [...packageDirs].sort()) {
  const pkg = JSON.parse(readFileSync(join(here, dir, 'package.json'), 'utf8'));
  const licenseFile = readdirSync(join(here, dir)).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  if (!licenseFile) throw new Error(`${dir} has no license file to ship with the bundle`);
  const shipped = `licenses/${pkg.name.replace('/', '__')}.txt`;
  copyFileSync(join(here, dir, licenseFile), join(dist, shipped));
  bundled.push({ name: pkg.name, version: pkg.version, license: pkg.license, license_file: shipped });
}
writeFileSync(join(dist, 'bundled-packages.json'), JSON.stringify(bundled, null, 2) + '\n');
for (const f of ['LICENSE', 'NOTICE']) {
  const from = join(here, '..', f);
  if (!existsSync(from)) throw new Error(`${from} is missing: the page links it`);
  copyFileSync(from, join(dist, `${f}.txt`));
}
console.log(`built ${readdirSync(dist).sort().join(' ')} in ${dist}`);

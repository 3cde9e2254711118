#!/usr/bin/env bash
# Refreshes the playground's third-party files: installs the packages of
# package-lock.json with npm ci in a temporary directory (no install scripts
# run) and copies out, byte for byte, the browser bundles and stylesheets
# they publish, each package's LICENSE beside its files, FILES (what is
# embedded, from which package, under which licence) and
# THIRD-PARTY-LICENSES.txt (the licences of every package in the installed
# tree: graphiql's and the explorer's bundles carry code of their
# dependencies). It fails on a licence outside the list below.
#
#   bash server/playground/third_party/refresh.sh
#
# To move to other versions: edit the exact versions in package.json, run
# `npm install --package-lock-only --ignore-scripts` in this directory (its
# .npmrc keeps download addresses out of the lockfile), run this script, and
# try the playground (go test ./console/ runs it in Chromium).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp "$here/package.json" "$here/package-lock.json" "$here/.npmrc" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund)
modules="$work/node_modules"

rm -rf "$here/react" "$here/react-dom" "$here/graphiql" "$here/plugin-explorer"
mkdir -p "$here/react" "$here/react-dom" "$here/graphiql" "$here/plugin-explorer"
cp "$modules/react/umd/react.production.min.js" "$modules/react/LICENSE" "$here/react/"
cp "$modules/react-dom/umd/react-dom.production.min.js" "$modules/react-dom/LICENSE" "$here/react-dom/"
cp "$modules/graphiql/graphiql.min.js" "$modules/graphiql/graphiql.min.css" "$modules/graphiql/LICENSE" "$here/graphiql/"
cp "$modules/@graphiql/plugin-explorer/dist/index.umd.js" "$modules/@graphiql/plugin-explorer/dist/style.css" "$here/plugin-explorer/"
# @graphiql/plugin-explorer publishes no LICENSE file: its package.json says
# MIT, and it comes from graphiql's repository, whose LICENSE graphiql
# publishes. Its bundle includes graphiql-explorer, which has its own.
cp "$modules/graphiql/LICENSE" "$here/plugin-explorer/LICENSE"
cp "$modules/graphiql-explorer/LICENSE" "$here/plugin-explorer/LICENSE.graphiql-explorer"

MODULES="$modules" THIRD_PARTY="$here" node --input-type=module <<'EOF'
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const modules = process.env.MODULES;
const thirdParty = process.env.THIRD_PARTY;
// Licences that let us ship the code in the binary with its notices.
const allowed = new Set(['MIT', 'ISC', '0BSD', 'BSD-2-Clause', 'BSD-3-Clause', 'Apache-2.0', 'Python-2.0']);
const manifest = (dir) => JSON.parse(readFileSync(join(modules, dir, 'package.json'), 'utf8'));

// What is embedded: each third-party file and the package it came from.
const sources = {
  react: ['react', 'umd/react.production.min.js'],
  'react-dom': ['react-dom', 'umd/react-dom.production.min.js'],
  graphiql: ['graphiql', 'graphiql.min.js', 'graphiql.min.css'],
  'plugin-explorer': ['@graphiql/plugin-explorer', 'dist/index.umd.js', 'dist/style.css'],
};
const lines = ['# The files embedded under /playground/third_party/, written by refresh.sh.', '# file  package@version  licence  bytes  sha256', ''];
for (const [dir, [pkg, ...files]] of Object.entries(sources)) {
  const m = manifest(pkg);
  if (m.license !== 'MIT') throw new Error(`${pkg}@${m.version} is ${m.license}, not MIT: check it before shipping it`);
  for (const f of files) {
    const body = readFileSync(join(modules, pkg, f));
    const name = `${dir}/${f.split('/').pop()}`;
    lines.push(`${name}  ${pkg}@${m.version}/${f}  ${m.license}  ${body.length}  ${createHash('sha256').update(body).digest('hex')}`);
  }
}
writeFileSync(join(thirdParty, 'FILES'), lines.join('\n') + '\n');

// Every package of the installed tree, with its licence text.
const lock = JSON.parse(readFileSync(join(modules, '.package-lock.json'), 'utf8'));
const out = [
  "Licences of the packages the playground's third-party files come from, and of",
  'everything they depend on (graphiql\'s and @graphiql/plugin-explorer\'s',
  'bundles include code of their dependencies). Written by refresh.sh from the',
  'installed tree of package-lock.json.',
  '',
];
const refused = [];
const seen = new Map(); // a licence text already written, and whose it was
for (const path of Object.keys(lock.packages).filter((p) => p).sort()) {
  const dir = path.replace(/^node_modules\//, '');
  const m = manifest(dir);
  if (!allowed.has(m.license)) refused.push(`${m.name}@${m.version}: ${m.license}`);
  out.push('='.repeat(78), `${m.name}@${m.version} (${m.license})`, '');
  const texts = readdirSync(join(modules, dir)).filter((f) => /^(licen[cs]e|copying|notice)(\.(md|txt))?$/i.test(f)).sort();
  for (const f of texts) {
    // Many packages ship the same text (Apache-2.0 word for word): it is
    // written once and named again after that.
    const text = readFileSync(join(modules, dir, f), 'utf8').trimEnd();
    out.push(seen.has(text) ? `(${f}: the same text as ${seen.get(text)}'s above.)` : text, '');
    if (!seen.has(text)) seen.set(text, `${m.name}@${m.version}`);
  }
  if (texts.length === 0) out.push(`(${m.name} publishes no licence file; its package.json says ${m.license}.)`, '');
}
if (refused.length) throw new Error(`licences not on the list in refresh.sh: ${refused.join(', ')}`);
writeFileSync(join(thirdParty, 'THIRD-PARTY-LICENSES.txt'), out.join('\n'));
EOF
echo "refreshed the playground's third-party files; review them with git diff --stat -- \"$here\""

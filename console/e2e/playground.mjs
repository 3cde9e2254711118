// The playground (/playground) in a real browser with no internet:
// playwright-core drives Debian's Chromium against a running Switchboard
// server, and every request or WebSocket to another host is refused, so the
// page works only if the server serves all of it. console/playground_e2e_test.go
// starts the server and runs this script with:
//
//   SWITCHBOARD_URL           the server, e.g. http://127.0.0.1:PORT
//   SWITCHBOARD_TOKEN_ADMIN   Ada Admin (may introspect the schema)
//   SWITCHBOARD_TOKEN_BEN     Ben Baker (agent), whose presence changes
//   SWITCHBOARD_CHROMIUM      the browser (default /usr/bin/chromium)
//   SWITCHBOARD_SCREENSHOTS   a directory for screenshots (default: a new temp dir)
//
// Every wait is on something the page shows, with a generous timeout.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const base = env('SWITCHBOARD_URL').replace(/\/$/, '');
const origin = new URL(base).origin;
const admin = env('SWITCHBOARD_TOKEN_ADMIN');
const ben = env('SWITCHBOARD_TOKEN_BEN');
const shots = process.env.SWITCHBOARD_SCREENSHOTS || mkdtempSync(join(tmpdir(), 'switchboard-playground-'));
const TIMEOUT = 20_000;

let stepNo = 0;
const step = (what) => console.log(`${String(++stepNo).padStart(2)}. ${what}`);
const fail = (msg) => {
  throw new Error(msg);
};

// gql calls the API directly, as the test's own hands.
async function gql(token, query, variables = {}) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) fail(`${query} => ${JSON.stringify(body.errors)}`);
  return body.data;
}

// The flags this closed network needs, as in e2e.mjs.
const browser = await chromium.launch({
  executablePath: env('SWITCHBOARD_CHROMIUM', '/usr/bin/chromium'),
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

const problems = [];
// While a GraphiQL dialog is open, its scroll lock (react-remove-scroll-bar,
// inside graphiql's bundle) adds a <style> element to the page, which the
// policy refuses, as it must: styles come from the server's files only. The
// page never scrolls, so the lock has nothing to do; that one refusal is
// expected then, and nothing else.
let dialogOpen = false;
const dialogStyleRefused = (msg) => dialogOpen && msg.text().startsWith('Applying inline style violates')
  && msg.location().url?.endsWith('/playground/third_party/graphiql/graphiql.min.js');
const blocked = [];
const introspections = []; // the Authorization header of each schema request

try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: 'en-GB', timezoneId: 'UTC' });
  context.setDefaultTimeout(TIMEOUT);
  // No internet: anything not to the server's origin is refused, as a
  // machine without a network would.
  await context.route(() => true, (route) => {
    const url = new URL(route.request().url());
    if (url.origin === origin || !/^https?:$/.test(url.protocol)) return route.continue();
    blocked.push(url.href);
    return route.abort('internetdisconnected');
  });
  await context.routeWebSocket((url) => url.origin !== origin.replace(/^http/, 'ws'), (ws) => {
    blocked.push(ws.url());
    ws.close({ code: 1011, reason: 'test: no internet' });
  });

  const page = await context.newPage();
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    // A Content-Security-Policy refusal is logged as an error, too.
    if (msg.type() === 'error' && !dialogStyleRefused(msg)) problems.push(`console error: ${msg.text()} (${msg.location().url})`);
  });
  page.on('request', (req) => {
    const body = req.postData() || '';
    if (req.method() === 'POST' && new URL(req.url()).pathname === '/graphql' && body.includes('__schema')) {
      introspections.push(req.headers().authorization ?? '(none)');
    }
  });

  const queryEditor = page.locator('.graphiql-query-editor .CodeMirror');
  const headersEditor = page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror');
  const response = page.locator('.graphiql-response .CodeMirror-code');
  const run = page.locator('.graphiql-execute-button');
  // type replaces an editor's text, as pasting would (insertText sends no
  // key presses, so CodeMirror closes no brackets of its own).
  const type = async (editor, text) => {
    await editor.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.insertText(text);
  };
  // operation puts a named operation in the query editor and waits until
  // GraphiQL has read it (the tab takes its name), as a person would see
  // before pressing run: until then GraphiQL would run the previous one.
  const operation = async (name, text) => {
    await type(queryEditor, text);
    await page.locator('.graphiql-tab-active', { hasText: name }).waitFor();
  };

  step('GraphiQL renders from the server alone, with the Headers tab open and no schema request yet');
  await page.goto(`${base}/playground`);
  await queryEditor.waitFor();
  await headersEditor.getByText('Authorization').waitFor();
  if (introspections.length) fail(`the schema was requested without a token: ${introspections}`);
  await page.screenshot({ path: join(shots, 'playground-1-loaded.png') });

  step('the Authorization header goes into the Headers tab; the schema loads with it');
  const schema = page.waitForResponse((r) => new URL(r.url()).pathname === '/graphql' && (r.request().postData() || '').includes('__schema'));
  await type(headersEditor, `{"Authorization": "Bearer ${admin}"}`);
  if ((await schema).status() !== 200) fail(`the schema request: HTTP ${(await schema).status()}`);

  step('a query runs with the header');
  await operation('Who', 'query Who { me { name role } }');
  await run.click();
  await response.getByText('"Ada Admin"').waitFor();
  await response.getByText('"ADMIN"').waitFor();

  step('Docs shows the schema, not an error');
  await page.getByRole('button', { name: /Documentation Explorer/ }).click();
  const docs = page.locator('.graphiql-doc-explorer');
  await docs.getByText('Root Types').waitFor();
  await docs.getByRole('link', { name: 'Query' }).click();
  await docs.getByText('queueCounts').first().waitFor();
  if (await page.locator('.graphiql-doc-explorer-error').count()) {
    fail(`Docs: ${await page.locator('.graphiql-doc-explorer-error').innerText()}`);
  }
  if (introspections.some((h) => h !== `Bearer ${admin}`)) fail(`a schema request without the header: ${introspections}`);
  await page.screenshot({ path: join(shots, 'playground-2-docs.png') });

  step('the explorer plugin lists the schema\'s fields');
  await page.getByRole('button', { name: /GraphiQL Explorer/ }).click();
  await page.locator('.graphiql-explorer-root').getByText('queueCounts').first().waitFor();
  await page.screenshot({ path: join(shots, 'playground-3-explorer.png') });

  step('a subscription runs over the server\'s WebSocket with the header, and shows an event');
  await operation('Presence', 'subscription Presence { presenceChanged { name presence } }');
  await run.click();
  // The subscription is live once the server has it: until Ben's change
  // shows, change it again (each change is an event).
  const seen = response.getByText('"Ben Baker"');
  for (let i = 0; !(await seen.count()); i++) {
    if (i === 40) fail('no presenceChanged event in the response');
    await gql(ben, 'mutation($p: Presence!) { setPresence(presence: $p) { agent { id } } }', { p: i % 2 ? 'ONLINE' : 'AWAY' });
    await page.waitForTimeout(250);
  }
  await page.screenshot({ path: join(shots, 'playground-4-subscription.png') });
  await run.click(); // stops it

  step('the settings offer to persist headers, and it is off');
  dialogOpen = true;
  await page.getByRole('button', { name: 'Open settings dialog' }).click();
  await page.locator('#disable-persist-headers.active').waitFor();
  await page.keyboard.press('Escape');
  await page.locator('#disable-persist-headers').waitFor({ state: 'detached' });
  dialogOpen = false;

  step('nothing of the header is kept in the browser\'s storage');
  const stored = await page.evaluate(() => Object.entries(localStorage).concat(Object.entries(sessionStorage)));
  const leaks = stored.filter(([, v]) => v.includes(admin)).map(([k]) => k);
  if (leaks.length) fail(`the token is stored under ${leaks.join(', ')}`);
  if (!stored.length) fail('nothing in localStorage: this check no longer sees what GraphiQL keeps');

  step('with "Persist headers" turned on, a reload keeps the header and loads the schema with it');
  dialogOpen = true;
  await page.getByRole('button', { name: 'Open settings dialog' }).click();
  await page.locator('#enable-persist-headers').click();
  await page.locator('#enable-persist-headers.active').waitFor();
  await page.keyboard.press('Escape');
  await page.locator('#enable-persist-headers').waitFor({ state: 'detached' });
  dialogOpen = false;
  // GraphiQL writes the tab's state a moment after a change.
  await page.waitForFunction((token) => (localStorage.getItem('graphiql:headers') || '').includes(token), admin);
  const before = introspections.length;
  const reloaded = page.waitForResponse((r) => new URL(r.url()).pathname === '/graphql' && (r.request().postData() || '').includes('__schema'));
  await page.reload();
  if ((await reloaded).status() !== 200) fail(`the schema request after the reload: HTTP ${(await reloaded).status()}`);
  await page.getByRole('button', { name: /Documentation Explorer/ }).click();
  await page.locator('.graphiql-doc-explorer').getByText('Root Types').waitFor();
  if (introspections.slice(before).some((h) => h !== `Bearer ${admin}`)) fail(`a schema request without the header: ${introspections}`);

  if (blocked.length) fail(`the playground tried to reach other hosts:\n  ${blocked.join('\n  ')}`);
  if (problems.length) fail(`the page reported:\n  ${problems.join('\n  ')}`);
  console.log(`ok: the playground works offline in ${browser.version()}; screenshots in ${shots}`);
} catch (err) {
  console.error(`FAILED at step ${stepNo}: ${err.stack || err}`);
  if (blocked.length) console.error(`refused requests to other hosts:\n  ${blocked.join('\n  ')}`);
  if (problems.length) console.error(`the page reported:\n  ${problems.join('\n  ')}`);
  for (const context of browser.contexts()) {
    for (const [i, page] of context.pages().entries()) {
      await page.screenshot({ path: join(shots, `playground-failure-${i}.png`) }).catch(() => {});
    }
  }
  console.error(`screenshots in ${shots}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}

// The agent console in a real browser: playwright-core drives Debian's
// Chromium against a running Switchboard server. console/e2e_test.go starts
// the server, seeds a workspace and runs this script with:
//
//   SWITCHBOARD_URL                 the server, e.g. http://127.0.0.1:PORT
//   SWITCHBOARD_TOKEN_ADMIN         Ada Admin
//   SWITCHBOARD_TOKEN_BEN           Ben Baker (agent)
//   SWITCHBOARD_TOKEN_CLEO          Cleo Cruz (agent)
//   SWITCHBOARD_TOKEN_DEV           Dev Patel (agent)
//   SWITCHBOARD_TOKEN_INTEGRATION   a channel connector, to ingest messages
//   SWITCHBOARD_CHANNEL_ID          the channel it ingests into
//   SWITCHBOARD_CHROMIUM            the browser (default /usr/bin/chromium)
//   SWITCHBOARD_SCREENSHOTS         a directory for screenshots (default: a new temp dir)
//
// The workspace starts with Grace Hopper (New, unowned) and Linus T. (New,
// Cleo's). Every wait is on something the page shows, with a generous
// timeout; nothing sleeps.
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
const tokens = {
  admin: env('SWITCHBOARD_TOKEN_ADMIN'),
  ben: env('SWITCHBOARD_TOKEN_BEN'),
  cleo: env('SWITCHBOARD_TOKEN_CLEO'),
  dev: env('SWITCHBOARD_TOKEN_DEV'),
  integration: env('SWITCHBOARD_TOKEN_INTEGRATION'),
};
const channelId = env('SWITCHBOARD_CHANNEL_ID');
const shots = process.env.SWITCHBOARD_SCREENSHOTS || mkdtempSync(join(tmpdir(), 'switchboard-console-'));
const TIMEOUT = 20_000;
const CONFLICT = 'Someone else changed this conversation first; it has been reloaded.';

let stepNo = 0;
const step = (what) => console.log(`${String(++stepNo).padStart(2)}. ${what}`);
const fail = (msg) => {
  throw new Error(msg);
};

// gql calls the API directly, as the test's own hands (ingesting, checking).
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

let inbound = 0;
const ingest = (contact, name, text) => gql(tokens.integration,
  `mutation($in: InboundInput!) { ingestInbound(input: $in) { conversationId } }`,
  { in: { channelId, contactExternalId: contact, contactName: name, externalMessageId: `e2e-${++inbound}`, text } });

// Chromium with the flags this closed network needs: without the
// background-networking ones it tries to reach services that refuse it.
// launch() gives it a new, empty --user-data-dir of its own (a temp dir
// that playwright makes and removes; it refuses the flag from us).
const browser = await chromium.launch({
  executablePath: env('SWITCHBOARD_CHROMIUM', '/usr/bin/chromium'),
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

const problems = [];
let refusalExpected = false; // the step that signs in with a bad token

// person opens a browser context (its own storage) with one page.
async function person(name, { hold } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 820 }, locale: 'en-GB', timezoneId: 'UTC' });
  context.setDefaultTimeout(TIMEOUT);
  if (hold) {
    // Ben's WebSocket goes through a relay the test controls: it can hold
    // the server's messages (a view that has not heard of a change yet) and
    // cut the connection (a network that drops).
    await context.routeWebSocket(/\/graphql$/, (ws) => {
      if (hold.offline) {
        ws.close({ code: 1011, reason: 'test: network down' });
        return;
      }
      const server = ws.connectToServer();
      hold.sockets.add(ws);
      ws.onMessage((m) => {
        hold.watch?.(m);
        server.send(m);
      });
      server.onMessage((m) => (hold.holding ? hold.held.push([ws, m]) : ws.send(m)));
      ws.onClose((code, reason) => {
        hold.sockets.delete(ws);
        server.close({ code, reason });
      });
      server.onClose((code, reason) => {
        hold.sockets.delete(ws);
        ws.close({ code, reason });
      });
    });
  }
  const page = await context.newPage();
  page.on('pageerror', (err) => problems.push(`${name}: page error: ${err.message}`));
  page.on('console', (msg) => {
    // Expected: the dropped socket logs its failure, and the sign-in page's
    // look for dev tokens is a 404 on a server that has none.
    const expected = /WebSocket connection to .* failed/.test(msg.text())
      || msg.location().url?.endsWith('/console/dev-tokens')
      || (refusalExpected && / 401 /.test(msg.text()));
    if (msg.type() === 'error' && !expected) problems.push(`${name}: console error: ${msg.text()} (${msg.location().url})`);
  });
  page.on('request', (req) => {
    if (new URL(req.url()).origin !== origin) problems.push(`${name}: request to another host: ${req.url()}`);
  });
  page.on('websocket', (ws) => {
    if (!ws.url().startsWith(origin.replace(/^http/, 'ws'))) problems.push(`${name}: socket to another host: ${ws.url()}`);
  });
  return { name, context, page };
}

// signIn pastes a token on the sign-in page, as a person would.
async function signIn({ page }, token) {
  await page.goto(`${base}/`);
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await live(page);
}

const live = (page) => page.locator('body[data-live="true"]').waitFor();
const row = (page, text) => page.locator('.rows .row-item', { hasText: text });
const tabCount = (page, status, n) => page.locator(`.tab[data-status="${status}"] .count`, { hasText: new RegExp(`^${n}$`) }).waitFor();
const gone = (locator) => locator.waitFor({ state: 'detached' });

async function openFilter(page) {
  const button = page.locator('.filter-button');
  if ((await button.getAttribute('aria-expanded')) !== 'true') await button.click();
}

async function closeFilter(page) {
  await page.keyboard.press('Escape');
  await page.locator('.filter-button[aria-expanded="false"]').waitFor();
}

try {
  const holdBen = { holding: false, held: [], offline: false, sockets: new Set() };
  const ben = await person('Ben', { hold: holdBen });
  const cleo = await person('Cleo');

  // The counts come over the socket (queueCountsChanged): Ben's page never
  // asks for them with a query, not at sign-in, not after a change.
  const countQueries = [];
  ben.page.on('request', (req) => {
    const body = req.postData() || '';
    if (/queueCounts\b/.test(body) || /queueCounts/.test(decodeURIComponent(req.url()))) countQueries.push(body.slice(0, 60) || req.url());
  });
  const noCountQueries = (when) => {
    if (countQueries.length > 0) fail(`${when}: Ben's page queried the counts: ${countQueries.join('; ')}`);
  };

  step('Ben signs in by pasting his token; sees the New tab count and its rows');
  await signIn(ben, tokens.ben);
  await tabCount(ben.page, 'NEW', 2);
  await row(ben.page, 'Grace Hopper').waitFor();
  await row(ben.page, 'Linus T.').getByText('Waiting on Cleo Cruz').waitFor();
  await row(ben.page, 'Grace Hopper').getByText(/waiting (<1|\d+) min/).waitFor();
  await tabCount(ben.page, 'PENDING', 0);
  const spans = await ben.page.evaluate(async () => {
    const { span } = await import('/js/format.js');
    return [0, 5, 125, 26 * 60].map((min) => span(min * 60000));
  });
  if (spans.join('|') !== '<1 min|5 min|2 h 5 min|1 day 2 h') fail(`durations: ${spans}`);
  await ben.page.screenshot({ path: join(shots, '1-ben-signed-in.png') });

  step('Cleo signs in too');
  await signIn(cleo, tokens.cleo);

  step('an inbound message appears live in Ben\'s queue, and the count follows (pushed: no reload, no query)');
  await ben.page.evaluate(() => { window.notReloaded = true; });
  const mariaId = (await ingest('maria@example.org', 'Maria Garcia', 'My parcel never arrived.')).ingestInbound.conversationId;
  await row(ben.page, 'Maria Garcia').getByText('My parcel never arrived.').waitFor();
  await row(ben.page, 'Maria Garcia').getByText('Unowned').waitFor();
  await tabCount(ben.page, 'NEW', 3);
  if (!(await ben.page.evaluate(() => window.notReloaded))) fail('Ben\'s page reloaded');
  noCountQueries('after an inbound message');

  step('Cleo assigns it to Ben with the owner drop-down; Ben\'s row says "Waiting on Ben" live');
  await row(cleo.page, 'Maria Garcia').click();
  await cleo.page.locator('#conv-title', { hasText: 'Maria Garcia' }).waitFor();
  await cleo.page.locator('.owner-button').click();
  // Ben is online: his dot in Cleo's drop-down is green.
  await cleo.page.getByRole('menuitemradio', { name: /Ben Baker/ }).locator('.dot-online').waitFor();
  await cleo.page.getByRole('menuitemradio', { name: /Ben Baker/ }).click();
  await cleo.page.getByText('Assigned to Ben Baker.').waitFor();
  await row(ben.page, 'Maria Garcia').getByText('Waiting on Ben Baker').waitFor();
  await row(ben.page, 'Maria Garcia').locator('.dot-online').waitFor();

  step('Ben replies with "then move to Pending": the row leaves New, the Pending count follows');
  await row(ben.page, 'Maria Garcia').click();
  await ben.page.locator('#conv-title', { hasText: 'Maria Garcia' }).waitFor();
  await ben.page.locator('details.history summary').click();
  await ben.page.locator('.history-list').getByText('by Cleo Cruz · assigned by hand').waitFor();
  await ben.page.getByLabel('Reply to Maria Garcia').fill('So sorry! A new parcel ships today.');
  await ben.page.getByRole('button', { name: 'Send and move to Pending' }).click();
  await ben.page.getByText('Sent, and moved to Pending.').waitFor();
  await gone(row(ben.page, 'Maria Garcia'));
  await tabCount(ben.page, 'NEW', 2);
  await tabCount(ben.page, 'PENDING', 1);
  noCountQueries('after a reply that moved it');
  await ben.page.locator('.msg-outbound', { hasText: 'A new parcel ships today.' }).waitFor();
  await ben.page.locator('.conversation[data-status="PENDING"]').waitFor();
  // Cleo's queue and open conversation follow too.
  await gone(row(cleo.page, 'Maria Garcia'));
  await cleo.page.locator('.conversation[data-status="PENDING"]').waitFor();
  await cleo.page.locator('.conv-owner', { hasText: 'Owned by Ben Baker' }).waitFor();

  step('the reply goes out: "Sending…" until the connector reports, then "Failed: reason", then "Sent", live on both pages');
  const reply = ben.page.locator('.msg-outbound', { hasText: 'A new parcel ships today.' });
  await reply.locator('.msg-delivery', { hasText: 'Sending…' }).waitFor();
  const last = await gql(tokens.admin, `query($id: ID!) { conversation(id: $id) { messages(last: 1) { edges { node { id } } } } }`, { id: mariaId });
  const replyId = last.conversation.messages.edges[0].node.id;
  const report = (input) => gql(tokens.integration,
    `mutation($in: ReportDeliveryInput!) { reportDelivery(input: $in) { message { id } } }`, { in: { messageId: replyId, ...input } });
  await report({ status: 'FAILED', error: 'mailbox full' });
  await reply.locator('.delivery-failed', { hasText: 'Failed: mailbox full' }).waitFor();
  await report({ status: 'SENT', externalMessageId: 'smtp-1' });
  await reply.locator('.msg-delivery', { hasText: /^Sent$/ }).waitFor();
  await cleo.page.locator('.msg-outbound', { hasText: 'A new parcel ships today.' }).locator('.msg-delivery', { hasText: /^Sent$/ }).waitFor();

  step('a conflict: Ben acts on a stale version after Cleo changed it, and is told in words');
  holdBen.holding = true; // Ben's page does not hear of Cleo's change yet
  await cleo.page.getByRole('button', { name: 'Move to New', exact: true }).click();
  await cleo.page.locator('.conversation[data-status="NEW"]').waitFor();
  await ben.page.locator('.conversation[data-status="PENDING"]').waitFor(); // still the old state
  await ben.page.getByRole('button', { name: 'Resolve', exact: true }).click();
  await ben.page.getByRole('alert').filter({ hasText: CONFLICT }).waitFor();
  await ben.page.locator('.conversation[data-status="NEW"]').waitFor(); // reloaded
  if (await ben.page.getByText(/"errors"|extensions|CONFLICT/).count()) fail('raw error shown to Ben');
  holdBen.holding = false;
  for (const [ws, m] of holdBen.held.splice(0)) ws.send(m);
  await row(ben.page, 'Maria Garcia').waitFor();
  await tabCount(ben.page, 'NEW', 3);
  await tabCount(ben.page, 'PENDING', 0);

  step('presence: Cleo sets Away; Ben\'s filter menu shows her orange dot');
  await openFilter(ben.page);
  await ben.page.locator('label[for="f-agent-cleo"] .dot-online').waitFor();
  await cleo.page.getByRole('button', { name: 'Away', exact: true }).click();
  await cleo.page.locator('.segmented [aria-pressed="true"]', { hasText: 'Away' }).waitFor();
  await ben.page.locator('label[for="f-agent-cleo"] .dot-away').waitFor();
  await ben.page.locator('label[for="f-agent-dev"] .dot-offline').waitFor();

  step('the filter: Owned by Cleo shows her conversation only; no option shows everything');
  await ben.page.getByLabel('Cleo Cruz').check();
  await gone(row(ben.page, 'Grace Hopper'));
  await row(ben.page, 'Linus T.').waitFor();
  await tabCount(ben.page, 'NEW', 1);
  await ben.page.getByLabel('Unowned').check();
  await row(ben.page, 'Grace Hopper').waitFor();
  await tabCount(ben.page, 'NEW', 2);
  await ben.page.getByRole('button', { name: 'Show everything' }).click();
  await tabCount(ben.page, 'NEW', 3);
  await closeFilter(ben.page);

  step('a dropped socket reconnects with its last positions and catches up with what it missed, refetching no view');
  const refetches = [];
  const countRefetch = (req) => {
    const body = req.postData() || '';
    if (/query (Queue|Agents)\b/.test(body)) refetches.push(body.slice(0, 40));
  };
  ben.page.on('request', countRefetch);
  const resumed = [];
  holdBen.offline = true;
  for (const ws of holdBen.sockets) ws.close({ code: 1011, reason: 'test: network down' });
  await ben.page.locator('.connection[data-status="reconnecting"]').waitFor();
  await ingest('noor@example.org', 'Noor Khan', 'Can I change my delivery address?');
  holdBen.watch = (m) => {
    const msg = JSON.parse(m);
    if (msg.type === 'subscribe' && msg.payload?.variables?.since) resumed.push(msg.payload.variables.since);
  };
  holdBen.offline = false;
  await live(ben.page);
  await row(ben.page, 'Noor Khan').waitFor();
  await tabCount(ben.page, 'NEW', 4);
  ben.page.off('request', countRefetch);
  holdBen.watch = null;
  if (resumed.length === 0) fail('the console reconnected without a position');
  if (refetches.length > 0) fail(`a resumed view refetched: ${refetches.join('; ')}`);
  noCountQueries('after a reconnect');

  step('paging: a reload keeps the sign-in and shows 25 rows, "Show more" the rest');
  for (let i = 1; i <= 24; i++) await ingest(`bulk-${i}@example.org`, `Customer ${String(i).padStart(2, '0')}`, 'Hello?');
  await tabCount(ben.page, 'NEW', 28);
  await ben.page.reload();
  await live(ben.page);
  const rows = ben.page.locator('.rows .row-item');
  await rows.nth(24).waitFor();
  if ((await rows.count()) !== 25) fail(`first page: ${await rows.count()} rows`);
  await ben.page.getByRole('button', { name: 'Show more' }).click();
  await rows.nth(27).waitFor();
  await ben.page.getByRole('button', { name: 'Show more' }).waitFor({ state: 'hidden' });
  if ((await rows.count()) !== 28) fail(`after Show more: ${await rows.count()} rows`);

  step('the admin page: remove ownership on logout, and an auto-ownership switch');
  const ada = await person('Ada');
  await signIn(ada, tokens.admin);
  await ada.page.getByRole('link', { name: 'Admin' }).click();
  const removeSwitch = ada.page.getByRole('switch', { name: 'Remove their ownership of New conversations' });
  if (await removeSwitch.isChecked()) fail('remove ownership on logout should start off');
  await removeSwitch.click();
  await ada.page.getByText('Ownership is now removed when an agent logs out.').waitFor();
  await ada.page.getByLabel('Grace period (seconds)').fill('45');
  await ada.page.getByRole('button', { name: 'Save', exact: true }).click();
  await ada.page.getByText('Grace period: 45 s.').waitFor();
  await ada.page.getByRole('switch', { name: 'Auto-ownership for Cleo Cruz on Email' }).click();
  await ada.page.getByText('Auto-ownership on for Cleo Cruz on Email.').waitFor();
  const admin = await gql(tokens.admin, '{ settings { removeOwnershipOnLogout logoutGraceSeconds } channels { name autoOwnershipAgents { id } } }');
  if (!admin.settings.removeOwnershipOnLogout || admin.settings.logoutGraceSeconds !== 45) fail(`settings: ${JSON.stringify(admin.settings)}`);
  if (!admin.channels[0].autoOwnershipAgents.some((a) => a.id === 'cleo')) fail(`channels: ${JSON.stringify(admin.channels)}`);
  await ada.page.reload();
  await ada.page.getByRole('switch', { name: 'Auto-ownership for Cleo Cruz on Email' }).and(ada.page.locator(':checked')).waitFor();
  // Each channel says how many replies wait for its connector.
  await ada.page.locator('.deliveries li', { hasText: /^Email: / }).waitFor();
  await ada.page.screenshot({ path: join(shots, '2-admin.png') });

  step('missed assignments: Cleo assigns to Dev while he is offline; he signs in, sees it and acknowledges it');
  await row(cleo.page, 'Grace Hopper').click();
  await cleo.page.locator('#conv-title', { hasText: 'Grace Hopper' }).waitFor();
  // With the keyboard only: the menu opens on the current owner (Unowned),
  // and the arrows walk Ada, Ben, Cleo, Dev.
  await cleo.page.locator('.owner-button').focus();
  await cleo.page.keyboard.press('Enter');
  await cleo.page.getByRole('menuitemradio', { name: 'Unowned' }).and(cleo.page.locator(':focus')).waitFor();
  await cleo.page.getByRole('menuitemradio', { name: /Dev Patel/ }).locator('.dot-offline').waitFor();
  for (let i = 0; i < 4; i++) await cleo.page.keyboard.press('ArrowDown');
  await cleo.page.getByRole('menuitemradio', { name: /Dev Patel/ }).and(cleo.page.locator(':focus')).waitFor();
  await cleo.page.keyboard.press('Enter');
  await cleo.page.locator('.conv-owner', { hasText: 'Waiting on Dev Patel' }).waitFor();
  const dev = await person('Dev');
  await signIn(dev, tokens.dev);
  const missed = dev.page.getByRole('region', { name: 'While you were offline, a conversation was assigned to you' });
  await missed.getByRole('link', { name: 'Grace Hopper' }).waitFor();
  await missed.getByText('assigned by Cleo Cruz').waitFor();
  await missed.getByRole('button', { name: 'Got it' }).click();
  await dev.page.getByText('Acknowledged.').waitFor();
  await gone(dev.page.locator('.missed'));
  const left = await gql(tokens.dev, '{ missedAssignments { conversation { id } } }');
  if (left.missedAssignments.length !== 0) fail(`still missed: ${JSON.stringify(left)}`);
  await row(ben.page, 'Grace Hopper').getByText('Waiting on Dev Patel').waitFor();

  step('Dev logs out: back to sign-in, and his dot turns grey for Ben');
  await openFilter(ben.page);
  await ben.page.locator('label[for="f-agent-dev"] .dot-online').waitFor();
  await dev.page.getByRole('button', { name: 'Log out' }).click();
  await dev.page.getByText('You are logged out.').waitFor();
  await dev.page.getByLabel('Access token').waitFor();
  await ben.page.locator('label[for="f-agent-dev"] .dot-offline').waitFor();
  await closeFilter(ben.page);

  step('errors in words: a bad token is refused on the sign-in page');
  refusalExpected = true;
  await dev.page.getByLabel('Access token').fill('not-a-token');
  await dev.page.getByRole('button', { name: 'Sign in' }).click();
  await dev.page.getByRole('alert').filter({ hasText: 'This token was not accepted' }).waitFor();
  refusalExpected = false;

  step('history: the newest change first, live; after a reload the newest 20, and "Show older changes" back to the first');
  const { queue } = await gql(tokens.ben, '{ queue(status: NEW, first: 100) { edges { node { id contact { name } } } } }');
  const maria = queue.edges.map((e) => e.node).find((c) => c.contact.name === 'Maria Garcia');
  await row(ben.page, 'Maria Garcia').click();
  await ben.page.locator('#conv-title', { hasText: 'Maria Garcia' }).waitFor();
  const openHistory = async () => {
    const details = ben.page.locator('details.history');
    if (!(await details.evaluate((d) => d.open))) await details.locator('summary').click();
  };
  await openHistory();
  // Ada passes it between Cleo and Ben 25 times: with Cleo's first
  // assignment that is 26 changes, more than the console's page of 20,
  // and the newest is Ben to Cleo.
  let version = 0;
  for (let i = 0; i < 25; i++) {
    const d = await gql(tokens.admin, 'mutation($in: SetOwnerInput!) { setOwner(input: $in) { conversation { version } } }',
      { in: { conversationId: maria.id, ownerId: i % 2 === 0 ? 'cleo' : 'ben' } });
    version = d.setOwner.conversation.version;
  }
  const changes = ben.page.locator('.history-list li');
  const versions = () => changes.evaluateAll((lis) => lis.map((li) => Number(li.dataset.version)));
  const newestFirst = (vs) => vs.every((v, i) => i === 0 || v < vs[i - 1]);
  await ben.page.locator(`.conversation[data-version="${version}"]`).waitFor();
  await changes.first().and(ben.page.locator(`[data-version="${version}"]`)).waitFor();
  await changes.first().getByText('by Ada Admin · assigned by hand').waitFor();
  if (!/Ben Baker.*Cleo Cruz/.test(await changes.first().locator('.change').textContent())) fail(`newest change: ${await changes.first().textContent()}`);
  if (!newestFirst(await versions())) fail(`live history not newest first: ${await versions()}`);
  await ben.page.reload();
  await live(ben.page);
  await ben.page.locator(`.conversation[data-version="${version}"]`).waitFor();
  await openHistory();
  await ben.page.locator('details.history summary', { hasText: 'Ownership history (20+)' }).waitFor();
  if ((await changes.count()) !== 20) fail(`after a reload: ${await changes.count()} changes shown`);
  const older = ben.page.getByRole('button', { name: 'Show older changes' });
  await older.scrollIntoViewIfNeeded();
  await ben.page.locator('details.history').screenshot({ path: join(shots, '6-history-newest.png') });
  await older.click();
  await changes.nth(25).waitFor();
  await older.waitFor({ state: 'hidden' });
  await ben.page.locator('details.history summary', { hasText: /^Ownership history \(26\)$/ }).waitFor();
  const all = await versions();
  if (all.length !== 26 || !newestFirst(all) || all[0] !== version) fail(`the whole history: ${all}`);
  await changes.last().getByText('by Cleo Cruz · assigned by hand').waitFor();

  step('who else is here: Ben sees Cleo viewing, then typing; Ben replies first, and Cleo\'s send says so in words and sends anyway');
  await row(cleo.page, 'Noor Khan').click();
  await cleo.page.locator('#conv-title', { hasText: 'Noor Khan' }).waitFor();
  await row(ben.page, 'Noor Khan').click();
  await ben.page.locator('#conv-title', { hasText: 'Noor Khan' }).waitFor();
  await ben.page.locator('.activity', { hasText: /^Cleo Cruz is viewing$/ }).waitFor();
  await cleo.page.locator('.activity', { hasText: /^Ben Baker is viewing$/ }).waitFor();
  await cleo.page.getByLabel('Reply to Noor Khan').fill('Yes: send me the new address and I will update it.');
  await ben.page.locator('.activity', { hasText: /^Cleo Cruz is typing…$/ }).waitFor();
  await ben.page.screenshot({ path: join(shots, '7-ben-sees-cleo-typing.png') });
  await ben.page.getByLabel('Reply to Noor Khan').fill('Done: your parcel now goes to the new address.');
  await ben.page.getByRole('button', { name: 'Send', exact: true }).click();
  await ben.page.locator('.msg-outbound', { hasText: 'your parcel now goes to the new address' }).waitFor();
  await cleo.page.locator('.msg-outbound', { hasText: 'your parcel now goes to the new address' }).waitFor();
  await cleo.page.getByRole('button', { name: 'Send', exact: true }).click();
  const raced = cleo.page.getByRole('alertdialog', { name: 'New messages while you were writing' });
  await raced.getByText('Ben Baker wrote while you were writing:').waitFor();
  await raced.getByText('Done: your parcel now goes to the new address.').waitFor();
  await raced.getByText('Send your reply anyway?').waitFor();
  if (await cleo.page.locator('.msg-outbound', { hasText: 'I will update it' }).count()) fail('the raced reply was sent without asking');
  if (await cleo.page.getByText(/"errors"|extensions|CONFLICT/).count()) fail('raw error shown to Cleo');
  await cleo.page.screenshot({ path: join(shots, '8-cleo-raced.png') });
  await raced.getByRole('button', { name: 'Send anyway' }).click();
  await cleo.page.locator('.msg-outbound', { hasText: 'I will update it' }).waitFor();
  await ben.page.locator('.msg-outbound', { hasText: 'I will update it' }).waitFor();
  await raced.waitFor({ state: 'hidden' });
  // Her reply ended her typing: Ben sees her viewing again.
  await ben.page.locator('.activity', { hasText: /^Cleo Cruz is viewing$/ }).waitFor();
  const sent = await gql(tokens.ben, '{ queue(status: NEW, first: 100) { edges { node { contact { name } messages(last: 3) { edges { node { text author { id } } } } } } } }');
  const noor = sent.queue.edges.map((e) => e.node).find((c) => c.contact.name === 'Noor Khan');
  if (noor.messages.edges.map((e) => e.node.author?.id || 'contact').join(',') !== 'contact,ben,cleo') fail(`Noor's messages: ${JSON.stringify(noor.messages)}`);

  step('routing: an agent sees no admin controls, only everyone\'s load beside their dot');
  if (await cleo.page.getByRole('link', { name: 'Admin' }).count()) fail('Cleo sees the Admin link');
  await cleo.page.goto(`${base}/#/admin`);
  await live(cleo.page);
  await cleo.page.getByText('Only admins can change settings and channels.').waitFor();
  for (const control of ['#routing-mode', '#default-capacity', '.routing-agents', '.agent-controls']) {
    if (await cleo.page.locator(control).count()) fail(`Cleo sees the admin control ${control}`);
  }
  await cleo.page.getByRole('link', { name: 'Inbox' }).click();
  await openFilter(cleo.page);
  const benLoad = cleo.page.locator('label[for="f-agent-ben"] .load');
  await benLoad.waitFor();
  const loadBefore = Number(await benLoad.getAttribute('data-load'));

  step('routing: Ada adds a Chat channel and names Ben and Cleo its routing agents');
  await ada.page.getByRole('link', { name: 'Admin' }).click();
  await ada.page.getByLabel('New channel').fill('Chat');
  await ada.page.getByRole('button', { name: 'Add channel' }).click();
  await ada.page.getByText('Channel Chat created.').waitFor();
  for (const name of ['Ben Baker', 'Cleo Cruz']) {
    await ada.page.getByRole('switch', { name: `Routing for ${name} on Chat` }).click();
    await ada.page.getByText(`Routing on for ${name} on Chat.`).waitFor();
  }
  const chat = (await gql(tokens.admin, '{ channels { id name routingAgents { id } } }')).channels.find((c) => c.name === 'Chat');
  if (chat.routingAgents.map((a) => a.id).sort().join(',') !== 'ben,cleo') fail(`Chat's routing agents: ${JSON.stringify(chat.routingAgents)}`);

  step('routing: an out-of-range default capacity is refused at its field; then BALANCED with a capacity of 3');
  const capacityField = ada.page.getByLabel('Default capacity', { exact: true });
  await capacityField.fill('0');
  await ada.page.getByRole('button', { name: 'Save routing' }).click();
  const capacityError = ada.page.locator('#default-capacity-error');
  await capacityError.filter({ hasText: /^Default capacity must be 1 to 100\.$/ }).waitFor();
  await ada.page.locator('#default-capacity[aria-invalid="true"]').waitFor();
  await ada.page.screenshot({ path: join(shots, '9-routing-error.png') });
  await capacityField.fill('3');
  await ada.page.getByLabel('Routing mode', { exact: true }).selectOption('BALANCED');
  await ada.page.getByRole('button', { name: 'Save routing' }).click();
  await ada.page.getByText('Routing is on: balanced.').waitFor();
  await capacityError.waitFor({ state: 'hidden' });
  const routing = (await gql(tokens.admin, '{ settings { routing { mode defaultCapacity } } }')).settings.routing;
  if (routing.mode !== 'BALANCED' || routing.defaultCapacity !== 3) fail(`routing settings: ${JSON.stringify(routing)}`);
  await ada.page.screenshot({ path: join(shots, '10-admin-routing.png') });

  step('routing: an inbound Chat message is routed to Ben (Cleo is Away); Ben sees it his, with "Routed to Ben Baker"; his load moves');
  await ada.page.getByRole('link', { name: 'Inbox' }).click();
  await openFilter(ada.page);
  const adaSeesBen = ada.page.locator('label[for="f-agent-ben"] .load');
  await adaSeesBen.filter({ hasText: `${loadBefore}/3` }).waitFor();
  await gql(tokens.integration,
    `mutation($in: InboundInput!) { ingestInbound(input: $in) { conversationId } }`,
    { in: { channelId: chat.id, contactExternalId: 'rita@example.org', contactName: 'Rita Routed', externalMessageId: 'e2e-chat-1', text: 'Is anyone there?' } });
  // The queue shows 25 rows, longest waiting first: Rita shows under "Owned by me".
  await openFilter(ben.page);
  await ben.page.getByLabel('Owned by me').check();
  await closeFilter(ben.page);
  await row(ben.page, 'Rita Routed').getByText('Waiting on Ben Baker').waitFor();
  await adaSeesBen.filter({ hasText: `${loadBefore + 1}/3` }).waitFor();
  await benLoad.and(cleo.page.locator(`[data-load="${loadBefore + 1}"]`)).waitFor();
  await row(ben.page, 'Rita Routed').click();
  await ben.page.locator('#conv-title', { hasText: 'Rita Routed' }).waitFor();
  await ben.page.locator('.conv-owner', { hasText: 'Ben Baker' }).waitFor();
  await ben.page.locator('details.history summary').click();
  await ben.page.locator('.history-list li').first().getByText('Routed to Ben Baker', { exact: true }).waitFor();
  const taken = await ben.page.evaluate(async () => {
    const { changeWhy } = await import('/js/format.js');
    return changeWhy({ reason: 'UNANSWERED', from: { name: 'Ben Baker' }, to: null, actor: null });
  });
  if (taken !== 'Taken back: Ben Baker did not reply in time') fail(`an unanswered take-back reads: ${taken}`);
  await ada.page.screenshot({ path: join(shots, '11-ada-filter-load.png') });
  await closeFilter(ada.page);

  step('routing: Ada sets Ben Away for him (his dot turns orange on his page and Cleo\'s) and his capacity to 4');
  await ada.page.getByRole('link', { name: 'Admin' }).click();
  const benPresence = ada.page.getByRole('group', { name: 'Presence of Ben Baker' });
  await benPresence.getByRole('button', { name: 'Away' }).click();
  await ada.page.getByText('Ben Baker is Away.').waitFor();
  await benPresence.locator('[aria-pressed="true"]', { hasText: 'Away' }).waitFor();
  await ben.page.locator('.me-name .dot-away').waitFor();
  await ben.page.locator('.segmented [aria-pressed="true"]', { hasText: 'Away' }).waitFor();
  await cleo.page.locator('label[for="f-agent-ben"] .dot-away').waitFor();
  await ada.page.getByLabel('Capacity of Ben Baker', { exact: true }).fill('4');
  await ada.page.getByRole('button', { name: 'Save the capacity of Ben Baker' }).click();
  await ada.page.getByText('Ben Baker: capacity 4.').waitFor();
  // Capacity reaches the other consoles with the agents' presence events,
  // which a capacity change alone does not send.
  if ((await gql(tokens.admin, '{ agents { id capacity } }')).agents.find((a) => a.id === 'ben').capacity !== 4) fail('Ben\'s capacity is not 4');
  await openFilter(ben.page);
  await ben.page.getByRole('button', { name: 'Show everything' }).click();
  await closeFilter(ben.page);
  if ((await gql(tokens.admin, '{ agents { id presence } }')).agents.find((a) => a.id === 'ben').presence !== 'AWAY') fail('Ben is not Away');
  await closeFilter(cleo.page);

  step('screenshots');
  await row(ben.page, 'Maria Garcia').click();
  await ben.page.locator('#conv-title', { hasText: 'Maria Garcia' }).waitFor();
  await ben.page.locator('.conversation[data-status="NEW"]').waitFor();
  await ben.page.screenshot({ path: join(shots, '3-ben-inbox.png') });
  await cleo.page.screenshot({ path: join(shots, '4-cleo.png') });
  await openFilter(ben.page);
  await ben.page.screenshot({ path: join(shots, '5-ben-filter.png') });

  noCountQueries('at the end');
  if (problems.length) fail(`the pages reported:\n  ${problems.join('\n  ')}`);
  console.log(`ok: the console works in ${browser.version()}; screenshots in ${shots}`);
} catch (err) {
  console.error(`FAILED at step ${stepNo}: ${err.stack || err}`);
  if (problems.length) console.error(`the pages reported:\n  ${problems.join('\n  ')}`);
  for (const context of browser.contexts()) {
    for (const [i, page] of context.pages().entries()) {
      await page.screenshot({ path: join(shots, `failure-${browser.contexts().indexOf(context)}-${i}.png`) }).catch(() => {});
    }
  }
  console.error(`screenshots in ${shots}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}

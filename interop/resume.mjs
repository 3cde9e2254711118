// Resuming with graphql-ws's own client: interop_test.go starts a server and
// runs this with
//
//   SWITCHBOARD_URL            the GraphQL endpoint, http://host:port/graphql
//   SWITCHBOARD_TOKEN          Ben's token (an agent)
//   SWITCHBOARD_ADMIN_TOKEN    an admin's token, to assign conversations
//   SWITCHBOARD_CONVERSATIONS  three conversations in NEW, comma-separated
//
// Ben subscribes to ownershipChanged of what he owns, with `since` among the
// subscription's variables. graphql-ws sends a subscription's payload again
// on every reconnect, so the client keeps the last position in it. The
// socket is cut mid-stream; while it is down, two changes Ben's view selects
// (and one it does not) are made; the client's own retry reconnects, and
// the two come in order, then a live one, none twice.
// Exit status 0: every check passed; 1: one failed (the reason on stderr).
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const httpURL = env('SWITCHBOARD_URL');
const wsURL = httpURL.replace(/^http/, 'ws');
const token = env('SWITCHBOARD_TOKEN');
const adminToken = env('SWITCHBOARD_ADMIN_TOKEN');
const [c1, c2, c3] = env('SWITCHBOARD_CONVERSATIONS').split(',');
const patience = 10_000;

const ownershipChanged = `subscription($since: String) {
  ownershipChanged(ownership: {ownedByMe: true}, since: $since) { position version to { id } conversation { id } }
}`;

async function assign(id, owner) {
  const res = await fetch(httpURL, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({
      query: `mutation($id: ID!, $owner: ID) { setOwner(input: {conversationId: $id, ownerId: $owner}) { conversation { version } } }`,
      variables: { id, owner },
    }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(`setOwner: ${JSON.stringify(body.errors)}`);
  return body.data.setOwner.conversation.version;
}

function check(ok, what, got) {
  if (!ok) throw new Error(`${what}: got ${JSON.stringify(got)}`);
}

// The sockets graphql-ws opens, so the test can cut one as a network would.
const sockets = [];
class RecordedWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    sockets.push(this);
  }
}

// While the gate is shut the client waits before reconnecting.
let openGate = () => {};
let gate = Promise.resolve();

const received = [];
let waiter = null;
const settle = () => {
  if (waiter && received.length >= waiter.n) {
    waiter.resolve();
    waiter = null;
  }
};
function receivedCount(n, what) {
  let timer;
  return Promise.race([
    new Promise((resolve) => {
      waiter = { n, resolve };
      settle();
    }),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; received ${JSON.stringify(received)}`)), patience);
    }),
  ]).finally(() => clearTimeout(timer));
}

let connections = 0;
let pongs = 0;
const client = createClient({
  url: wsURL,
  webSocketImpl: RecordedWebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 5,
  shouldRetry: () => true,
  retryWait: () => gate,
  // A ping after the subscribe is answered after the server started it
  // (it handles a socket's messages in order): a pong says it listens.
  keepAlive: 50,
  on: { connected: () => connections++, pong: () => pongs++ },
});

const payload = { query: ownershipChanged, variables: { since: null } };
let failure = null;
const done = new Promise((resolve) => {
  client.subscribe(payload, {
    next: (result) => {
      if (result.errors) {
        failure = new Error(`event with errors: ${JSON.stringify(result.errors)}`);
        return;
      }
      const e = result.data.ownershipChanged;
      // Where to resume from if the socket drops: graphql-ws sends this
      // payload again when it reconnects.
      payload.variables.since = e.position;
      received.push({ id: e.conversation.id, version: e.version, to: e.to?.id ?? null });
      settle();
    },
    error: (err) => {
      failure = new Error(`subscription failed: ${JSON.stringify(err)}`);
      resolve();
    },
    complete: resolve,
  });
});

try {
  // Connected and listening: the first assignment comes live.
  const deadline = Date.now() + patience;
  while (pongs === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  check(connections === 1 && pongs > 0, 'connected once and answered a ping', { connections, pongs });
  const v1 = await assign(c1, 'ben');
  await receivedCount(1, 'the live event');

  // The network drops; the client waits at the gate before reconnecting.
  gate = new Promise((resolve) => {
    openGate = resolve;
  });
  const before = sockets.length;
  sockets[sockets.length - 1].terminate();
  const v2 = await assign(c2, 'ben'); // selected
  await assign(c3, 'cleo'); // not Ben's
  const v3 = await assign(c1, 'cleo'); // Ben's before
  openGate();
  await receivedCount(3, 'the missed events');
  check(sockets.length > before, 'a new socket', sockets.length);
  const v4 = await assign(c3, 'ben');
  await receivedCount(4, 'the live event after the replay');

  const want = [
    { id: c1, version: v1, to: 'ben' },
    { id: c2, version: v2, to: 'ben' },
    { id: c1, version: v3, to: 'cleo' },
    { id: c3, version: v4, to: 'ben' },
  ];
  check(JSON.stringify(received) === JSON.stringify(want), `exactly ${JSON.stringify(want)}`, received);
  if (failure) throw failure;
  console.log(`graphql-ws resumed after a drop: ${received.length} events, ${connections} connections`);
  await client.dispose();
  await done;
  process.exit(0);
} catch (err) {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
}

// Interoperability check: real GraphQL WebSocket clients against a running
// Switchboard server. interop_test.go starts the server and runs this with
//
//   SWITCHBOARD_URL           the GraphQL endpoint, http://host:port/graphql
//   SWITCHBOARD_TOKEN         an agent's token
//   SWITCHBOARD_CONVERSATION  the id of a conversation in NEW
//
// With the graphql-ws client (graphql-transport-ws) and then with
// subscriptions-transport-ws (the legacy graphql-ws subprotocol), it
// subscribes to queueChanged, assigns the conversation with a setOwner
// mutation over the same client, and waits for the event of that change.
// Exit status 0: every check passed; 1: one failed (the reason on stderr).
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import legacy from 'subscriptions-transport-ws';

const { SubscriptionClient } = legacy;

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const httpURL = env('SWITCHBOARD_URL');
const wsURL = httpURL.replace(/^http/, 'ws');
const token = env('SWITCHBOARD_TOKEN');
const conversation = env('SWITCHBOARD_CONVERSATION');
const patience = 10_000;

const queueChanged = `subscription { queueChanged(status: NEW) { kind conversation { id version owner { id } } } }`;
const setOwner = `mutation($id: ID!, $owner: ID) {
  setOwner(input: {conversationId: $id, ownerId: $owner}) { conversation { id version owner { id } } }
}`;

// describe says what went wrong: an Error, a socket's error or close event,
// or GraphQL errors.
function describe(err) {
  if (err instanceof Error) return err.stack;
  if (err?.error instanceof Error) return `socket error: ${err.error.message}`;
  if (typeof err?.code === 'number') return `socket closed: ${err.code} ${err.reason ?? ''}`;
  return JSON.stringify(err);
}

function check(ok, what, got) {
  if (!ok) throw new Error(`${what}: got ${JSON.stringify(got)}`);
}

function withTimeout(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), patience);
    }),
  ]).finally(() => clearTimeout(timer));
}

// events collects a subscription's results; next(pred) resolves with the
// first one that pred accepts.
function events() {
  const seen = [];
  const waiting = [];
  let failure;
  const settle = () => {
    for (const w of [...waiting]) {
      if (failure) {
        w.reject(failure);
      } else {
        const hit = seen.find(w.pred);
        if (!hit) continue;
        w.resolve(hit);
      }
      waiting.splice(waiting.indexOf(w), 1);
    }
  };
  return {
    push(result) {
      seen.push(result);
      settle();
    },
    fail(err) {
      failure = err instanceof Error ? err : new Error(describe(err));
      settle();
    },
    next(pred, what) {
      return withTimeout(
        new Promise((resolve, reject) => {
          waiting.push({ pred, resolve, reject });
          settle();
        }),
        what,
      );
    },
  };
}

function isChangeTo(owner, version) {
  return (r) => {
    const e = r?.data?.queueChanged;
    return e && e.conversation.id === conversation && e.conversation.owner?.id === owner && e.conversation.version === version;
  };
}

function checkEvent(result, owner, version) {
  check(!result.errors, 'event without errors', result);
  const e = result.data.queueChanged;
  check(e.kind === 'UPDATED', 'event kind UPDATED (still in NEW, owner changed)', e);
  check(e.conversation.owner?.id === owner && e.conversation.version === version, `event with owner ${owner} at version ${version}`, e);
}

async function modernClient() {
  let pongs = 0;
  const closed = [];
  const client = createClient({
    url: wsURL,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    lazy: false,
    onNonLazyError: () => {}, // the operations' sinks get the same error
    retryAttempts: 0,
    keepAlive: 200, // the client pings too; the server must pong
    on: {
      pong: (received) => {
        if (received) pongs++;
      },
      closed: (event) => closed.push(event.code),
    },
  });
  try {
    const sub = events();
    const unsubscribe = client.subscribe({ query: queueChanged }, { next: sub.push, error: sub.fail, complete: () => {} });

    // The same socket carries the mutation: the server reads a socket's
    // messages in order, so the subscription is listening before it runs.
    const result = await withTimeout(
      new Promise((resolve, reject) => {
        let r;
        client.subscribe(
          { query: setOwner, variables: { id: conversation, owner: 'ben' } },
          { next: (v) => (r = v), error: reject, complete: () => resolve(r) },
        );
      }),
      'the setOwner result over graphql-ws',
    );
    check(!result.errors && result.data.setOwner.conversation.owner.id === 'ben', 'setOwner over graphql-ws', result);
    const version = result.data.setOwner.conversation.version;
    checkEvent(await sub.next(isChangeTo('ben', version), 'the queueChanged event over graphql-ws'), 'ben', version);
    unsubscribe();

    // A subscription the server refuses ends in an error message.
    const refused = await withTimeout(
      new Promise((resolve) => {
        client.subscribe(
          { query: `subscription { queueChanged(status: NEW, channelIds: ["nope"]) { kind } }` },
          { next: () => resolve(['next']), error: (errs) => resolve(errs), complete: () => resolve(['complete']) },
        );
      }),
      'the error of a refused subscription',
    );
    check(Array.isArray(refused) && refused[0]?.extensions?.code === 'BAD_USER_INPUT', 'refused subscription: error with BAD_USER_INPUT', refused);

    await withTimeout(
      (async () => {
        while (pongs === 0) await new Promise((r) => setTimeout(r, 50));
      })(),
      'a pong to the client keep-alive ping',
    );
  } finally {
    await client.dispose();
  }
  check(closed.every((c) => c === 1000), 'graphql-ws closed normally', closed);

  // A bad token: the server closes with 4403 Forbidden.
  const refusedCodes = [];
  const bad = createClient({
    url: wsURL,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: 'Bearer not-a-token' },
    lazy: false,
    onNonLazyError: () => {}, // expected: the close below is checked instead
    retryAttempts: 0,
    on: { closed: (event) => refusedCodes.push(event.code) },
  });
  await withTimeout(
    (async () => {
      while (refusedCodes.length === 0) await new Promise((r) => setTimeout(r, 20));
    })(),
    'the close of a connection with a bad token',
  );
  await bad.dispose();
  check(refusedCodes[0] === 4403, 'a bad token is closed with 4403', refusedCodes);
  console.log('graphql-ws (graphql-transport-ws): subscribe, mutation, event, error, ping/pong, 4403: ok');
}

async function legacyClient() {
  const client = new SubscriptionClient(
    wsURL,
    { connectionParams: { Authorization: `Bearer ${token}` }, reconnect: false, lazy: false },
    WebSocket,
  );
  try {
    const connected = new Promise((resolve, reject) => {
      client.onConnected(resolve);
      client.onError(reject);
    });
    await withTimeout(connected, 'the legacy connection_ack');
    const sub = events();
    const subscription = client.request({ query: queueChanged }).subscribe({ next: sub.push, error: sub.fail });
    const result = await withTimeout(
      new Promise((resolve, reject) => {
        client
          .request({ query: setOwner, variables: { id: conversation, owner: 'cleo' } })
          .subscribe({ next: resolve, error: reject });
      }),
      'the setOwner result over subscriptions-transport-ws',
    );
    check(!result.errors && result.data.setOwner.conversation.owner.id === 'cleo', 'setOwner over subscriptions-transport-ws', result);
    const version = result.data.setOwner.conversation.version;
    checkEvent(await sub.next(isChangeTo('cleo', version), 'the queueChanged event over subscriptions-transport-ws'), 'cleo', version);
    subscription.unsubscribe();
  } finally {
    client.close();
  }
  console.log('subscriptions-transport-ws (graphql-ws subprotocol): subscribe, mutation, event: ok');
}

try {
  await modernClient();
  await legacyClient();
  console.log('interop: ok');
  process.exit(0);
} catch (err) {
  console.error('interop: FAILED:', describe(err));
  process.exit(1);
}

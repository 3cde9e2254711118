// An example channel connector: the piece between a channel (email, chat,
// SMS...) and Switchboard. It does the two halves every connector does:
//
//   inbound   a contact's message arrives on the channel: ingestInbound,
//             with the channel's own message id as externalMessageId, so a
//             retry (after a timeout, or a restart) is never a second
//             message;
//   outbound  subscribe to outboundMessages (graphql-transport-ws): first
//             every reply still PENDING, oldest first, then new ones as
//             agents write them; send each on the channel, then
//             reportDelivery SENT (with the channel's id for it) or FAILED
//             (with a reason the agent reads under the reply).
//
// Delivery is at least once: after a restart, or if a reply stays PENDING
// past the server's redelivery delay, the same message comes again. So a
// connector remembers what it sent (here: in memory; a real one asks its
// channel, or keeps a small table) and reports again instead of sending
// twice. Reporting the same outcome twice is harmless: it is one report.
//
// The "channel" here is a stand-in: sending prints the message as a JSON
// line on stdout. interop_test.go runs this against a real server with
//
//   SWITCHBOARD_URL         the GraphQL endpoint, http://host:port/graphql
//   SWITCHBOARD_TOKEN       an integration token of the workspace
//   SWITCHBOARD_CHANNEL_ID  the channel to ingest into and deliver from (default: deliver from every channel)
//   SWITCHBOARD_EXIT_AFTER  (optional) exit after delivering this many replies
//   SWITCHBOARD_FAIL_TEXT   (optional) replies containing this text fail
//
// and with switchboard dev, once npm ci has run in this directory:
//
//   SWITCHBOARD_URL=http://127.0.0.1:8080/graphql SWITCHBOARD_TOKEN=<the Email connector token> node connector.mjs
//
// (switchboard dev prints this line with its address and token filled in).
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

function env(name, fallback) {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') throw new Error(`${name} is not set`);
  return v;
}

const httpURL = env('SWITCHBOARD_URL');
const token = env('SWITCHBOARD_TOKEN');
const channelId = process.env.SWITCHBOARD_CHANNEL_ID || null; // null: every channel
const exitAfter = Number(process.env.SWITCHBOARD_EXIT_AFTER || 0);
const failText = process.env.SWITCHBOARD_FAIL_TEXT || '';

const say = (what) => process.stdout.write(`${JSON.stringify(what)}\n`);

// gql is one GraphQL request over HTTP; it throws on errors, with their
// codes (extensions.code says whether retrying can help: UNAVAILABLE can,
// BAD_USER_INPUT cannot).
async function gql(query, variables) {
  const res = await fetch(httpURL, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) {
    const err = new Error(body.errors.map((e) => `${e.extensions?.code}: ${e.message}`).join('; '));
    err.codes = body.errors.map((e) => e.extensions?.code);
    throw err;
  }
  return body.data;
}

// Inbound: what the channel's webhook handler would call for each message.
export async function ingest(contactExternalId, contactName, channelMessageId, text) {
  const d = await gql(`mutation($in: InboundInput!) {
    ingestInbound(input: $in) { conversationId messageId status duplicate }
  }`, { in: { channelId, contactExternalId, contactName, externalMessageId: channelMessageId, text } });
  return d.ingestInbound;
}

// Outbound: the channel's send. Here it prints; it fails for replies that
// contain failText, as a bounced email would.
const sentOnChannel = new Map(); // Switchboard message id → the channel's id
let channelSeq = 0;
async function sendOnChannel(o) {
  if (failText && o.message.text.includes(failText)) throw new Error('the mailbox is full');
  const channelMessageId = `chan-${++channelSeq}`;
  say({ sent: o.message.id, to: o.contact.externalId, text: o.message.text, by: o.message.author?.name, channelMessageId });
  return channelMessageId;
}

const report = (messageId, input) => gql(`mutation($in: ReportDeliveryInput!) {
  reportDelivery(input: $in) { message { id delivery { status externalMessageId error } } }
}`, { in: { messageId, ...input } });

async function deliver(o) {
  let outcome;
  const already = sentOnChannel.get(o.message.id);
  if (already) {
    outcome = { status: 'SENT', externalMessageId: already }; // offered again: report, never send twice
  } else {
    try {
      const channelMessageId = await sendOnChannel(o);
      sentOnChannel.set(o.message.id, channelMessageId);
      outcome = { status: 'SENT', externalMessageId: channelMessageId };
    } catch (err) {
      outcome = { status: 'FAILED', error: err.message };
    }
  }
  const d = await report(o.message.id, outcome);
  say({ reported: o.message.id, delivery: d.reportDelivery.message.delivery });
}

const outboundMessages = `subscription($ch: [ID!]) {
  outboundMessages(channelIds: $ch) {
    message { id text createdAt author { name } delivery { status } }
    conversationId
    channel { id name }
    contact { externalId name }
  }
}`;

// run subscribes and delivers, one message at a time, in the order they
// come (which keeps each conversation's replies in order), until exitAfter
// messages were delivered. graphql-ws reconnects by itself after a dropped
// socket or a server restart (retryAttempts), and each new subscription
// starts with what is still PENDING: nothing is lost while it was away.
async function run() {
  const client = createClient({
    url: httpURL.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: Infinity,
    shouldRetry: () => true,
  });
  let delivered = 0;
  try {
    const events = client.iterate({ query: outboundMessages, variables: { ch: channelId && [channelId] } });
    say({ subscribed: channelId ?? 'every channel' });
    for await (const result of events) {
      if (result.errors) throw new Error(JSON.stringify(result.errors));
      await deliver(result.data.outboundMessages);
      if (exitAfter && ++delivered >= exitAfter) break;
    }
  } finally {
    await client.dispose();
  }
}

// With SWITCHBOARD_INGEST set, the example first ingests that text from a
// contact "maria" (the inbound half), then delivers.
if (process.env.SWITCHBOARD_INGEST) {
  if (!channelId) throw new Error('SWITCHBOARD_INGEST needs SWITCHBOARD_CHANNEL_ID');
  const r = await ingest('maria', 'Maria Garcia', `channel-msg-${Date.now()}`, process.env.SWITCHBOARD_INGEST);
  say({ ingested: r });
}
try {
  await run();
} catch (err) {
  console.error(err.stack || String(err));
  process.exit(1);
}

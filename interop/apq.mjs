// Apollo Client's own automatic persisted queries link against a running
// Switchboard server. interop_test.go starts the server and runs this with
//
//   SWITCHBOARD_URL    the GraphQL endpoint, http://host:port/graphql
//   SWITCHBOARD_TOKEN  an agent's token
//
// It checks the protocol as Apollo speaks it: the first request sends the
// hash alone and is told PersistedQueryNotFound, the link sends the document
// with its hash, and from then on the hash alone is answered, over POST and
// over GET (useGETForHashedQueries). Every request is recorded by a fetch
// wrapper. Exit status 0: every check passed; 1: one failed.
import { createHash } from 'node:crypto';
import { ApolloClient, InMemoryCache, HttpLink, gql } from '@apollo/client/core/index.js';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries/index.js';

const url = process.env.SWITCHBOARD_URL;
const token = process.env.SWITCHBOARD_TOKEN;
if (!url || !token) throw new Error('SWITCHBOARD_URL and SWITCHBOARD_TOKEN must be set');

const sent = [];
const recordingFetch = async (input, init = {}) => {
  const body = init.body ? JSON.parse(init.body) : null;
  const u = new URL(input.toString());
  sent.push({
    method: init.method ?? 'GET',
    hasQuery: Boolean(body?.query ?? u.searchParams.get('query')),
    hasHash: Boolean(body?.extensions?.persistedQuery ?? u.searchParams.get('extensions')),
  });
  return fetch(input, init);
};

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

function client(useGET) {
  const persisted = createPersistedQueryLink({ sha256, useGETForHashedQueries: useGET });
  const http = new HttpLink({ uri: url, fetch: recordingFetch, headers: { Authorization: `Bearer ${token}` } });
  return new ApolloClient({ link: persisted.concat(http), cache: new InMemoryCache() });
}

const ME = gql`query Me { me { id presence } }`;
const check = (what, ok) => {
  if (!ok) {
    console.error(`FAILED: ${what}\nrequests: ${JSON.stringify(sent)}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
};

// 1. A new hash: refused, then the document with its hash.
let r = await client(false).query({ query: ME, fetchPolicy: 'network-only' });
check('the first query is answered', r.data?.me?.id);
check('it went hash alone, then with the document',
  sent.length === 2 && !sent[0].hasQuery && sent[0].hasHash && sent[1].hasQuery && sent[1].hasHash);

// 2. Another client: the hash alone is enough now.
sent.length = 0;
r = await client(false).query({ query: ME, fetchPolicy: 'network-only' });
check('a second client is answered from the hash alone', r.data?.me?.id && sent.length === 1 && !sent[0].hasQuery);

// 3. Over GET, as useGETForHashedQueries sends it.
sent.length = 0;
r = await client(true).query({ query: ME, fetchPolicy: 'network-only' });
check('a GET with the hash alone is answered', r.data?.me?.id && sent.length === 1 && sent[0].method === 'GET' && !sent[0].hasQuery);

// GraphQL over HTTP: queries and mutations are POSTed to /graphql with the
// bearer token. Errors become ApiError with the API's extensions.code, and
// describe() puts them in words a person understands.
import { noteServerDate } from './format.js';

export class ApiError extends Error {
  constructor(code, message, extensions = {}) {
    super(message);
    this.code = code;
    this.extensions = extensions;
  }
}

export class Api {
  // onSignedOut(error) is called when the server no longer accepts the
  // token (401) or the agent (403 at the door: deactivated).
  constructor(token, { onSignedOut = () => {} } = {}) {
    this.token = token;
    this.onSignedOut = onSignedOut;
  }

  async request(query, variables = {}) {
    let res;
    try {
      res = await fetch('/graphql', {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/graphql-response+json, application/json',
          Authorization: `Bearer ${this.token}`,
        },
        body: JSON.stringify({ query, variables }),
      });
    } catch {
      throw new ApiError('NETWORK', 'network');
    }
    noteServerDate(res.headers.get('Date'));
    let body = null;
    try {
      body = await res.json();
    } catch {
      // Not JSON: a proxy's error page, say.
    }
    const first = body?.errors?.[0];
    if (res.status === 401 || res.status === 403 || !body || first) {
      const code = first?.extensions?.code
        || { 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN' }[res.status]
        || 'INTERNAL';
      const err = new ApiError(code, first?.message || `HTTP ${res.status}`, first?.extensions);
      // Refused at the door (no data at all): the session is over.
      if (res.status === 401 || res.status === 403) {
        err.signedOut = true;
        this.onSignedOut(err);
      }
      throw err;
    }
    return body.data;
  }
}

// CONFLICT_WORDS is what a person is told when their change lost a race.
export const CONFLICT_WORDS = 'Someone else changed this conversation first; it has been reloaded.';

// describe says what went wrong, in words.
export function describe(err) {
  if (!(err instanceof ApiError)) return 'Something went wrong in the console; reload the page.';
  switch (err.code) {
    case 'CONFLICT':
      return CONFLICT_WORDS;
    case 'FORBIDDEN':
      return err.signedOut ? 'This account may no longer sign in.' : 'You are not allowed to do that.';
    case 'NOT_FOUND':
      return 'That no longer exists, or is not in your workspace.';
    case 'BAD_USER_INPUT':
      return `That did not work: ${sentence(err.message)}`;
    case 'UNAUTHENTICATED':
      return 'Your sign-in has ended (the token is invalid or expired); sign in again.';
    case 'NETWORK':
      return 'The server cannot be reached; check the connection and try again.';
    case 'INTERNAL':
      return 'Something went wrong on the server; try again.';
    default:
      // GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, COMPLEXITY_LIMIT_EXCEEDED:
      // the console's own mistake, or an older console against a newer server.
      return 'The server did not understand the console; reload the page.';
  }
}

function sentence(s) {
  s = String(s || 'the server refused it').trim();
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

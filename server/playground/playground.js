// The playground: GraphiQL with the explorer plugin, against this server's
// /graphql over HTTP and, for subscriptions, over WebSocket
// (graphql-transport-ws). It is a file of its own rather than an inline
// script so that the page's Content-Security-Policy can allow scripts from
// this server only.
//
// Every request needs a token, so the schema (Docs, the explorer,
// completion) is loaded only once the Headers tab has an Authorization
// header, and again whenever that header changes, with the tab's headers.
// The headers stay in the tab (and so in memory), out of the browser's
// storage and out of the stored history, unless the user turns on "Persist
// headers" in GraphiQL's settings.
'use strict';
(() => {
  const { createElement: h, useCallback, useEffect, useMemo, useRef, useState } = React;

  // The API is /graphql beside the page, on the page's own origin; the
  // WebSocket endpoint is the same path over ws: or wss:.
  const url = new URL('graphql', document.baseURI);
  const subscriptionUrl = new URL(url);
  subscriptionUrl.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  // createFetcher sends the tab's headers with each HTTP request and, for a
  // subscription, as the connection_init payload of a graphql-ws client,
  // where the server reads {"Authorization": "Bearer …"} too.
  const send = GraphiQL.createFetcher({ url: url.href, subscriptionUrl: subscriptionUrl.href });
  // Made once: GraphiQL compares its plugins by identity.
  const plugins = [GraphiQLPluginExplorer.explorerPlugin()];

  const defaultHeaders = '{\n  "Authorization": "Bearer "\n}';
  const defaultQuery = `# Switchboard's GraphQL API. Every request needs a token:
# paste one after "Bearer " in the Headers tab below
# (switchboard dev prints some). The schema (Docs, Explorer)
# loads with it. Headers are not stored in this browser
# unless you turn on "Persist headers" in the settings.

query Me {
  me {
    name
    role
    presence
  }
}
`;

  const isAuthorization = (name) => name.toLowerCase() === 'authorization';

  // authorizationIn is the Authorization header (any case) of a Headers tab's
  // text, or '' when the text is no JSON object or the header has no
  // credentials after its scheme (as in the "Bearer " template).
  function authorizationIn(text) {
    let headers;
    try {
      headers = JSON.parse(text || '{}');
    } catch {
      return '';
    }
    if (headers === null || typeof headers !== 'object') return '';
    for (const [name, value] of Object.entries(headers)) {
      if (isAuthorization(name) && typeof value === 'string' && /^\S+\s+\S/.test(value.trim())) return value.trim();
    }
    return '';
  }

  // The headers GraphiQL restores at start: stored only if the user chose
  // to persist them.
  function storedAuthorization() {
    try {
      return authorizationIn(localStorage.getItem('graphiql:headers'));
    } catch {
      return ''; // storage disabled
    }
  }

  // storage is localStorage for GraphiQL, except that the history (and the
  // favourites) keep no headers unless the user turned on "Persist
  // headers": GraphiQL's history stores each run operation with its
  // headers, token and all, whatever that setting says. An entry from an
  // earlier visit so comes back without headers (GraphiQL then empties the
  // Headers tab); entries of this visit keep them, in memory.
  const namespace = 'graphiql:';
  const headerless = new Set([`${namespace}queries`, `${namespace}favorites`]);
  const storage = {
    getItem: (key) => localStorage.getItem(key),
    setItem(key, value) {
      if (headerless.has(key) && localStorage.getItem(`${namespace}shouldPersistHeaders`) !== 'true') {
        value = JSON.stringify(JSON.parse(value), (name, v) => (name === 'headers' ? undefined : v));
      }
      localStorage.setItem(key, value);
    },
    removeItem: (key) => localStorage.removeItem(key),
    clear() {
      for (const key of Object.keys(localStorage)) if (key.startsWith(namespace)) localStorage.removeItem(key);
    },
    get length() {
      return Object.keys(localStorage).filter((key) => key.startsWith(namespace)).length;
    },
  };

  function Playground() {
    const [authorization, setAuthorization] = useState(storedAuthorization);
    // A new fetcher for each Authorization makes GraphiQL load the schema
    // again. GraphiQL passes the tab's headers to the fetcher, for the
    // schema too; should it call before it has read the tab (at start,
    // with persisted headers), the header is added from what we read.
    const fetcher = useMemo(() => (params, opts = {}) => {
      const headers = opts.headers || {};
      const given = Object.keys(headers).some(isAuthorization);
      return send(params, given || !authorization ? opts : { ...opts, headers: { ...headers, Authorization: authorization } });
    }, [authorization]);

    const typing = useRef(0);
    const onEditHeaders = useCallback((text) => {
      // While a token is typed or pasted, wait for it to settle rather than
      // fetch the schema with every keystroke.
      clearTimeout(typing.current);
      typing.current = setTimeout(() => setAuthorization(authorizationIn(text)), 300);
    }, []);
    useEffect(() => () => clearTimeout(typing.current), []);

    return h(GraphiQL, {
      fetcher,
      plugins,
      storage,
      onEditHeaders,
      defaultQuery,
      defaultHeaders,
      defaultEditorToolsVisibility: 'headers',
      // null: no schema and no introspection (it would only be refused
      // without a token); undefined: GraphiQL introspects with the fetcher.
      schema: authorization ? undefined : null,
    });
  }

  ReactDOM.createRoot(document.getElementById('graphiql')).render(h(Playground));
})();

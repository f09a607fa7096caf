// The GraphQL-over-HTTP server audit (graphql-http) against a running gateway.
// Usage: node audit.mjs <url> <bearer token>; prints one JSON object per audit, one a line.
import { auditServer } from 'graphql-http';

const [url, token] = process.argv.slice(2);
if (!url || !token) {
  console.error('usage: node audit.mjs <url> <bearer token>');
  process.exit(2);
}

// The gateway answers only callers with a tenant token; everything else is the audit's own.
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers, signal: AbortSignal.timeout(10_000) });
};

const results = await auditServer({ url, fetchFn });
for (const result of results) {
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    line.reason = result.reason;
    line.status_code = result.response.status;
    line.body = await result.response.text();
  }
  console.log(JSON.stringify(line));
}

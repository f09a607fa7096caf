// A federated supergraph around the gateway: a tiny second subgraph ("notes", which refers to
// MessagingProfile by id and adds `notes` to it), composed with the gateway's own SDL (read
// from its `_service { sdl }`, as a composition tool does) and served by Hive Gateway, which
// forwards each caller's Authorization header to both subgraphs.
// Usage: node federation.mjs <gateway /graphql url> <token> <notes as JSON>
// Prints {"router": url, "notes": url} once both listen; stops when stdin closes.
import { createServer } from 'node:http';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { createGatewayRuntime } from '@graphql-hive/gateway-runtime';
import { composeServices } from '@theguild/federation-composition';
import { parse } from 'graphql';
import { createHandler } from 'graphql-http/lib/use/http';

const [gatewayUrl, token, notesJson] = process.argv.slice(2);
if (!gatewayUrl || !token || !notesJson) {
  console.error('usage: node federation.mjs <gateway url> <token> <notes as JSON>');
  process.exit(2);
}
// [{ id, text, profileId }]
const notes = JSON.parse(notesJson);

function listen(handler) {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function address(server) {
  return `http://127.0.0.1:${server.address().port}/graphql`;
}

const notesTypeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  type Query {
    profileNotes: [ProfileNote!]!
  }

  type ProfileNote {
    id: ID!
    text: String!
    profile: MessagingProfile!
  }

  type MessagingProfile @key(fields: "id") {
    id: ID!
    notes: [ProfileNote!]!
  }
`);
const notesSchema = buildSubgraphSchema({
  typeDefs: notesTypeDefs,
  resolvers: {
    Query: { profileNotes: () => notes },
    ProfileNote: { profile: (note) => ({ __typename: 'MessagingProfile', id: note.profileId }) },
    MessagingProfile: {
      __resolveReference: (reference) => ({ id: reference.id }),
      notes: (profile) => notes.filter((note) => note.profileId === profile.id),
    },
  },
});
const notesServer = await listen(createHandler({ schema: notesSchema }));

const response = await fetch(gatewayUrl, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  body: JSON.stringify({ query: '{ _service { sdl } }' }),
  signal: AbortSignal.timeout(10_000),
});
const { data } = await response.json();
const composed = composeServices([
  { name: 'messaging', typeDefs: parse(data._service.sdl), url: gatewayUrl },
  { name: 'notes', typeDefs: notesTypeDefs, url: address(notesServer) },
]);
if (composed.errors) {
  console.error(composed.errors.map(String).join('\n'));
  process.exit(1);
}

const gateway = createGatewayRuntime({
  supergraph: composed.supergraphSdl,
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({ authorization: request.headers.get('authorization') }),
  },
  graphiql: false,
  landingPage: false,
  logging: 'error',
  // The test reads what went wrong, not a mask.
  maskedErrors: false,
});
const routerServer = await listen(gateway);
console.log(JSON.stringify({ router: address(routerServer), notes: address(notesServer) }));

process.stdin.resume();
process.stdin.on('end', async () => {
  routerServer.close();
  notesServer.close();
  await gateway.dispose();
  process.exit(0);
});

// The peer's composition: Telnyx's OpenAPI extract as one subgraph, every operation sent to
// TELNYX_URL (read when the gateway runs) with the caller's Authorization header.
import { defineConfig } from '@graphql-mesh/compose-cli';
import { loadOpenAPISubgraph } from '@omnigraph/openapi';

export const composeConfig = defineConfig({
  subgraphs: [
    {
      sourceHandler: loadOpenAPISubgraph('Telnyx', {
        source: process.env.TELNYX_SPEC ?? '../../../shared/telnyx/openapi-messaging.yaml',
        endpoint: '{env.TELNYX_URL}',
        operationHeaders: { Authorization: '{context.headers.authorization}' },
      }),
    },
  ],
});

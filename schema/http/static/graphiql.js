// Starts GraphiQL on the gateway's /graphql page. The page's Content-Security-Policy allows
// no inline script: this file reads the page's settings from #graphiql's data attributes.
(function () {
  "use strict";

  var root = document.getElementById("graphiql");

  function start(token) {
    var authorization = { Authorization: "Bearer " + token };
    // The fetcher sends the token itself: GraphiQL fetches the schema before its headers
    // pane is read. What the pane says is sent too, and wins.
    var fetcher = GraphiQL.createFetcher({
      // The page is served by the GraphQL endpoint itself, whatever prefix a proxy adds.
      url: window.location.pathname,
      headers: authorization,
      enableIncrementalDelivery: false,
    });
    ReactDOM.createRoot(root).render(
      React.createElement(GraphiQL, {
        fetcher: fetcher,
        defaultQuery: root.dataset.query,
        defaultHeaders: JSON.stringify(authorization, null, 2),
        defaultEditorToolsVisibility: "headers",
        // A tenant token must not outlive the tab in the browser's storage.
        shouldPersistHeaders: false,
      }),
    );
  }

  if (root.dataset.token) {
    // Demo mode: the demo tenant's token (not a secret) comes with the page.
    start(root.dataset.token);
    return;
  }
  var form = document.getElementById("token-form");
  form.hidden = false;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var token = form.elements.token.value.trim();
    if (token) {
      form.remove();
      start(token);
    }
  });
  form.elements.token.focus();
})();

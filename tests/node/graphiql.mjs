// Drives GraphiQL in headless Chromium: opens the page, gives the token when it asks for
// one, runs a query and prints what a user would see, as one JSON object.
// Usage: node graphiql.mjs <page url> <user data dir> <query> [token]
import { chromium } from 'playwright-core';

const [url, userDataDir, query, token] = process.argv.slice(2);
if (!url || !userDataDir || !query) {
  console.error('usage: node graphiql.mjs <page url> <user data dir> <query> [token]');
  process.exit(2);
}

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  timeout: 30_000,
});
const seen = { requests: [], failed: [], console: [], violations: [], pageErrors: [] };
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  page.on('request', (request) => seen.requests.push(request.url()));
  page.on('requestfailed', (request) => seen.failed.push(request.url()));
  page.on('pageerror', (error) => seen.pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') {
      seen.console.push(`${message.type()}: ${message.text()}`);
    }
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__violations = window.__violations || [];
      window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  const response = await page.goto(url, { waitUntil: 'load' });
  seen.status = response.status();
  if (token !== undefined) {
    seen.askedForToken = await page.locator('#token-form').isVisible();
    await page.fill('#token', token);
    await page.click('#token-form button[type=submit]');
  }
  // GraphiQL has rendered once its query editor exists; the schema has loaded once the
  // documentation explorer can be opened.
  const editor = page.locator('.graphiql-query-editor .CodeMirror');
  await editor.waitFor();
  // The pane shown under the query editor: the headers, opened by the page.
  seen.openPane = await page.evaluate(() =>
    [
      ...document.querySelectorAll('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror'),
    ].map((node) => node.CodeMirror.getValue()),
  );
  seen.defaultQuery = await editor.evaluate((node) => node.CodeMirror.getValue());
  await editor.evaluate((node, text) => node.CodeMirror.setValue(text), query);
  await page.click('.graphiql-execute-button');
  const result = page.locator('.result-window .CodeMirror');
  await page.waitForFunction(
    () => {
      const text = document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue();
      return Boolean(text && text.trim().startsWith('{'));
    },
    null,
    { timeout: 20_000 },
  );
  seen.result = await result.evaluate((node) => node.CodeMirror.getValue());
  await page.click('[aria-label="Show Documentation Explorer"]');
  seen.docs = await page.locator('.graphiql-doc-explorer').innerText();
  seen.violations = await page.evaluate(() => window.__violations || []);
} catch (error) {
  seen.error = String(error);
} finally {
  await context.close();
}
console.log(JSON.stringify(seen));

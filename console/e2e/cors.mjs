// CORS in a real browser: Chromium opens pages served from other origins
// (other ports of this machine) that call the Switchboard API with fetch
// and open its WebSocket. console/cors_e2e_test.go starts the API and the
// pages, and passes each page's URL; this prints, per page, what the page
// saw as one JSON line: {"page": url, "fetch": ..., "socket": ...}.
//
//   SWITCHBOARD_PAGES      page URLs, separated by spaces
//   SWITCHBOARD_CHROMIUM   the browser (default /usr/bin/chromium)
import { chromium } from 'playwright-core';

const pages = (process.env.SWITCHBOARD_PAGES ?? '').split(' ').filter(Boolean);
if (pages.length === 0) throw new Error('SWITCHBOARD_PAGES is not set');

const browser = await chromium.launch({
  executablePath: process.env.SWITCHBOARD_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  for (const url of pages) {
    const page = await browser.newPage();
    await page.goto(url);
    // The page writes its findings into #result when both tries ended.
    await page.waitForFunction(() => document.querySelector('#result')?.textContent, null, { timeout: 20_000 });
    const result = JSON.parse(await page.textContent('#result'));
    console.log(JSON.stringify({ page: url, ...result }));
    await page.close();
  }
} finally {
  await browser.close();
}

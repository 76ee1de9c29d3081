// demo.js URL SCREENSHOT - the demo page in a real Chromium: it connects,
// a message typed into its box and one published from outside (sse-pub)
// both appear in its list. Prints the list; exits non-zero on any failure.
const { execFileSync } = require('child_process');
const { launch } = require('./browser');

const [url, shot, ssePub] = process.argv.slice(2);

(async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 800, height: 500 } });
    await page.goto(url, { timeout: 15000 });
    await page.waitForFunction(
      () => document.getElementById('state').textContent.startsWith('connected'), null, { timeout: 15000 });
    await page.fill('#msg', 'typed in the page');
    await page.click('#go');
    await page.waitForSelector('li:has-text("typed in the page")', { timeout: 15000 });
    execFileSync(ssePub, [url + 'events', 'from sse-pub']);
    await page.waitForSelector('li:has-text("from sse-pub")', { timeout: 15000 });
    await page.screenshot({ path: shot });
    console.log(await page.$$eval('#log li', (els) => els.map((e) => e.textContent).join(' | ')));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(String(e)); process.exit(1); });

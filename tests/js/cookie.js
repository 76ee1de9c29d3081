// cookie.js - a page on ssed's HTTPS origin, authorised by a cookie only:
// it opens EventSources on an allowed topic, on a refused one, and on both
// merged, then prints what each saw, one fact a line:
//   open NAME            the stream opened
//   closed NAME          it failed for good (EventSource does not retry a 403)
//   message NAME DATA    an event it received
// usage: node cookie.js ORIGIN SPKI COOKIE TOKEN ALLOWED REFUSED PUBLISH_URL PUBLISH_TOKEN
// ORIGIN is ssed's https://127.0.0.1:PORT; the browser trusts the
// certificate whose key hashes to SPKI. Events are published to ALLOWED and
// REFUSED through PUBLISH_URL (plain HTTP) with PUBLISH_TOKEN once the
// allowed stream is open.
const http = require('http');
const { chromium } = require('playwright-core');

const [origin, spki, cookie, token, allowed, refused, pubUrl, pubToken] = process.argv.slice(2);

function post(topic, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${pubUrl}/events/${topic}`, {
      method: 'POST', headers: { Authorization: `Bearer ${pubToken}` },
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.end(body);
  });
}

async function until(fn, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--ignore-certificate-errors-spki-list=${spki}`],
  });
  try {
    const context = await browser.newContext();
    await context.addCookies([{ name: cookie, value: token, url: origin }]);
    const page = await context.newPage();
    await page.goto(`${origin}/healthz`);
    await page.evaluate(([a, r]) => {
      window.log = [];
      const open = (name, path) => {
        const es = new EventSource(path);
        es.onopen = () => window.log.push(`open ${name}`);
        es.onerror = () => { if (es.readyState === 2) window.log.push(`closed ${name}`); };
        es.onmessage = (m) => window.log.push(`message ${name} ${m.data}`);
      };
      open('allowed', `/events/${a}`);
      open('refused', `/events/${r}`);
      open('merged', `/events?topic=${a}&topic=${r}`);
    }, [allowed, refused]);
    const log = () => page.evaluate(() => window.log);
    const has = async (line) => (await log()).includes(line);
    if (!await until(() => has('open allowed'), 20000)) throw new Error('allowed never opened');
    await until(async () => await has('closed refused') && await has('closed merged'), 20000);
    console.log(`publish ${await post(refused, 'hidden')} ${await post(allowed, 'one')}`);
    await until(() => has('message allowed one'), 10000);
    for (const line of await log()) console.log(line);
  } finally {
    await browser.close();
  }
})().catch((e) => { console.log(`error ${e.message}`); process.exit(1); });

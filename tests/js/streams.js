// streams.js - one page opens N EventSources to one origin; events are
// published straight to ssed; prints what the browser saw, one fact a line:
//   protocol P            how the page itself came (h2, http/1.1)
//   opened K of N         streams open before publishing
//   complete C            streams that got every event, in order
//   stalled S             streams never opened and given nothing
//   first_event_ms A B    publish to first event in the page: fastest, slowest stream
//   server_subscribers M  ssed's own count, read after the events
// usage: node streams.js PAGE_URL SSED_URL N EXPECT_OPEN EVENTS [SPKI_SHA256_BASE64 HOST]
// PAGE_URL: a page on the origin under test (its /healthz). The streams
// follow /events/streams on that origin; SSED_URL is ssed itself, for the
// publishes and /metrics. With SPKI and HOST, the browser resolves HOST to
// 127.0.0.1 and trusts the certificate whose key has that hash.
const http = require('http');
const { chromium } = require('playwright-core');

const [pageUrl, ssedUrl, nArg, expectArg, eventsArg, spki, host] = process.argv.slice(2);
const n = Number(nArg), expectOpen = Number(expectArg), events = Number(eventsArg);

// POST body to url with node's http module (a fetch() costs tens of
// milliseconds of its own the first times, which would blur the figure).
const agent = new http.Agent({ keepAlive: true });
function post(url, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// Poll fn (in node) every 20 ms until it returns true, for ms at most.
async function until(fn, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

(async () => {
  const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  if (spki) {
    args.push(`--ignore-certificate-errors-spki-list=${spki}`);
    args.push(`--host-resolver-rules=MAP ${host} 127.0.0.1`);
  }
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args,
  });
  try {
    const page = await browser.newPage();
    await page.goto(pageUrl);
    const proto = await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
    console.log(`protocol ${proto}`);
    await page.evaluate((count) => {
      window.streams = [];
      for (let i = 0; i < count; i++) {
        const s = { es: new EventSource('/events/streams'), open: false, data: [], first: 0 };
        s.es.onopen = () => { s.open = true; };
        s.es.onmessage = (m) => {
          if (!s.first) s.first = Date.now();
          s.data.push(m.data);
        };
        window.streams.push(s);
      }
    }, n);
    const opened = () => page.evaluate(() => window.streams.filter((s) => s.open).length);
    await until(async () => (await opened()) >= expectOpen, 30000);
    // ssed must count them too: a stream is open in the page once its
    // headers came, and ssed has it once the headers left.
    await until(async () => {
      const m = await (await fetch(`${ssedUrl}/metrics`)).text();
      return Number(/^ssed_subscribers (\d+)/m.exec(m)[1]) >= Math.min(await opened(), expectOpen);
    }, 10000);
    console.log(`opened ${await opened()} of ${n}`);

    const published = [];
    await post(`${ssedUrl}/events/warm-up`, 'x');  // the connection, opened ahead
    for (let i = 1; i <= events; i++) {
      published.push(Date.now());
      const status = await post(`${ssedUrl}/events/streams`, `e${i}`);
      if (status !== 200) throw new Error(`publish ${i}: HTTP ${status}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    const want = Array.from({ length: events }, (_, i) => `e${i + 1}`).join(',');
    const complete = () => page.evaluate((w) => window.streams.filter((s) => s.data.join(',') === w).length, want);
    await until(async () => (await complete()) >= (expectOpen < n ? expectOpen : n), 20000);
    const seen = await page.evaluate(() => window.streams.map((s) => ({
      open: s.open, got: s.data.length, first: s.first })));
    console.log(`complete ${await complete()}`);
    console.log(`stalled ${seen.filter((s) => !s.open && s.got === 0).length}`);
    const lat = seen.filter((s) => s.first).map((s) => s.first - published[0]);
    if (lat.length) {
      console.log(`first_event_ms ${Math.min(...lat).toFixed(1)} ${Math.max(...lat).toFixed(1)}`);
    }
    const m = await (await fetch(`${ssedUrl}/metrics`)).text();
    console.log(`server_subscribers ${/^ssed_subscribers (\d+)/m.exec(m)[1]}`);
  } finally {
    await browser.close();
  }
})().catch((e) => { console.log(`error ${e.message}`); process.exit(1); });

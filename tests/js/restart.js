// restart.js URL - an EventSource on two topics in a real Chromium, listening
// for typed events, across an ssed restart. It prints "ready", then reads
// commands on stdin: "expect N OPENS" waits until N events were seen over
// OPENS connections and prints "seen N"; "done" ends. Last it prints each
// event seen ("event type:data"), and "opens N gaps N".
const readline = require('readline');
const { launch } = require('./browser');

const url = process.argv[2];
const rl = readline.createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();
const next = async () => (await lines.next()).value;

(async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(url, { timeout: 15000 });
    // The demo page has an EventSource of its own: close it, ours is the one.
    await page.evaluate(() => es.close());  // eslint-disable-line no-undef
    await page.evaluate(() => {
      window.seen = [];
      window.opens = 0;
      window.gaps = 0;
      const two = new EventSource('/events?topic=alpha&topic=beta');
      two.onopen = () => { window.opens++; };
      for (const t of ['add', 'remove'])
        two.addEventListener(t, (e) => window.seen.push(t + ':' + e.data + ':' + e.lastEventId));
      two.addEventListener('ssed-gap', () => { window.gaps++; });
    });
    const wait = (fn, arg) => page.waitForFunction(fn, arg, { timeout: 20000 });
    await wait(() => window.opens === 1);
    console.log('ready');
    for (let round = 1; ; round++) {
      const cmd = await next();
      if (!cmd || cmd.startsWith('done')) break;
      // "expect N OPENS": wait until N events were seen over OPENS connections.
      const [, n, opens] = cmd.split(' ').map(Number);
      await wait(([n, opens]) => window.seen.length >= n && window.opens >= opens, [n, opens]);
      console.log('seen ' + n);
    }
    const r = await page.evaluate(() => ({ seen: window.seen, opens: window.opens, gaps: window.gaps }));
    for (const s of r.seen) console.log('event ' + s.split(':').slice(0, 2).join(':'));
    console.log('opens ' + r.opens + ' gaps ' + r.gaps);
  } finally {
    await browser.close();
    rl.close();
  }
})().then(() => process.exit(0), (e) => { console.error(String(e)); process.exit(1); });

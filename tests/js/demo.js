// demo.js URL SCREENSHOT SSE_PUB - the demo page in a real Chromium, against
// an ssed started with --max-body 100 --history 2 and four events already
// on the topic "default" (the first one's id in FIRST_ID):
//  - ?last_event_id=FIRST_ID resumes from an id ssed no longer holds: the
//    ssed-gap is shown;
//  - the connection state; a message typed in the page, and a typed one from
//    sse-pub, each with its time, type and id; another topic;
//  - a send over --max-body shows its error.
// Prints one line per check; exits non-zero on any failure.
const { execFileSync } = require('child_process');
const { launch } = require('./browser');

const [url, shot, ssePub] = process.argv.slice(2);
const T = { timeout: 15000 };

(async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
    await page.goto(url + '?last_event_id=' + process.env.FIRST_ID, T);
    await page.waitForFunction(() => document.getElementById('state').className === 'open', null, T);
    console.log('state ' + await page.textContent('#state'));
    await page.waitForSelector('li.gap', T);
    console.log('gap ' + await page.textContent('li.gap .type') + ': ' + await page.textContent('li.gap .data'));
    await page.fill('#types', 'message,note');
    await page.dispatchEvent('#types', 'change');
    await page.fill('#msg', 'typed in the page');
    await page.click('#go');
    await page.waitForSelector('li:has-text("typed in the page")', T);
    execFileSync(ssePub, ['-e', 'note', '-i', 'n-1', url + 'events', 'from sse-pub']);
    await page.waitForSelector('li:has-text("from sse-pub")', T);
    for (const li of await page.$$('#log li:not(.gap)')) {
      const f = await li.$$eval('span', (s) => s.map((e) => e.textContent));
      console.log('event ' + f[0].replace(/^\d\d:\d\d:\d\d\.\d{3}$/, 'TIME') + '|' + f[1] + '|' +
                  (f[2] === 'n-1' ? f[2] : /^\d+$/.test(f[2]) ? 'NUM' : f[2]) + '|' + f[3]);
    }
    await page.fill('#msg', 'x'.repeat(200));
    await page.click('#go');
    await page.waitForFunction(() => document.getElementById('error').textContent !== '', null, T);
    console.log('error ' + await page.textContent('#error'));
    await page.screenshot({ path: shot });
    await page.fill('#topic', 'other');
    await page.click('#sub');
    await page.waitForFunction(() => document.getElementById('state').textContent === 'connected to /events/other', null, T);
    execFileSync(ssePub, [url + 'events/other', 'on another topic']);
    await page.waitForSelector('li:has-text("on another topic")', T);
    console.log('state ' + await page.textContent('#state'));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(String(e)); process.exit(1); });

// node-es.mjs URL N - Node's eventsource package on URL: prints "open" on
// every (re)connection and each event as "TYPE DATA-as-JSON LAST-EVENT-ID",
// for message, note and ssed-gap events, and exits 0 after N of them.
import { EventSource } from 'eventsource';

const [url, n] = [process.argv[2], Number(process.argv[3])];
const es = new EventSource(url);
let seen = 0;
es.onopen = () => console.log('open');
for (const type of ['message', 'note', 'ssed-gap']) {
  es.addEventListener(type, (e) => {
    console.log(`${type} ${JSON.stringify(e.data)} ${e.lastEventId}`);
    if (++seen === n) {
      es.close();
      process.exit(0);
    }
  });
}
setTimeout(() => { console.log('timed out'); process.exit(1); }, 60000);

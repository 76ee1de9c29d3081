/*
 * page.c - the demo page served at /: pick a topic, see each of its events
 * with its time, type and id, publish to it (POST /events/TOPIC), see the
 * connection's state, a send that fails, and ssed-gap. The page URL may
 * name ?topic=T and ?last_event_id=ID (resume after ID at first).
 * Self-contained: no external assets.
 */
#include "ssed.h"

#define PAGE \
"<!DOCTYPE html>\n" \
"<html lang=\"en\">\n" \
"<head>\n" \
"<meta charset=\"utf-8\">\n" \
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n" \
"<title>ssed</title>\n" \
"<style>\n" \
"body{font:16px/1.4 system-ui,sans-serif;max-width:48em;margin:2em auto;padding:0 1em;color:#222}\n" \
"h1{font-size:1.4em;margin-bottom:.2em}\n" \
"form{display:flex;flex-wrap:wrap;gap:.5em;margin:.8em 0;align-items:center}\n" \
"input{padding:.4em;font:inherit}#msg{flex:1;min-width:12em}\n" \
"button{padding:.4em 1em;font:inherit}\n" \
"#state{font-size:.9em;padding:.2em .5em;border-radius:.3em;background:#eee;display:inline-block}\n" \
"#state.open{background:#dfd}#state.connecting{background:#ffd}#state.closed{background:#fdd}\n" \
"#error{color:#a00;font-weight:bold;min-height:1.4em}\n" \
"#log{list-style:none;padding:0;font-family:ui-monospace,monospace;font-size:.9em}\n" \
"#log li{padding:.3em .5em;border-bottom:1px solid #eee;white-space:pre-wrap;display:flex;gap:1em}\n" \
"#log .time{color:#888}#log .type{color:#05a;min-width:6em}#log .id{color:#888;min-width:8em}\n" \
"#log li.gap{color:#a40;background:#fff4e0}\n" \
".hint{font-size:.85em;color:#666}\n" \
"</style>\n" \
"</head>\n" \
"<body>\n" \
"<h1>ssed</h1>\n" \
"<form id=\"watch\"><label>Topic <input id=\"topic\" value=\"default\" size=\"14\" pattern=\"[A-Za-z0-9._~-]{1,128}\" required></label>\n" \
"<label>Event types <input id=\"types\" value=\"message\" size=\"18\" title=\"EventSource delivers a named type only to its listeners: list the types to show, comma-separated\"></label>\n" \
"<button id=\"sub\">Watch</button> <span id=\"state\" class=\"connecting\">connecting&hellip;</span></form>\n" \
"<form id=\"send\"><input id=\"msg\" name=\"msg\" autocomplete=\"off\" placeholder=\"Publish to the topic\" autofocus>\n" \
"<input id=\"type\" size=\"10\" placeholder=\"type\" title=\"the event type (empty: message)\">\n" \
"<button id=\"go\">Send</button></form>\n" \
"<div id=\"error\" role=\"alert\"></div>\n" \
"<p class=\"hint\">Or from a shell: <code id=\"cmd\"></code></p>\n" \
"<ul id=\"log\"></ul>\n" \
"<script>\n" \
"const $ = (id) => document.getElementById(id);\n" \
"const log = $('log'), state = $('state'), error = $('error');\n" \
"const page = new URLSearchParams(location.search);\n" \
"let es = null, topic = '';\n" \
"function setState(cls, text) { state.className = cls; state.textContent = text; }\n" \
"function add(e, type, cls) {\n" \
"  const li = document.createElement('li');\n" \
"  const t = new Date();\n" \
"  for (const [c, v] of [['time', t.toTimeString().slice(0, 8) + '.' + String(t.getMilliseconds()).padStart(3, '0')],\n" \
"                        ['type', type], ['id', e.lastEventId || '-'], ['data', e.data]]) {\n" \
"    const s = document.createElement('span');\n" \
"    s.className = c;\n" \
"    s.textContent = v;\n" \
"    li.appendChild(s);\n" \
"  }\n" \
"  if (cls) li.className = cls;\n" \
"  log.prepend(li);\n" \
"}\n" \
"function listen(type) {\n" \
"  if (!es || es.types.has(type)) return;\n" \
"  es.types.add(type);\n" \
"  es.addEventListener(type, (e) => add(e, type));\n" \
"}\n" \
"function watch() {\n" \
"  if (es) es.close();\n" \
"  topic = $('topic').value;\n" \
"  let url = '/events/' + encodeURIComponent(topic);\n" \
"  if (!es && page.get('last_event_id')) url += '?last_event_id=' + encodeURIComponent(page.get('last_event_id'));\n" \
"  es = new EventSource(url);\n" \
"  es.types = new Set();\n" \
"  setState('connecting', 'connecting to /events/' + topic + '\\u2026');\n" \
"  es.onopen = () => setState('open', 'connected to /events/' + topic);\n" \
"  es.onerror = () => {\n" \
"    if (es.readyState === EventSource.CLOSED) setState('closed', 'closed: the server refused /events/' + topic);\n" \
"    else setState('connecting', 'reconnecting to /events/' + topic + '\\u2026');\n" \
"  };\n" \
"  es.addEventListener('ssed-gap', (e) =>\n" \
"    add({ lastEventId: e.lastEventId, data: 'events after id ' + e.data + ' were missed (no longer held)' }, 'ssed-gap', 'gap'));\n" \
"  for (const t of $('types').value.split(',')) if (t.trim()) listen(t.trim());\n" \
"  $('cmd').textContent = 'sse-pub ' + location.origin + '/events/' + topic + ' hello';\n" \
"}\n" \
"$('topic').value = page.get('topic') || 'default';\n" \
"$('watch').onsubmit = (e) => { e.preventDefault(); watch(); };\n" \
"$('types').onchange = () => { for (const t of $('types').value.split(',')) if (t.trim()) listen(t.trim()); };\n" \
"$('send').onsubmit = async (e) => {\n" \
"  e.preventDefault();\n" \
"  const box = $('msg'), type = $('type').value.trim();\n" \
"  if (!box.value) return;\n" \
"  if (type) listen(type);\n" \
"  let url = '/events/' + encodeURIComponent(topic);\n" \
"  if (type) url += '?event=' + encodeURIComponent(type);\n" \
"  try {\n" \
"    const r = await fetch(url, { method: 'POST', body: box.value, headers: { 'Content-Type': 'text/plain' } });\n" \
"    if (r.ok) { box.value = ''; error.textContent = ''; return; }\n" \
"    error.textContent = 'send failed: HTTP ' + r.status + ': ' + (await r.text()).trim();\n" \
"  } catch (err) {\n" \
"    error.textContent = 'send failed: the broker cannot be reached (' + err.message + ')';\n" \
"  }\n" \
"};\n" \
"watch();\n" \
"</script>\n" \
"</body>\n" \
"</html>\n"

const char page_html[] = PAGE;
const size_t page_html_len = sizeof(PAGE) - 1;

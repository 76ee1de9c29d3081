/*
 * page.c - the demo page served at /: an EventSource on /events that lists
 * each message, and a box that publishes through /broadcast?msg=.
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
"body{font:16px/1.4 system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em;color:#222}\n" \
"h1{font-size:1.4em}#state{font-size:.9em;color:#666}\n" \
"form{display:flex;gap:.5em;margin:1em 0}#msg{flex:1;padding:.4em;font:inherit}\n" \
"button{padding:.4em 1em;font:inherit}\n" \
"#log{list-style:none;padding:0;font-family:ui-monospace,monospace}\n" \
"#log li{padding:.3em .5em;border-bottom:1px solid #eee;white-space:pre-wrap}\n" \
"#log li.gap{color:#a40}\n" \
"</style>\n" \
"</head>\n" \
"<body>\n" \
"<h1>ssed</h1>\n" \
"<p id=\"state\">connecting&hellip;</p>\n" \
"<form id=\"send\"><input id=\"msg\" name=\"msg\" autocomplete=\"off\" placeholder=\"Say something to everyone\" autofocus>" \
"<button id=\"go\">Send</button></form>\n" \
"<ul id=\"log\"></ul>\n" \
"<script>\n" \
"const log = document.getElementById('log'), state = document.getElementById('state');\n" \
"function add(text, cls) {\n" \
"  const li = document.createElement('li');\n" \
"  li.textContent = text;\n" \
"  if (cls) li.className = cls;\n" \
"  log.prepend(li);\n" \
"}\n" \
"const es = new EventSource('/events');\n" \
"es.onopen = () => { state.textContent = 'connected to /events'; };\n" \
"es.onerror = () => { state.textContent = 'reconnecting\\u2026'; };\n" \
"es.onmessage = (e) => add(e.data);\n" \
"es.addEventListener('ssed-gap', () => add('(some events were missed)', 'gap'));\n" \
"document.getElementById('send').onsubmit = async (e) => {\n" \
"  e.preventDefault();\n" \
"  const box = document.getElementById('msg');\n" \
"  if (!box.value) return;\n" \
"  const r = await fetch('/broadcast?msg=' + encodeURIComponent(box.value));\n" \
"  if (r.ok) box.value = ''; else state.textContent = 'publish failed: ' + r.status;\n" \
"};\n" \
"</script>\n" \
"</body>\n" \
"</html>\n"

const char page_html[] = PAGE;
const size_t page_html_len = sizeof(PAGE) - 1;

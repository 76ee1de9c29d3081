/*
 * redis_script.c - the Lua script that is the Redis backend's one ordering
 * authority, and how to call it (contract in redis_script.h; the keys are
 * described in store_redis.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "redis_script.h"


/*
 * ARGV: 1 key prefix, 2 mode ("h": hello, "a": append), 3 the node's floor,
 * 4 a fresh epoch should none exist, 5 history, 6 history bytes, 7 history
 * age µs, 8 log length, 9 events, then per event topic, id ("" none, or
 * "=" and the id), frame, time_us ("0": Redis's clock, as the seq).
 * "h" replies {epoch, since, last, n}; "a" replies {first seq, n}.
 * Numbers are doubles in Lua: exact below 2^53, which µs reach in 2255.
 */
static const char script[] =
"local P = ARGV[1]\n"
"local function f(x) return string.format('%.0f', x) end\n"
"local t = redis.call('TIME')\n"
"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
"local floor = tonumber(ARGV[3])\n"
"local last = tonumber(redis.call('GET', P .. 'last') or '0')\n"
"local n = tonumber(redis.call('GET', P .. 'n') or '0')\n"
"local epoch = redis.call('GET', P .. 'epoch')\n"
"if not epoch then\n"
"  epoch = ARGV[4]\n"
"  local since = math.max(now, last + 1, floor + 1)\n"
"  redis.call('SET', P .. 'epoch', epoch)\n"
"  redis.call('SET', P .. 'since', f(since))\n"
"  last = since - 1\n"
"  redis.call('SET', P .. 'last', f(last))\n"
"end\n"
"if ARGV[2] == 'h' then\n"
"  return {epoch, redis.call('GET', P .. 'since'), f(last), f(n)}\n"
"end\n"
"local hist, hbytes, age = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])\n"
"local logmax, cnt = ARGV[8], tonumber(ARGV[9])\n"
"local seq = math.max(now, last + 1, floor + 1)\n"
"local first = seq\n"
"local touched = {}\n"
"local i = 10\n"
"for k = 1, cnt do\n"
"  local topic, id, frame, tu = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]\n"
"  i = i + 4\n"
"  if tu == '' or tu == '0' then tu = f(now) end\n"
"  local sid = f(seq) .. '-0'\n"
"  n = n + 1\n"
"  local idlen = #f(seq)\n"
"  if #id > 0 then\n"
"    id = string.sub(id, 2)\n"
"    idlen = #id\n"
"    redis.call('XADD', P .. 'log', 'MAXLEN', '~', logmax, sid, 't', topic, 'f', frame,\n"
"               'u', tu, 'p', f(last), 'n', f(n), 'i', id)\n"
"    redis.call('XADD', P .. 'h:' .. topic, sid, 'f', frame, 'u', tu, 'i', id)\n"
"  else\n"
"    redis.call('XADD', P .. 'log', 'MAXLEN', '~', logmax, sid, 't', topic, 'f', frame,\n"
"               'u', tu, 'p', f(last), 'n', f(n))\n"
"    redis.call('XADD', P .. 'h:' .. topic, sid, 'f', frame, 'u', tu)\n"
"  end\n"
"  redis.call('INCRBY', P .. 'b:' .. topic, #frame + idlen + 5)\n"
"  touched[topic] = true\n"
"  last = seq\n"
"  seq = seq + 1\n"
"end\n"
"redis.call('SET', P .. 'last', f(last))\n"
"redis.call('SET', P .. 'n', f(n))\n"
"redis.call('INCRBY', P .. 'count', cnt)\n"
"local cut = 0\n"
"if age > 0 then cut = now - age end\n"
"for topic in pairs(touched) do\n"
"  local hk, bk = P .. 'h:' .. topic, P .. 'b:' .. topic\n"
"  local len = redis.call('XLEN', hk)\n"
"  local bytes = tonumber(redis.call('GET', bk) or '0')\n"
"  local gone = 0\n"
"  redis.call('SADD', P .. 'topics', topic)\n"
"  while len > 0 do\n"
"    local old = redis.call('XRANGE', hk, '-', '+', 'COUNT', 1)[1]\n"
"    local fl, size, tu, idlen = old[2], 5, 0, nil\n"
"    for j = 1, #fl, 2 do\n"
"      if fl[j] == 'f' then size = size + #fl[j + 1]\n"
"      elseif fl[j] == 'u' then tu = tonumber(fl[j + 1])\n"
"      elseif fl[j] == 'i' then idlen = #fl[j + 1] end\n"
"    end\n"
"    size = size + (idlen or #string.match(old[1], '^%d+'))\n"
"    if not ((hist > 0 and len > hist) or (hbytes > 0 and bytes > hbytes and len > 1)\n"
"            or tu < cut) then break end\n"
"    redis.call('XDEL', hk, old[1])\n"
"    len = len - 1\n"
"    bytes = bytes - size\n"
"    gone = gone + 1\n"
"  end\n"
"  if len == 0 then\n"
"    redis.call('DEL', hk, bk)\n"
"    redis.call('SREM', P .. 'topics', topic)\n"
"  else\n"
"    redis.call('SET', bk, f(bytes))\n"
"  end\n"
"  if gone > 0 then redis.call('DECRBY', P .. 'count', gone) end\n"
"end\n"
"return {first, n}\n";

uint64_t redis_u64(const char *s, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for(i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	return v;
}

uint64_t redis_reply_u64(const redisReply *r)
{
	if(!r)
		return 0;
	if(r->type == REDIS_REPLY_INTEGER)
		return r->integer > 0 ? (uint64_t)r->integer : 0;
	if(r->type == REDIS_REPLY_STRING)
		return redis_u64(r->str, r->len);
	return 0;
}

const redisReply *redis_field(const redisReply *f, const char *name)
{
	size_t i;

	for(i = 0; i + 1 < f->elements; i += 2)
		if(f->element[i]->type == REDIS_REPLY_STRING && !strcmp(f->element[i]->str, name))
			return f->element[i + 1];
	return NULL;
}

static int load_script(redisContext *c, char *sha, char *err, size_t errlen)
{
	redisReply *r = redisCommand(c, "SCRIPT LOAD %s", script);
	int rc = -1;

	if(!r)
		snprintf(err, errlen, "redis: SCRIPT LOAD: %s", c->errstr);
	else if(r->type != REDIS_REPLY_STRING || r->len != 40)
		snprintf(err, errlen, "redis: SCRIPT LOAD: %s",
			 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	else {
		memcpy(sha, r->str, 40);
		sha[40] = 0;
		rc = 0;
	}
	freeReplyObject(r);
	return rc;
}

/*
 * Run the script with argv[3..argc) as ARGV (argv[0..3) are filled here);
 * sha is the connection's script digest, loaded when empty and again when
 * Redis forgot it (restart, SCRIPT FLUSH). The reply, or NULL with a
 * reason in errmsg: the connection failed (c->err set) or Redis answered
 * an error.
 */
redisReply *redis_script_run(redisContext *c, char *sha, const char **argv, size_t *argvlen,
		       int argc, char *errmsg, size_t errlen)
{
	int tries;

	for(tries = 0; tries < 2; tries++) {
		redisReply *r;

		if(!sha[0] && load_script(c, sha, errmsg, errlen))
			return NULL;
		argv[0] = "EVALSHA";
		argvlen[0] = 7;
		argv[1] = sha;
		argvlen[1] = 40;
		argv[2] = "0";
		argvlen[2] = 1;
		r = redisCommandArgv(c, argc, argv, argvlen);
		if(!r) {
			snprintf(errmsg, errlen, "redis: %s", c->errstr);
			return NULL;
		}
		if(r->type != REDIS_REPLY_ERROR)
			return r;
		snprintf(errmsg, errlen, "redis: %s", r->str);
		sha[0] = 0;
		if(strncmp(r->str, "NOSCRIPT", 8)) {
			freeReplyObject(r);
			return NULL;
		}
		freeReplyObject(r);
	}
	return NULL;
}

void redis_script_args(const struct store_limits *lim, const char *logmax, const char *mode,
		       uint64_t floor, size_t cnt, struct redis_head *h, const char **argv,
		       size_t *len)
{
	int i;

	snprintf(h->floor, sizeof(h->floor), "%" PRIu64, floor);
	random_hex(h->epoch, sizeof(h->epoch));
	snprintf(h->hist, sizeof(h->hist), "%zu", lim->history);
	snprintf(h->hbytes, sizeof(h->hbytes), "%zu", lim->history_bytes);
	snprintf(h->age, sizeof(h->age), "%" PRIu64, lim->history_age_us);
	snprintf(h->cnt, sizeof(h->cnt), "%zu", cnt);
	argv[3] = REDIS_PREFIX;
	argv[4] = mode;
	argv[5] = h->floor;
	argv[6] = h->epoch;
	argv[7] = h->hist;
	argv[8] = h->hbytes;
	argv[9] = h->age;
	argv[10] = logmax;
	argv[11] = h->cnt;
	for(i = 3; i < REDIS_HEAD_ARGS; i++)
		len[i] = strlen(argv[i]);
}

int redis_script_hello(redisContext *c, char *sha, const struct store_limits *lim,
		       const char *logmax, uint64_t floor, struct redis_hello *out,
		       char *err, size_t errlen)
{
	const char *argv[REDIS_HEAD_ARGS];
	size_t len[REDIS_HEAD_ARGS];
	struct redis_head h;
	redisReply *r;
	int rc = STORE_EIO;

	redis_script_args(lim, logmax, "h", floor, 0, &h, argv, len);
	r = redis_script_run(c, sha, argv, len, REDIS_HEAD_ARGS, err, errlen);
	if(!r)
		return c->err ? STORE_EDOWN : STORE_EIO;
	if(r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
	   r->element[0]->type == REDIS_REPLY_STRING) {
		snprintf(out->epoch, sizeof(out->epoch), "%.*s",
			 (int)r->element[0]->len, r->element[0]->str);
		out->since = redis_reply_u64(r->element[1]);
		out->last = redis_reply_u64(r->element[2]);
		out->n = redis_reply_u64(r->element[3]);
		rc = 0;
	} else {
		snprintf(err, errlen, "redis: unexpected reply to the hello script");
	}
	freeReplyObject(r);
	return rc;
}

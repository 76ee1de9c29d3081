/*
 * store_sqlite_log.c - the durable store's acknowledgement log, PATH-log:
 * what makes an append durable before SQLite has it.
 *
 * A round of appends is numbered and then written here with ONE pwrite
 * (and, with sync_full, one fdatasync): that is the moment it is
 * acknowledged. SQLite gets the same events later, in groups (a "fill",
 * store_sqlite.c), so a lone publisher pays one write per event instead
 * of a transaction. Every record is in SQLite once a fill has committed;
 * the log is then cut back to its header, though only once it has grown
 * past SQ_LOG_RESET, and records it still holds that SQLite has are
 * skipped when it is read back.
 *
 * The file: a 16-byte header ("ssed-log", then the format version 1 as
 * 8 bytes, little-endian), then records. A record is a 40-byte head of
 * little-endian integers - body length (u32), CRC-32 of the body (u32),
 * seq, time_us, pub_n (u64 each), then the body's part lengths: topic
 * (u16), id (u16, 0xffff for none), publisher key (u16), 2 bytes zero -
 * and the body: topic, id, frame, publisher key. The frame's length is
 * what is left of the body.
 *
 * Reading back (sq__log_read, at open) keeps every record up to the first
 * one that is cut short or does not carry a seq above the one before it
 * (the rest of a write that failed, which a later, shorter one overwrote
 * only in part): what follows was never acknowledged, or is damage. A
 * record whose body fails its CRC is skipped (its length still leads to
 * the next), and the seq of the next one that reads back is where history
 * is complete again. Both are reported in one line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store_sqlite_int.h"

#define HEAD 16
#define REC 40
#define NOID 0xffffu
#define MAX_LOG ((off_t)1 << 32)   /* a log larger than this is not ours */

static const char magic[HEAD] = "ssed-log\1\0\0\0\0\0\0\0";

static void put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static unsigned get16(const unsigned char *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static uint32_t get32(const unsigned char *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const unsigned char *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

int sq__log_open(struct sq *s, char *err, size_t errlen)
{
	char hdr[HEAD];
	struct stat sb;
	ssize_t n;

	if(snprintf(s->logpath, sizeof(s->logpath), "%s-log", s->path) >= (int)sizeof(s->logpath)) {
		sq__errf(err, errlen, "store %s: path too long", s->path);
		return -1;
	}
	s->logfd = open(s->logpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if(s->logfd < 0) {
		sq__errf(err, errlen, "store %s: cannot open %s: %s", s->path, s->logpath,
			 strerror(errno));
		return -1;
	}
	if(fstat(s->logfd, &sb) || !S_ISREG(sb.st_mode)) {
		sq__errf(err, errlen, "store %s: %s is not a regular file", s->path, s->logpath);
		return -1;
	}
	if(sb.st_size == 0) {
		/* New (or created by a crash before its header was written). */
		if(pwrite(s->logfd, magic, HEAD, 0) != HEAD) {
			sq__errf(err, errlen, "store %s: cannot write %s: %s", s->path,
				 s->logpath, errno ? strerror(errno) : "short write");
			return -1;
		}
		s->log_off = HEAD;
		return 0;
	}
	n = pread(s->logfd, hdr, HEAD, 0);
	if(n != HEAD || memcmp(hdr, magic, 8) || sb.st_size > MAX_LOG) {
		sq__errf(err, errlen, "store %s: %s is not ssed's acknowledgement log;"
			 " not touching it", s->path, s->logpath);
		return -1;
	}
	if(memcmp(hdr, magic, HEAD)) {
		sq__errf(err, errlen, "store %s: %s has an unknown format version;"
			 " not touching it", s->path, s->logpath);
		return -1;
	}
	s->log_off = (uint64_t)sb.st_size;  /* sq__log_read sets where records end */
	return 0;
}

void sq__log_close(struct sq *s)
{
	if(s->logfd >= 0)
		close(s->logfd);
	s->logfd = -1;
	free(s->logbuf);
	s->logbuf = NULL;
	s->logcap = 0;
}

static size_t rec_size(const struct store_ev *e)
{
	return REC + e->tlen + (e->id ? e->idlen : 0) + e->flen + (e->pub ? e->publen : 0);
}

int sq__log_write(struct sq *s, const struct pend *list)
{
	const struct pend *p;
	unsigned char *w;
	size_t need = 0, i, done;
	ssize_t n;

	for(p = list; p; p = p->next)
		for(i = 0; i < p->n; i++)
			need += rec_size(&p->ev[i]);
	if(need > s->logcap) {
		unsigned char *b = realloc(s->logbuf, need);

		if(!b)
			return ENOMEM;
		s->logbuf = b;
		s->logcap = need;
	}
	w = s->logbuf;
	for(p = list; p; p = p->next)
		for(i = 0; i < p->n; i++) {
			const struct store_ev *e = &p->ev[i];
			unsigned char *body = w + REC, *b = body;
			size_t ilen = e->id ? e->idlen : 0, plen = e->pub ? e->publen : 0;

			memcpy(b, e->topic, e->tlen);
			b += e->tlen;
			if(ilen)
				memcpy(b, e->id, ilen);
			b += ilen;
			if(e->flen)
				memcpy(b, e->frame, e->flen);
			b += e->flen;
			if(plen)
				memcpy(b, e->pub, plen);
			b += plen;
			put32(w, (uint32_t)(b - body));
			put32(w + 4, sq__crc(s->crctab, body, (size_t)(b - body)));
			put64(w + 8, e->seq);
			put64(w + 16, e->time_us);
			put64(w + 24, e->pub ? e->pub_n : 0);
			put16(w + 32, (unsigned)e->tlen);
			put16(w + 34, e->id ? (unsigned)e->idlen : NOID);
			put16(w + 36, (unsigned)plen);
			put16(w + 38, 0);
			w = b;
		}
	for(done = 0; done < need; done += (size_t)n) {
		n = pwrite(s->logfd, s->logbuf + done, need - done, (off_t)(s->log_off + done));
		if(n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if(n <= 0) {
			int e = n < 0 ? errno : ENOSPC;

			/* What did get written is not acknowledged: cut it off
			 * (and if that fails, the next write covers it, and a
			 * read stops at the seqs that go back). */
			if(ftruncate(s->logfd, (off_t)s->log_off) == 0)
				s->log_size = s->log_off;
			return e;
		}
	}
	if(s->sync_full && fdatasync(s->logfd)) {
		int e = errno;

		/* Refused, so not to be read back either. */
		if(ftruncate(s->logfd, (off_t)s->log_off) == 0)
			s->log_size = s->log_off;
		return e;
	}
	s->log_off += need;
	if(s->log_off > s->log_size)
		s->log_size = s->log_off;
	return 0;
}

int sq__log_reset(struct sq *s)
{
	if(ftruncate(s->logfd, HEAD))
		return errno;
	s->log_off = s->log_size = HEAD;
	return 0;
}

int sq__log_read(struct sq *s, sq_log_fn fn, void *ud, uint64_t *gap, char *warn, size_t wlen)
{
	uint64_t size = s->log_off, off = HEAD, prev = 0, tail;
	size_t skipped = 0;
	unsigned char *buf;
	int rc = 0, hole = 0;

	*gap = 0;
	s->log_size = size;
	if(size <= HEAD) {
		s->log_off = HEAD;
		return 0;
	}
	buf = malloc(size);
	if(!buf)
		return ENOMEM;
	if(pread(s->logfd, buf, size, 0) != (ssize_t)size) {
		free(buf);
		return errno ? errno : EIO;
	}
	while(off + REC <= size) {
		const unsigned char *h = buf + off, *body = h + REC;
		uint32_t blen = get32(h);
		unsigned tlen = get16(h + 32), ilen = get16(h + 34), plen = get16(h + 36);
		struct store_ev e;

		if(blen > size - off - REC)
			break;
		memset(&e, 0, sizeof(e));
		e.seq = get64(h + 8);
		if(sq__crc(s->crctab, body, blen) != get32(h + 4) ||
		   (uint64_t)tlen + (ilen == NOID ? 0 : ilen) + plen > blen) {
			/* Damage inside a record whose length still leads to
			 * one that reads back: skip it, and what follows
			 * comes after a gap. */
			skipped++;
			hole = 1;
			off += REC + blen;
			continue;
		}
		if(e.seq <= prev)
			break;
		if(hole && !*gap)
			*gap = e.seq;
		hole = 0;
		e.time_us = get64(h + 16);
		e.topic = (const char *)body;
		e.tlen = tlen;
		if(ilen != NOID) {
			e.id = (const char *)body + tlen;
			e.idlen = ilen;
		}
		e.frame = (const char *)body + tlen + (ilen == NOID ? 0 : ilen);
		e.flen = blen - tlen - (ilen == NOID ? 0 : ilen) - plen;
		if(plen) {
			e.pub = e.frame + e.flen;
			e.publen = plen;
			e.pub_n = get64(h + 24);
		}
		rc = fn(ud, &e);
		if(rc)
			break;
		prev = e.seq;
		off += REC + blen;
	}
	free(buf);
	if(rc)
		return rc;
	tail = off < size ? size - off : 0;
	s->log_off = off < size ? off : size;
	if(hole && !*gap)
		*gap = prev + 1;
	if((tail || skipped) && warn)
		snprintf(warn, wlen, "dropped %zu damaged records and %llu bytes at the end of %s"
			 " that do not read back (a write cut short and never acknowledged,"
			 " or damage)", skipped, (unsigned long long)tail, s->logpath);
	return 0;
}

/* ---- Open: what the log holds beyond the file goes into it. */

struct replay {
	struct sq *s;
	struct pend *head, **tail;
	size_t n;
};

static int replay_one(void *ud, const struct store_ev *e)
{
	struct replay *r = ud;
	struct pend *p;

	if(e->seq <= r->s->filled)
		return 0;  /* the file has it (or had it, and it was trimmed) */
	p = sq__pend_new(e, 1);
	if(!p)
		return ENOMEM;
	*r->tail = p;
	r->tail = &p->next;
	r->n++;
	return 0;
}

/* What the log holds beyond the file goes into it, in one transaction,
 * and the log is cut back. An SQLite code; -1 with err set when the log
 * cannot be read or its events cannot be written (nothing acknowledged is
 * given up: the log stays as it is). A warning about what did not read
 * back is added to err. */
int sq__log_replay(struct sq *s, char *err, size_t errlen)
{
	struct replay r = { s, NULL, &r.head, 0 };
	char warn[512] = "";
	uint64_t gap;
	int rc;

	rc = sq__log_read(s, replay_one, &r, &gap, warn, sizeof(warn));
	if(rc) {
		sq__pends_free(r.head);
		sq__errf(err, errlen, "store %s: cannot read %s: %s", s->path, s->logpath,
			 strerror(rc));
		return -1;
	}
	if(r.head) {
		struct pend *p;

		for(p = r.head; p; p = p->next)
			if(p->ev[0].seq > s->last)
				s->last = p->ev[0].seq;
		sq__prune(s, r.head, NULL, 0);
		rc = sq__write_batch(s, r.head, NULL);
		sq__pends_free(r.head);
		if(!rc && gap > s->since) {
			s->since = gap;  /* resumes from before a damaged record: gap */
			rc = sq__meta_set(s, 2, s->since);
		}
		if(rc) {
			sq__errf(err, errlen, "store %s: cannot write the %zu events of %s into it: %s",
				 s->path, r.n, s->logpath, sqlite3_errmsg(s->db));
			return -1;
		}
	}
	if(sq__log_reset(s)) {
		sq__errf(err, errlen, "store %s: cannot write %s: %s", s->path, s->logpath,
			 strerror(errno));
		return -1;
	}
	if(warn[0] && err && errlen) {
		size_t len = strlen(err);

		if(len)
			snprintf(err + len, errlen - len, "; %s", warn);
		else
			snprintf(err, errlen, "store %s: %s", s->path, warn);
	}
	return SQLITE_OK;
}

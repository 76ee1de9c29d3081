/*
 * store_sqlite_file.c - the durable store's file: what PATH is before
 * SQLite touches it (refusals), the schema and the pragmas, the check of
 * every row's checksum at open, and the salvage of a file SQLite finds
 * malformed. The contract is in store_sqlite.c's header comment.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_sqlite_int.h"

/* ---- Row checksums: CRC-32 (IEEE), eight bytes at a time. */

void sq__crc_init(uint32_t tab[8][256])
{
	uint32_t c, i, k;

	for(i = 0; i < 256; i++) {
		c = i;
		for(k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		tab[0][i] = c;
	}
	for(i = 0; i < 256; i++)
		for(k = 1; k < 8; k++)
			tab[k][i] = (tab[k - 1][i] >> 8) ^ tab[0][tab[k - 1][i] & 0xff];
}

static uint32_t crc_add(uint32_t tab[8][256], uint32_t c, const void *p, size_t n)
{
	const unsigned char *b = p;

	for(; n >= 8; n -= 8, b += 8) {
		uint32_t lo = c ^ ((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
				   (uint32_t)b[3] << 24);

		c = tab[7][lo & 0xff] ^ tab[6][(lo >> 8) & 0xff] ^ tab[5][(lo >> 16) & 0xff] ^
		    tab[4][lo >> 24] ^ tab[3][b[4]] ^ tab[2][b[5]] ^ tab[1][b[6]] ^ tab[0][b[7]];
	}
	while(n--)
		c = tab[0][(c ^ *b++) & 0xff] ^ (c >> 8);
	return c;
}

uint32_t sq__crc(uint32_t tab[8][256], const void *p, size_t n)
{
	return crc_add(tab, 0xffffffffu, p, n) ^ 0xffffffffu;
}

uint32_t sq__row_crc(uint32_t tab[8][256], const struct store_ev *e)
{
	unsigned char num[8 * 4];
	uint64_t v[4] = { e->seq, e->time_us, e->tlen, e->id ? e->idlen : NO_SEQ };
	uint32_t c;
	int i, k;

	for(i = 0; i < 4; i++)
		for(k = 0; k < 8; k++)
			num[i * 8 + k] = (unsigned char)(v[i] >> (8 * k));
	c = crc_add(tab, 0xffffffffu, num, sizeof(num));
	c = crc_add(tab, c, e->topic, e->tlen);
	if(e->id)
		c = crc_add(tab, c, e->id, e->idlen);
	c = crc_add(tab, c, e->frame, e->flen);
	return c ^ 0xffffffffu;
}

/* ---- Opening: refusals, schema, the check of every row, salvage. */

__attribute__((format(printf, 3, 4)))
void sq__errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if(!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* What PATH is, from its directory, its mode and its first 100 bytes,
 * without SQLite and without writing anything. */
enum kind sq__probe(const char *path, char *err, size_t errlen)
{
	unsigned char h[100];
	char dir[4096], *slash;
	struct stat sb;
	ssize_t n;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if(!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir] = '\0';
	if(access(dir, W_OK | X_OK)) {
		sq__errf(err, errlen, "store %s: cannot write in its directory: %s", path, strerror(errno));
		return K_REFUSED;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if(fd < 0) {
		if(errno == ENOENT)
			return K_NEW;
		sq__errf(err, errlen, "store %s: cannot open it for writing: %s", path, strerror(errno));
		return K_REFUSED;
	}
	if(fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(fd);
		sq__errf(err, errlen, "store %s: not a regular file", path);
		return K_REFUSED;
	}
	n = pread(fd, h, sizeof(h), 0);
	close(fd);
	if(n == 0)
		return K_NEW;
	if(n < (ssize_t)sizeof(h) || memcmp(h, "SQLite format 3", 16)) {
		sq__errf(err, errlen, "store %s: not an ssed store (not an SQLite database); left untouched", path);
		return K_REFUSED;
	}
	if(be32(h + 68) != APP_ID) {
		sq__errf(err, errlen, "store %s: an SQLite database but not an ssed store (application_id %#x);"
		     " left untouched", path, be32(h + 68));
		return K_REFUSED;
	}
	if(be32(h + 60) != SCHEMA) {
		sq__errf(err, errlen, "store %s: schema version %u, this ssed knows only %d; left untouched",
		     path, be32(h + 60), SCHEMA);
		return K_REFUSED;
	}
	return K_OURS;
}

int sq__trims_load(struct sq *s)
{
	sqlite3_stmt *q;
	struct topic *t;
	int rc;

	rc = sqlite3_prepare_v2(s->db, "SELECT topic, seq FROM trim", -1, &q, NULL);
	if(rc)
		return rc;
	while((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *name = sqlite3_column_blob(q, 0);
		int len = sqlite3_column_bytes(q, 0);
		uint64_t seq = (uint64_t)sqlite3_column_int64(q, 1);

		t = name && len > 0 ? sq__topic_get(s, name, (size_t)len, 0) : NULL;
		/* Only below what the topic holds: a row that says more is
		 * not believed (the floor would hide a gap). */
		if(t && sq__oldest(t) && seq < sq__oldest(t)->seq)
			t->trimmed = t->trimmed0 = seq;
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int sq__is_damage(int rc)
{
	return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

void sq__db_close(struct sq *s)
{
	sqlite3_stmt **st[] = { &s->ins, &s->del, &s->meta, &s->begin, &s->commit, &s->rollback,
				&s->mark, &s->prune, &s->trimset, &s->trimdel };
	size_t i;

	for(i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		sqlite3_finalize(*st[i]);
		*st[i] = NULL;
	}
	if(s->db)
		sqlite3_close(s->db);
	s->db = NULL;
}

static int meta_get(sqlite3 *db, int key, uint64_t *v)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k=?1", -1, &st, NULL);
	if(rc)
		return rc;
	sqlite3_bind_int(st, 1, key);
	rc = sqlite3_step(st);
	if(rc == SQLITE_ROW) {
		*v = (uint64_t)sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Open (or create) the file at path and prepare the statements. */
int sq__db_open(struct sq *s, const char *path, int create, int sync_full)
{
	char sql[1024];
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if(rc)
		return rc;
	sqlite3_extended_result_codes(s->db, 1);
	rc = sqlite3_exec(s->db, "PRAGMA locking_mode=EXCLUSIVE", NULL, NULL, NULL);
	/* 2 KiB pages: a lone publisher's commit writes one page to the
	 * WAL, and with 4 KiB ones one request per event went a fifth slower
	 * (bench/README.md). */
	if(!rc && create) {
		snprintf(sql, sizeof(sql),
			 "PRAGMA page_size=2048; PRAGMA auto_vacuum=INCREMENTAL; PRAGMA application_id=%d; PRAGMA user_version=%d;"
			 "BEGIN;"
			 "CREATE TABLE ev(seq INTEGER PRIMARY KEY, topic BLOB NOT NULL, time_us INTEGER NOT NULL,"
			 " sz INTEGER NOT NULL, id BLOB, frame BLOB NOT NULL, crc INTEGER NOT NULL);"
			 "CREATE TABLE meta(k INTEGER PRIMARY KEY, v INTEGER NOT NULL);"
			 "INSERT INTO meta VALUES(1, 0), (2, %lld), (3, 0);"
			 "COMMIT;", APP_ID, SCHEMA, (long long)s->clock(s->clock_ud));
		rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	}
	if(!rc) {
		rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
		if(!rc) {
			rc = sqlite3_step(st);
			if(rc == SQLITE_ROW)
				rc = strcmp((const char *)sqlite3_column_text(st, 0), "wal") ? SQLITE_CANTOPEN : 0;
			sqlite3_finalize(st);
		}
	}
	if(!rc) {
		snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s; PRAGMA journal_size_limit=%d;"
			 " PRAGMA cache_size=-16384; PRAGMA wal_autocheckpoint=1000",
			 sync_full ? "FULL" : "NORMAL", WAL_LIMIT);
		rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	}
	/* Publishers' highest numbers (pubmark.h), one row per key, the
	 * newest SQ_MARKS kept. Added to schema 1 without a new version: an
	 * older ssed never reads the table, and a store it made gets it here. */
	if(!rc)
		rc = sqlite3_exec(s->db, "CREATE TABLE IF NOT EXISTS pub(key BLOB PRIMARY KEY,"
				  " n INTEGER NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID",
				  NULL, NULL, NULL);
	/* Each topic's newest deleted row, so that a resume from it after a
	 * restart is no gap. Added to schema 1 like pub. */
	if(!rc)
		rc = sqlite3_exec(s->db, "CREATE TABLE IF NOT EXISTS trim(topic BLOB PRIMARY KEY,"
				  " seq INTEGER NOT NULL) WITHOUT ROWID", NULL, NULL, NULL);
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO trim(topic, seq) VALUES(?1, ?2)",
					-1, &s->trimset, NULL);
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "DELETE FROM trim WHERE topic=?1", -1, &s->trimdel, NULL);
	if(!rc)
		rc = meta_get(s->db, 1, &s->last);
	if(!rc)
		rc = meta_get(s->db, 2, &s->since);
	/* The seq ceiling (SQ_CEILING_US): absent in a store made before it. */
	if(!rc && meta_get(s->db, 4, &s->ceiling) != SQLITE_OK)
		s->ceiling = 0;
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "INSERT INTO ev(seq, topic, time_us, sz, id, frame, crc)"
					" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &s->ins, NULL);
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "DELETE FROM ev WHERE seq=?1", -1, &s->del, NULL);
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta(k, v) VALUES(?1, ?2)", -1,
					&s->meta, NULL);
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "INSERT INTO pub(key, n, seq) VALUES(?1, ?2, ?3)"
					" ON CONFLICT(key) DO UPDATE SET n=max(n, excluded.n),"
					" seq=excluded.seq", -1, &s->mark, NULL);
	if(!rc) {
		char prune[160];

		snprintf(prune, sizeof(prune), "DELETE FROM pub WHERE seq < (SELECT seq FROM pub"
			 " ORDER BY seq DESC LIMIT 1 OFFSET %d)", SQ_MARKS - 1);
		rc = sqlite3_prepare_v2(s->db, prune, -1, &s->prune, NULL);
	}
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "BEGIN IMMEDIATE", -1, &s->begin, NULL);
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->commit, NULL);
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "ROLLBACK", -1, &s->rollback, NULL);
	return rc;
}

/* Read a row of "SELECT seq, topic, time_us, sz, id, frame, crc". */
static int row_ok(struct sq *s, sqlite3_stmt *q, struct store_ev *e)
{
	e->seq = (uint64_t)sqlite3_column_int64(q, 0);
	e->topic = sqlite3_column_blob(q, 1);
	e->tlen = (size_t)sqlite3_column_bytes(q, 1);
	e->time_us = (uint64_t)sqlite3_column_int64(q, 2);
	e->id = sqlite3_column_type(q, 4) == SQLITE_NULL ? NULL : sqlite3_column_blob(q, 4);
	e->idlen = e->id ? (size_t)sqlite3_column_bytes(q, 4) : 0;
	if(sqlite3_column_type(q, 4) != SQLITE_NULL && !e->id)
		e->id = "";
	e->frame = sqlite3_column_blob(q, 5);
	e->flen = (size_t)sqlite3_column_bytes(q, 5);
	if(!e->topic)
		e->topic = "";
	if(!e->frame)
		e->frame = "";
	return (uint32_t)sqlite3_column_int64(q, 6) == sq__row_crc(s->crctab, e);
}

#define ROW_SQL "SELECT seq, topic, time_us, sz, id, frame, crc FROM ev"

/* Check every row's checksum, count the topics, drop the bad rows. */
int sq__verify(struct sq *s, char *warn, size_t wlen)
{
	uint64_t *bad = NULL, lo = NO_SEQ, hi = 0;
	size_t nbad = 0, cap = 0, i;
	sqlite3_stmt *q;
	struct topic *t;
	int rc;

	sq__topics_free(s);
	s->events = 0;
	rc = sqlite3_prepare_v2(s->db, ROW_SQL " ORDER BY seq", -1, &q, NULL);
	if(rc)
		return rc;
	while((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_ev e;

		if(row_ok(s, q, &e)) {
			t = sq__topic_get(s, e.topic, e.tlen, 1);
			if(!t || sq__topic_push(s, t, e.seq, e.time_us, (uint64_t)sqlite3_column_int64(q, 3))) {
				rc = SQLITE_NOMEM;
				break;
			}
		} else {
			if(nbad == cap) {
				uint64_t *b = realloc(bad, (cap = cap ? cap * 2 : 64) * sizeof(*b));

				if(!b) {
					rc = SQLITE_NOMEM;
					break;
				}
				bad = b;
			}
			bad[nbad++] = e.seq;
			lo = e.seq < lo ? e.seq : lo;
			hi = e.seq > hi ? e.seq : hi;
		}
		if(e.seq > s->last)
			s->last = e.seq;
	}
	sqlite3_finalize(q);
	q = NULL;
	if(rc != SQLITE_DONE)
		goto out;
	sq__topics_commit(s);
	rc = SQLITE_OK;
	if(!nbad)
		goto out;
	rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "DELETE FROM ev WHERE seq=?1", -1, &q, NULL);
	for(i = 0; !rc && i < nbad; i++) {
		sqlite3_bind_int64(q, 1, (sqlite3_int64)bad[i]);
		rc = sq__run(q);
	}
	sqlite3_finalize(q);
	if(hi + 1 > s->since)
		s->since = hi + 1;
	if(!rc)
		rc = sq__meta_set(s, 2, s->since);
	if(!rc)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if(rc)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	else
		sq__errf(warn, wlen, "store %s: dropped %zu damaged event(s) (checksum mismatch), seq %llu to %llu",
		     s->path, nbad, (unsigned long long)lo, (unsigned long long)hi);
out:
	free(bad);
	return rc;
}

/*
 * Move the damaged file aside and copy every row that still reads back
 * (and passes its checksum) into a fresh file at s->path, in rowid order;
 * where a page cannot be read, seek further on (doubling the step) to
 * find the next one that can. Leaves s->db open on the fresh file.
 */
int sq__salvage(struct sq *s, int sync_full, const char *why, char *warn, size_t wlen)
{
	char dmg[4096], from[4096 + 8], to[4096 + 8], stamp[32];
	uint64_t pos = 0, skip, kept = 0, had = 0, last = 0, hi = 0, ceiling = 0;
	sqlite3_stmt *rd = NULL;
	sqlite3 *old = NULL;
	time_t now = time(NULL);
	struct tm tm;
	int rc, k, holes = 0, wal = 1;

	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
	snprintf(dmg, sizeof(dmg), "%s.damaged-%s", s->path, stamp);
	for(k = 2; !access(dmg, F_OK) && k < 100; k++)
		snprintf(dmg, sizeof(dmg), "%s.damaged-%s-%d", s->path, stamp, k);
	if(!access(dmg, F_OK) || rename(s->path, dmg))
		return SQLITE_CANTOPEN;
	snprintf(from, sizeof(from), "%s-wal", s->path);
	snprintf(to, sizeof(to), "%s-wal", dmg);
	if(rename(from, to)) {
		if(errno != ENOENT)
			return SQLITE_CANTOPEN;
		wal = 0;
	}

	rc = sq__db_open(s, s->path, 1, sync_full);
	if(rc)
		return rc;
	if(!sqlite3_open_v2(dmg, &old, SQLITE_OPEN_READWRITE, NULL)) {
		/* Read what is left even when the file is shorter than its
		 * header says, and leave it (and its WAL) as it is: no -shm
		 * file, and no checkpoint into it at close (without a WAL of
		 * its own, the empty one SQLite makes goes away at close). */
		sqlite3_db_config(old, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, wal, NULL);
		sqlite3_exec(old, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA writable_schema=ON", NULL, NULL, NULL);
		meta_get(old, 1, &last);
		meta_get(old, 3, &had);
		meta_get(old, 4, &ceiling);
		sqlite3_prepare_v2(old, ROW_SQL " WHERE seq>=?1 ORDER BY seq", -1, &rd, NULL);
	}
	rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
	while(rd && !rc) {
		int src;

		sqlite3_bind_int64(rd, 1, (sqlite3_int64)pos);
		while(!rc && (src = sqlite3_step(rd)) == SQLITE_ROW) {
			struct store_ev e;
			int i;

			pos = (uint64_t)sqlite3_column_int64(rd, 0) + 1;
			if(!row_ok(s, rd, &e))
				continue;
			for(i = 0; i < 7; i++)
				sqlite3_bind_value(s->ins, i + 1, sqlite3_column_value(rd, i));
			rc = sq__run(s->ins);
			kept++;
			hi = e.seq > hi ? e.seq : hi;
		}
		sqlite3_reset(rd);
		if(rc || src == SQLITE_DONE)
			break;
		/* An unreadable page: find the next row that reads back. */
		for(k = 0, skip = 1; k < 62 && pos + skip <= INT64_MAX; k++, skip *= 2) {
			sqlite3_bind_int64(rd, 1, (sqlite3_int64)(pos + skip));
			src = sqlite3_step(rd);
			sqlite3_reset(rd);
			if(src == SQLITE_ROW)
				break;
		}
		if(src != SQLITE_ROW || ++holes > 100000)
			break;
		pos += skip;
	}
	sqlite3_finalize(rd);
	sqlite3_close(old);
	/* The rows lost may have held the newest seqs: above the ceiling no
	 * seq was given out. */
	s->last = last > hi ? last : hi;
	/* What the file holds: the acknowledgement log's records above it
	 * are written into it next (sq__log_replay), not taken as filled. */
	s->filled = s->last;
	if(ceiling > s->last)
		s->last = ceiling;
	s->since = s->last + 1;
	if(!rc)
		rc = sq__meta_set(s, 1, s->last);
	if(!rc)
		rc = sq__meta_set(s, 2, s->since);
	if(!rc)
		rc = sq__meta_set(s, 3, kept);
	if(!rc)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if(rc)
		return rc;
	if(had > kept)
		sq__errf(warn, wlen, "store %s was damaged (%s): kept %llu of at least %llu events; the damaged file is %s",
		     s->path, why, (unsigned long long)kept, (unsigned long long)had, dmg);
	else
		sq__errf(warn, wlen, "store %s was damaged (%s): kept %llu events; the damaged file is %s",
		     s->path, why, (unsigned long long)kept, dmg);
	return SQLITE_OK;
}


/*
 * sse.h - libsse, the Server-Sent Events framing library of ssed.
 *
 * Two halves that share one format (the WHATWG HTML "text/event-stream"):
 *   - the encoder turns an event or a comment into wire bytes;
 *   - the parser is a push parser that turns bytes, fed in slices of any
 *     size, into dispatched events, following the "interpret an event
 *     stream" rules of the HTML standard to the letter.
 *
 * The library does no I/O, keeps no global state and never prints. Every
 * function that can fail returns 0 or a negative enum sse_err value;
 * sse_strerror() names it. Objects are not shared between threads by the
 * library: a caller that shares one must lock around it.
 */
#ifndef SSE_H
#define SSE_H

#include <stddef.h>
#include <stdint.h>

#define SSE_VERSION "0.1.0"

enum sse_err {
	SSE_OK = 0,
	SSE_ENOMEM = -1,   /* an allocation failed */
	SSE_EINVAL = -2,   /* a bad argument (NULL where one is required, ...) */
	SSE_ETOOBIG = -3,  /* a line, an event or a buffer would pass its cap */
	SSE_EFIELD = -4,   /* an id or event type holds CR or LF, or an id NUL */
	SSE_EABORT = -5    /* a parser callback returned non-zero */
};

/*
 * sse_strerror - a short, constant, lower-case description of an error
 * code ("line or event too long", ...). Unknown codes give "unknown error".
 */
const char *sse_strerror(int err);

/* ------------------------------------------------------------------------
 * Capped byte buffer
 *
 * The only allocator for bytes that grow from outside input. A buffer has
 * a hard maximum set when it is initialised; an append that would pass it
 * fails with SSE_ETOOBIG and leaves the buffer as it was. The contents are
 * always followed by a NUL byte (not counted in len) once anything has been
 * appended, so text can be used as a C string where it holds no NUL.
 */
struct sse_buf {
	char *data;     /* NULL until the first append */
	size_t len;     /* bytes in use */
	size_t cap;     /* bytes allocated (the NUL terminator included) */
	size_t max;     /* the most len may ever be */
};

/* sse_buf_init - an empty buffer that may grow to max bytes. No allocation. */
void sse_buf_init(struct sse_buf *b, size_t max);

/* sse_buf_append - add n bytes. 0, SSE_ETOOBIG or SSE_ENOMEM. */
int sse_buf_append(struct sse_buf *b, const void *p, size_t n);

/* sse_buf_reserve - make room for n more bytes without changing len. */
int sse_buf_reserve(struct sse_buf *b, size_t n);

/* sse_buf_clear - set len to 0; the memory is kept for reuse. */
void sse_buf_clear(struct sse_buf *b);

/* sse_buf_free - release the memory; the buffer is empty and reusable. */
void sse_buf_free(struct sse_buf *b);

/* ------------------------------------------------------------------------
 * Encoder
 */

/*
 * An event to encode. Every string is a pointer and a length, so ids and
 * data may be checked for NUL. A NULL pointer means "no such field".
 *
 *   id, id_len        the "id:" field. NULL: no id line. An empty id (len 0)
 *                     is written as "id:" and resets the reader's last id.
 *                     CR, LF or NUL in it: SSE_EFIELD.
 *   event, event_len  the "event:" field. NULL or empty: no event line (the
 *                     reader sees type "message"). CR or LF: SSE_EFIELD.
 *   data, data_len    the payload. Every LF, CR or CRLF in it starts a new
 *                     "data:" line, so the reader gets the same bytes back
 *                     with each line end turned into LF. NULL is taken as
 *                     empty data; one "data:" line is always written, so an
 *                     event with empty data is still dispatched.
 *   retry             the "retry:" field in milliseconds; negative: none.
 */
struct sse_event {
	const char *id;
	size_t id_len;
	const char *event;
	size_t event_len;
	const char *data;
	size_t data_len;
	long long retry;
};

/*
 * sse_check_field - 0 when text (len bytes) may be sent as an event type
 * (is_id == 0) or an id (is_id != 0), SSE_EFIELD when it may not.
 */
int sse_check_field(const char *text, size_t len, int is_id);

/*
 * sse_frame_size - the exact number of bytes sse_frame_event() appends for
 * ev, or 0 when ev is invalid (sse_frame_event says which error).
 */
size_t sse_frame_size(const struct sse_event *ev);

/*
 * sse_frame_event - append the wire form of ev to out, ending in the blank
 * line that dispatches it. Fields are written in the order id, event,
 * retry, data. On any error nothing is appended.
 * Returns 0, SSE_EFIELD, SSE_EINVAL, SSE_ETOOBIG or SSE_ENOMEM.
 */
int sse_frame_event(struct sse_buf *out, const struct sse_event *ev);

/*
 * sse_frame_write - write the wire form of ev into dst, which has room for
 * size bytes (sse_frame_size() tells how many are needed). No NUL is added.
 * Returns the number of bytes written, or SSE_EFIELD, SSE_EINVAL or
 * SSE_ETOOBIG (dst too small; nothing is written on any error).
 */
long long sse_frame_write(char *dst, size_t size, const struct sse_event *ev);

/*
 * sse_frame_comment - append text as comment lines (": text"), one per line
 * of text (LF, CR and CRLF split), then no blank line: a comment dispatches
 * nothing. Empty text gives ":\n". Returns 0, SSE_ETOOBIG or SSE_ENOMEM.
 */
int sse_frame_comment(struct sse_buf *out, const char *text, size_t len);

/* ------------------------------------------------------------------------
 * Parser
 */

/*
 * A dispatched event, valid only during the callback that receives it.
 * Every string is also NUL-terminated (data may hold NUL bytes of its own).
 *
 *   type   the event type: "message" when the event set none
 *   data   the data lines joined with LF, the final LF removed
 *   id     the stream's last event id after this event (it persists
 *          across events until an "id" field changes it)
 *   has_id non-zero when this event itself carried an "id" field
 */
struct sse_parsed {
	const char *type;
	size_t type_len;
	const char *data;
	size_t data_len;
	const char *id;
	size_t id_len;
	int has_id;
};

/*
 * What the parser calls. Any member may be NULL. A callback that returns
 * non-zero stops the parser: sse_parser_feed() returns SSE_EABORT and the
 * parser stays failed until sse_parser_reset().
 *
 *   on_event    each dispatched event
 *   on_comment  each comment line, with the text after the ':' (one
 *               leading space removed, as for a field value)
 *   on_retry    each valid "retry" field, in milliseconds (saturated at
 *               UINT64_MAX)
 */
struct sse_callbacks {
	int (*on_event)(void *ud, const struct sse_parsed *ev);
	int (*on_comment)(void *ud, const char *text, size_t len);
	int (*on_retry)(void *ud, uint64_t ms);
	void *ud;
};

/* Defaults for the caps, used where sse_parser_new() is passed 0. */
#define SSE_DEFAULT_MAX_LINE  (64 * 1024)
#define SSE_DEFAULT_MAX_EVENT (1024 * 1024)

struct sse_parser;

/*
 * sse_parser_new - a parser that calls cb (copied). max_line caps the bytes
 * of one line, max_event the bytes of one event's data; 0 picks the
 * defaults above. Past a cap, feeding fails with SSE_ETOOBIG. Returns NULL
 * when out of memory. Free it with sse_parser_free().
 */
struct sse_parser *sse_parser_new(const struct sse_callbacks *cb,
				  size_t max_line, size_t max_event);

/*
 * sse_parser_feed - push len bytes of the stream. Bytes may be split
 * anywhere: the events dispatched never depend on how the stream is cut.
 * Invalid UTF-8 is replaced by U+FFFD exactly as a browser's decoder does.
 * Returns 0, or the parser's sticky error: SSE_ETOOBIG, SSE_ENOMEM or
 * SSE_EABORT. After an error every further feed returns the same error.
 */
int sse_parser_feed(struct sse_parser *p, const void *buf, size_t len);

/*
 * sse_parser_end - the stream ended. A pending, unterminated event is
 * dropped, as the standard requires, and the parser is ready for a new
 * stream (as after sse_parser_reset). Returns the sticky error, if any.
 */
int sse_parser_end(struct sse_parser *p);

/*
 * sse_parser_reset - forget the current stream (pending line and event,
 * byte-order-mark state, error) but keep the last event id, as a
 * reconnecting EventSource does.
 */
void sse_parser_reset(struct sse_parser *p);

/*
 * sse_parser_last_id - the last event id string (the one a reconnecting
 * client sends as Last-Event-ID); *len gets its length. Never NULL.
 */
const char *sse_parser_last_id(const struct sse_parser *p, size_t *len);

/*
 * sse_parser_set_last_id - set the last event id (as --last-event-id
 * does). Returns 0, SSE_ETOOBIG or SSE_ENOMEM.
 */
int sse_parser_set_last_id(struct sse_parser *p, const char *id, size_t len);

/* sse_parser_free - release p. NULL is allowed. */
void sse_parser_free(struct sse_parser *p);

/*
 * sse_event_from_parsed - the event to encode so that a reader sees what
 * the parser dispatched: the id only when the event carried one itself,
 * no event line for the type "message", no retry. e points into p's
 * strings, so it is valid as long as p is (during the callback).
 */
void sse_event_from_parsed(struct sse_event *e, const struct sse_parsed *p);

#endif /* SSE_H */

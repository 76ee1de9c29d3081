/*
 * out.h - what sse-cat does with each event it keeps: write it to stdout
 * in a format (data, json, raw or a template), or run a command with it
 * (--exec). One write and one flush per event; the command runs to its end
 * before the next event.
 */
#ifndef SSE_CAT_OUT_H
#define SSE_CAT_OUT_H

#include "sse.h"

enum out_kind { OUT_DATA, OUT_JSON, OUT_RAW, OUT_TEMPLATE };

struct out {
	enum out_kind kind;
	const char *tmpl;         /* OUT_TEMPLATE: the template */
	const char *exec;         /* --exec CMD, or NULL */
	struct sse_buf buf;       /* the formatted event */
};

/*
 * out_init - data format, no command; buf may grow to max bytes (a whole
 * event escaped as JSON: keep it several times the largest event).
 */
void out_init(struct out *o, size_t max);

/*
 * out_format - take --format's value: data, json, raw, or a template with
 * % fields and \ escapes (see sse-cat(1)). Returns 0, or -1 with the
 * reason in err.
 */
int out_format(struct out *o, const char *arg, char *err, size_t err_size);

/* The results of out_event. */
enum { OUT_OK = 0, OUT_CLOSED = 1, OUT_FAILED = 2 };

/*
 * out_event - print ev (or run the command with it). Returns OUT_OK,
 * OUT_CLOSED when stdout is closed (| head: end quietly) or OUT_FAILED
 * when the event could not be formatted or the command not started (an
 * error was printed).
 */
int out_event(struct out *o, const struct sse_parsed *ev);

void out_free(struct out *o);

#endif

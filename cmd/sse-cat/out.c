/*
 * out.c - formatting and running commands for sse-cat (see out.h).
 *
 * Templates follow mosquitto_sub -F: %-fields and \-escapes, nothing added
 * at the end (a template says \n itself). The receive time is taken once
 * per event, when the parser dispatches it.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "json.h"
#include "out.h"

extern char **environ;

void out_init(struct out *o, size_t max)
{
	memset(o, 0, sizeof(*o));
	sse_buf_init(&o->buf, max);
}

void out_free(struct out *o)
{
	sse_buf_free(&o->buf);
}

static const char fields[] = "%dieltUj";

int out_format(struct out *o, const char *arg, char *err, size_t err_size)
{
	const char *s;

	if(!strcmp(arg, "data") || !strcmp(arg, "json") || !strcmp(arg, "raw")) {
		o->kind = arg[0] == 'd' ? OUT_DATA : arg[0] == 'j' ? OUT_JSON : OUT_RAW;
		return 0;
	}
	if(!strpbrk(arg, "%\\")) {
		snprintf(err, err_size, "'%s' is not data, json, raw or a template with %% fields", arg);
		return -1;
	}
	for(s = arg; *s; s++) {
		if(*s == '%' && (!s[1] || !strchr(fields, s[1]))) {
			snprintf(err, err_size, "'%%%.1s' is not a template field (%%d %%i %%e %%l %%t %%U %%j %%%%)", s + 1);
			return -1;
		}
		if(*s == '\\' && (!s[1] || !strchr("ntr0e\\", s[1]))) {
			snprintf(err, err_size, "'\\%.1s' is not a template escape (\\n \\t \\r \\0 \\e \\\\)", s + 1);
			return -1;
		}
		if(*s == '%' || *s == '\\')
			s++;
	}
	o->kind = OUT_TEMPLATE;
	o->tmpl = arg;
	return 0;
}

static int json_line(struct sse_buf *b, const struct sse_parsed *ev)
{
	sse_buf_append(b, "{\"id\":", 6);
	json_str(b, ev->id, ev->id_len);
	sse_buf_append(b, ",\"event\":", 9);
	json_str(b, ev->type, ev->type_len);
	sse_buf_append(b, ",\"data\":", 8);
	json_str(b, ev->data, ev->data_len);
	return sse_buf_append(b, "}", 1);
}

static int templ(struct out *o, const struct sse_parsed *ev)
{
	struct sse_buf *b = &o->buf;
	struct timespec ts;
	struct tm tm;
	char t[64], c;
	const char *s;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	for(s = o->tmpl; *s && !rc; s++) {
		if(*s != '%' && *s != '\\') {
			rc = sse_buf_append(b, s, 1);
			continue;
		}
		c = *++s;
		if(s[-1] == '\\') {
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' :
			    c == '0' ? '\0' : c == 'e' ? '\033' : '\\';
			rc = sse_buf_append(b, &c, 1);
			continue;
		}
		switch(c) {
		case 'd': rc = sse_buf_append(b, ev->data, ev->data_len); break;
		case 'i': rc = sse_buf_append(b, ev->id, ev->id_len); break;
		case 'e': rc = sse_buf_append(b, ev->type, ev->type_len); break;
		case 'l':
			snprintf(t, sizeof(t), "%zu", ev->data_len);
			rc = sse_buf_append(b, t, strlen(t));
			break;
		case 't':
			gmtime_r(&ts.tv_sec, &tm);
			strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
			snprintf(t + strlen(t), sizeof(t) - strlen(t), ".%03ldZ", ts.tv_nsec / 1000000);
			rc = sse_buf_append(b, t, strlen(t));
			break;
		case 'U':
			snprintf(t, sizeof(t), "%lld.%09ld", (long long)ts.tv_sec, ts.tv_nsec);
			rc = sse_buf_append(b, t, strlen(t));
			break;
		case 'j': rc = json_line(b, ev); break;
		default: rc = sse_buf_append(b, "%", 1); break;
		}
	}
	return rc;
}

static int format(struct out *o, const struct sse_parsed *ev)
{
	struct sse_event e;

	sse_buf_clear(&o->buf);
	switch(o->kind) {
	case OUT_DATA:
		sse_buf_append(&o->buf, ev->data, ev->data_len);
		return sse_buf_append(&o->buf, "\n", 1);
	case OUT_JSON:
		json_line(&o->buf, ev);
		return sse_buf_append(&o->buf, "\n", 1);
	case OUT_RAW:
		sse_event_from_parsed(&e, ev);
		return sse_frame_event(&o->buf, &e);
	case OUT_TEMPLATE:
		return templ(o, ev);
	}
	return 0;
}

/* Write all of s to fd; a reader that stops early (EPIPE) is its business. */
static void write_all(int fd, const char *s, size_t n)
{
	ssize_t w;

	while(n) {
		w = write(fd, s, n);
		if(w < 0 && errno == EINTR)
			continue;
		if(w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Run --exec's command with the event: data then a newline on its stdin,
 * SSE_ID and SSE_EVENT in its environment; wait for it to end. */
static int run(struct out *o, const struct sse_parsed *ev)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { "sh", "-c", (char *)o->exec, NULL };
	char **env, *id = NULL, *type = NULL;
	size_t n = 0, i, j = 0;
	int fds[2], st, rc = OUT_FAILED;
	pid_t pid;

	while(environ[n])
		n++;
	env = calloc(n + 3, sizeof(*env));
	if(!env || asprintf(&id, "SSE_ID=%s", ev->id) < 0 ||
	   asprintf(&type, "SSE_EVENT=%s", ev->type) < 0) {
		errorf("--exec: out of memory");
		goto out;
	}
	for(i = 0; i < n; i++)
		if(strncmp(environ[i], "SSE_ID=", 7) && strncmp(environ[i], "SSE_EVENT=", 10))
			env[j++] = environ[i];
	env[j++] = id;
	env[j++] = type;
	if(pipe(fds)) {
		errorf("--exec: cannot make a pipe: %s", strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	fflush(stdout);
	st = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[0]);
	if(st) {
		close(fds[1]);
		errorf("--exec: cannot run /bin/sh: %s", strerror(st));
		goto out;
	}
	write_all(fds[1], ev->data, ev->data_len);
	write_all(fds[1], "\n", 1);
	close(fds[1]);
	while(waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if(WIFEXITED(st) && WEXITSTATUS(st))
		warnf("--exec: the command exited with status %d (event id '%s')",
		      WEXITSTATUS(st), ev->id);
	else if(WIFSIGNALED(st))
		warnf("--exec: the command was killed by signal %d (event id '%s')",
		      WTERMSIG(st), ev->id);
	rc = OUT_OK;
out:
	free(id);
	free(type);
	free(env);
	return rc;
}

int out_event(struct out *o, const struct sse_parsed *ev)
{
	if(o->exec)
		return run(o, ev);
	if(format(o, ev)) {
		errorf("an event of %zu bytes is too large to format", ev->data_len);
		return OUT_FAILED;
	}
	if(fwrite(o->buf.data, 1, o->buf.len, stdout) != o->buf.len || fflush(stdout))
		return OUT_CLOSED;
	return OUT_OK;
}

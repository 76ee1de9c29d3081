/*
 * state.c - the --state file (see state.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "state.h"

int state_load(const char *path, char *id, size_t size, size_t *len)
{
	ssize_t n;
	int fd;

	*len = 0;
	id[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if(fd < 0 && errno == ENOENT)
		return 0;
	if(fd < 0) {
		errorf("--state: cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	do
		n = read(fd, id, size);
	while(n < 0 && errno == EINTR);
	close(fd);
	if(n < 0) {
		errorf("--state: cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if(n > 0 && id[n - 1] == '\n')
		n--;
	if((size_t)n >= size || memchr(id, '\n', (size_t)n) || memchr(id, '\r', (size_t)n) ||
	   memchr(id, '\0', (size_t)n)) {
		errorf("--state: %s does not hold an event id (one line of at most %zu bytes)",
		       path, size - 1);
		return -1;
	}
	id[n] = '\0';
	*len = (size_t)n;
	return 0;
}

int state_save(const char *path, const char *id, size_t len)
{
	char tmp[4096];
	int fd, bad;

	if(snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errorf("--state: the path is too long");
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if(fd < 0) {
		errorf("--state: cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	bad = write(fd, id, len) != (ssize_t)len || write(fd, "\n", 1) != 1;
	if(close(fd))
		bad = 1;
	if(bad || rename(tmp, path)) {
		errorf("--state: cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/*
 * peer.c - the client address for the log, through a trusted proxy.
 * The contract is in peer.h.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "peer.h"

int peer_trust_ok(const char *spec)
{
	unsigned char a[sizeof(struct in6_addr)];

	return !strcmp(spec, "unix") || inet_pton(AF_INET, spec, a) == 1 ||
	       inet_pton(AF_INET6, spec, a) == 1;
}

/* Whether the peer at sa is the address spec names. */
static int is_trusted(const struct sockaddr *sa, const char *spec)
{
	struct in6_addr a6;
	struct in_addr a4;

	if(sa->sa_family == AF_UNIX)
		return !strcmp(spec, "unix");
	if(sa->sa_family == AF_INET && inet_pton(AF_INET, spec, &a4) == 1)
		return !memcmp(&((const struct sockaddr_in *)sa)->sin_addr, &a4, sizeof(a4));
	if(sa->sa_family == AF_INET6 && inet_pton(AF_INET6, spec, &a6) == 1)
		return !memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, &a6, sizeof(a6));
	return 0;
}

/* The last comma-separated entry of xff, trimmed, into out; "?" if odd. */
static void last_hop(const char *xff, char *out, size_t n)
{
	const char *p = strrchr(xff, ','), *end;
	size_t len;

	p = p ? p + 1 : xff;
	p += strspn(p, " \t");
	end = p + strlen(p);
	while(end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	len = (size_t)(end - p);
	if(!len || len > 64 || len >= n || strspn(p, "0123456789abcdefABCDEF.:[]") < len) {
		snprintf(out, n, "?");
		return;
	}
	memcpy(out, p, len);
	out[len] = '\0';
}

void peer_name(struct MHD_Connection *c, const char *trusted, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;
	char host[NI_MAXHOST], client[80];
	const char *xff;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	sa = ci ? ci->client_addr : NULL;
	if(!sa || sa->sa_family == AF_UNIX)
		snprintf(host, sizeof(host), "unix");
	else if(getnameinfo(sa, sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
			    : sizeof(struct sockaddr_in), host, sizeof(host), NULL, 0, NI_NUMERICHOST))
		snprintf(host, sizeof(host), "?");
	xff = trusted ? MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For") : NULL;
	if(xff && sa && is_trusted(sa, trusted)) {
		last_hop(xff, client, sizeof(client));
		snprintf(out, n, "%s via %s", client, host);
		return;
	}
	if(xff && !sa && !strcmp(trusted, "unix")) {
		last_hop(xff, client, sizeof(client));
		snprintf(out, n, "%s via unix", client);
		return;
	}
	snprintf(out, n, "%s", host);
}

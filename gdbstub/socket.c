/* gdbstub/socket.c: a session on a connected socket (send what the session
 * queued, poll the socket and, while the guest runs, the target's stop fd)
 * and the TCP side: listen, accept. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gdbstub/gdbstub_int.h"

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* gdb went away: let the guest go on (or the replay end) as after a
 * detach. A running target is stopped first, so that detach finds it
 * parked. */
static void peer_gone(struct gdbstub *g)
{
	if (g->running && g->ops->interrupt) {
		g->ops->interrupt(g->t);
		struct gdbstub_stop s;
		while (g->ops->wait_stop(g->t, &s) == 0) {
			struct pollfd sp = { .fd = g->ops->stop_fd(g->t), .events = POLLIN };
			poll(&sp, 1, 1000);
		}
		g->running = false;
	}
	if (g->ops->detach)
		g->ops->detach(g->t, false);
}

int gdbstub_serve_fd(struct gdbstub *g, int fd)
{
	static const size_t bufsz = 1 << 16;
	uint8_t *buf = malloc(bufsz);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (g->out.len) {
			rc = write_all(fd, g->out.data, g->out.len);
			rsp_buf_reset(&g->out);
			if (rc)
				break;
		}
		if (g->done)
			break;
		struct pollfd pf[2] = { { .fd = fd, .events = POLLIN } };
		nfds_t np = 1;
		if (g->running && g->ops->stop_fd) {
			pf[1].fd = g->ops->stop_fd(g->t);
			pf[1].events = POLLIN;
			np = 2;
		}
		if (poll(pf, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (np == 2 && (pf[1].revents & POLLIN)) {
			rc = gdbstub_target_stopped(g);
			if (rc < 0)
				break;
			continue;	/* send the stop reply first */
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(fd, buf, bufsz);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				rc = n < 0 ? -errno : 0;
				peer_gone(g);
				break;
			}
			rc = gdbstub_feed(g, buf, (size_t)n);
			if (rc < 0)
				break;
			rc = 0;
		}
	}
	free(buf);
	return rc;
}

int gdbstub_listen(const char *addr, int *lfd_out, struct vcr_err *err)
{
	char host[256] = "127.0.0.1";
	const char *port;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int lfd = -1, rc, one = 1;

	*lfd_out = -1;
	const char *colon = strrchr(addr, ':');
	if (colon) {
		size_t hl = (size_t)(colon - addr);
		if (hl >= sizeof(host))
			return vcr_err_set(err, -EINVAL, UINT64_MAX, "gdb address too long");
		if (hl) {
			memcpy(host, addr, hl);
			host[hl] = 0;
		}
		port = colon + 1;
	} else {
		port = addr;
	}
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "gdb address '%s': %s", addr,
				   gai_strerror(rc));
	lfd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		rc = vcr_err_set(err, -errno, UINT64_MAX, "socket: %s", strerror(errno));
		goto out;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, res->ai_addr, res->ai_addrlen) || listen(lfd, 1)) {
		rc = vcr_err_set(err, -errno, UINT64_MAX, "listen on %s: %s", addr,
				 strerror(errno));
		close(lfd);
		goto out;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
	if (!getsockname(lfd, (struct sockaddr *)&ss, &sl) &&
	    !getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof(hbuf), pbuf, sizeof(pbuf),
			 NI_NUMERICHOST | NI_NUMERICSERV))
		vcr_log("gdbstub: waiting for gdb on %s:%s", hbuf, pbuf);
	*lfd_out = lfd;
	rc = 0;
out:
	freeaddrinfo(res);
	return rc;
}

int gdbstub_accept_on(int lfd, int *fd_out, struct vcr_err *err)
{
	int fd, one = 1;

	*fd_out = -1;
	do {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return vcr_err_set(err, -errno, UINT64_MAX, "accept: %s", strerror(errno));
	/* One small packet per round trip: Nagle would add 40 ms to each. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	vcr_log("gdbstub: gdb connected");
	*fd_out = fd;
	return 0;
}

int gdbstub_accept(const char *addr, int *fd_out, struct vcr_err *err)
{
	int lfd, rc = gdbstub_listen(addr, &lfd, err);

	if (rc)
		return rc;
	rc = gdbstub_accept_on(lfd, fd_out, err);
	close(lfd);
	return rc;
}

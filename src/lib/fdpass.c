#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "fdpass.h"

/* Control-message room for FDPASS_MAX_FDS, aligned as cmsghdr needs. */
union fdpass_cbuf {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];
};

ssize_t fdpass_send(int fd, const struct iovec *iov, int iovcnt,
		    const int *fds, unsigned nfds)
{
	union fdpass_cbuf cbuf;
	struct msghdr mh;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = (struct iovec *)iov;
	mh.msg_iovlen = (size_t)iovcnt;
	if (nfds > 0) {
		if (nfds > FDPASS_MAX_FDS)
			abort();	/* caller bug: ipc caps fds per frame */
		/* zeroed so the padding the kernel copies is defined */
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Append the fds of one SCM_RIGHTS message; false if some did not fit. */
static bool fdpass_collect(struct cmsghdr *c, int *fds, unsigned *nfds_io,
			   unsigned cap)
{
	size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	const unsigned char *data = CMSG_DATA(c);
	bool fit = true;

	for (size_t i = 0; i < n; i++) {
		int rfd;
		memcpy(&rfd, data + i * sizeof(int), sizeof(int));
		if (*nfds_io < cap) {
			fds[(*nfds_io)++] = rfd;
		} else {
			close(rfd);
			fit = false;
		}
	}
	return fit;
}

ssize_t fdpass_recv(int fd, void *p, size_t len, int *fds, unsigned *nfds_io,
		    unsigned cap)
{
	union fdpass_cbuf cbuf;
	struct iovec iov = { p, len };
	struct msghdr mh;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof(cbuf.buf);
	/* CLOEXEC at receipt: no window where an exec'd child inherits it */
	ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return -1;

	bool lost = (mh.msg_flags & MSG_CTRUNC) != 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    !fdpass_collect(c, fds, nfds_io, cap))
			lost = true;
	}
	if (lost) {
		errno = EPROTO;
		return -1;
	}
	return n;
}

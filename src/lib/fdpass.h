#ifndef YOUJU_FDPASS_H
#define YOUJU_FDPASS_H
/*
 * fdpass: sendmsg()/recvmsg() on AF_UNIX stream sockets with file
 * descriptors attached as SCM_RIGHTS. The ipc layer's only syscall wrappers.
 *
 * Both calls use MSG_DONTWAIT, so they never block whatever the fd's
 * O_NONBLOCK flag says; callers wait with poll() or libevent.
 */
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Most fds one fdpass_send carries, and the room fdpass_recv offers the
 * kernel per call. */
#define FDPASS_MAX_FDS 16

/* sendmsg(iov) with fds[0..nfds) attached (nfds <= FDPASS_MAX_FDS) and
 * MSG_NOSIGNAL, so a dead peer is EPIPE rather than SIGPIPE. The kernel holds
 * its own references once any byte is sent: the caller closes its copies
 * after a positive return. Returns bytes sent or -1 with errno. */
ssize_t fdpass_send(int fd, const struct iovec *iov, int iovcnt,
		    const int *fds, unsigned nfds);

/* recvmsg() up to len bytes into p. Received fds (close-on-exec) are
 * appended to fds[*nfds_io..cap) and *nfds_io grows. Returns bytes read, 0 at
 * EOF, or -1 with errno; errno is EPROTO if fds were lost (the kernel
 * truncated them or they exceeded cap; those beyond cap are closed). */
ssize_t fdpass_recv(int fd, void *p, size_t len, int *fds, unsigned *nfds_io,
		    unsigned cap);

#endif

#ifndef LIAISON_CZEROMQ_SHIM_H
#define LIAISON_CZEROMQ_SHIM_H
#include <zmq.h>
#include <errno.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>
#include <poll.h>
#include <time.h>

/// ppoll(2) with a relative timeout in nanoseconds (Glibc's Swift module hides ppoll: it needs
/// _GNU_SOURCE). For waits shorter than zmq_poll's millisecond.
static inline int liaison_poll_ns(int fd, short events, long long nanoseconds) {
    struct pollfd item = { .fd = fd, .events = events, .revents = 0 };
    struct timespec t = { .tv_sec = (time_t)(nanoseconds / 1000000000LL), .tv_nsec = (long)(nanoseconds % 1000000000LL) };
    extern int ppoll(struct pollfd *, nfds_t, const struct timespec *, const void *);
    return ppoll(&item, 1, &t, 0);
}
#endif

/* See LICENSE file for copyright and license details. */
/* util.h: logging, time, socket and parsing helpers. Helpers return 0 or
 * -1 with errno set unless said otherwise. */
#ifndef UTIL_H
#define UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define BACKOFF_MAX 30000  /* ms: a doubling retry back-off stops growing here */

/* Prints "prescal: msg" to stderr and exits 1. A format ending in ':'
 * appends strerror(errno). Start-up only. */
_Noreturn void die(const char *fmt, ...);

/* Prints "prescal: msg" to stderr as one write; ':' as for die(). */
void warn(const char *fmt, ...);

/* Returns the text for errno e, thread-safe (strerror_r, GNU or XSI);
 * it may be written into buf[0..n). */
const char *errstr(int e, char *buf, size_t n);

/* Returns CLOCK_MONOTONIC in milliseconds. */
int64_t now_ms(void);

/* Returns the time of day (CLOCK_REALTIME) in milliseconds since 1970. */
int64_t wall_ms(void);

/* Writes all n bytes (blocking, restarts on EINTR). Returns 0 or -1. */
int writeall(int fd, const void *buf, size_t n);

/* Sets SO_RCVTIMEO/SO_SNDTIMEO in ms (0 leaves one unchanged). */
int sock_timeouts(int fd, int rcv_ms, int snd_ms);

/* Splits "[host:]port" or "[v6]:port" into host (defhost if absent) and
 * port. Returns 0, or -1 if malformed (no errno). */
int split_hostport(const char *s, const char *defhost, char *host, size_t hn,
                   char *port, size_t pn);

/* Resolves host:port (numeric or by name) for a TCP socket. Returns 0, or
 * -1 with msg (a static string from gai_strerror or "bad address"). */
int resolve_addr(const char *hostport, const char *defhost, struct sockaddr_storage *ss,
                 socklen_t *sslen, const char **msg);

/* Opens a listening TCP socket (SO_REUSEADDR, CLOEXEC). Returns the fd or -1. */
int listen_tcp(const struct sockaddr_storage *ss, socklen_t sslen, int backlog);

/* Connects a TCP socket, giving up after timeout_ms. Returns a blocking
 * CLOEXEC fd with TCP_NODELAY, or -1 with errno (ETIMEDOUT on time-out). */
int connect_tcp(const struct sockaddr_storage *ss, socklen_t sslen, int timeout_ms);

/* Formats ss as "ip:port" into buf. Returns buf. */
char *addr_str(const struct sockaddr_storage *ss, char *buf, size_t n);

/* Parses a decimal int in [lo, hi]. Returns 0, or -1 if not one. */
int parse_int(const char *s, long lo, long hi, long *out);

/* A bounded writer into p[0..cap), which the caller owns. over is sticky:
 * what does not fit is dropped, and so is everything after it. Nothing
 * here allocates or blocks. */
struct buf {
	char *p;
	size_t len, cap;
	int over;
};

/* Appends s[0..n), or sets over if it does not fit. */
void buf_addn(struct buf *b, const char *s, size_t n);

/* Appends the string s, or sets over. */
void buf_add(struct buf *b, const char *s);

/* Appends printf output, or sets over unless it fits with a NUL after it. */
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Returns 1 if c may be in a container or instance set name, else 0. */
int name_valid_char(int c);

/* Returns 1 if s is a container or instance set name of at most max bytes,
 * [a-zA-Z0-9][a-zA-Z0-9_.-]*, else 0 (also for NULL). */
int name_valid(const char *s, size_t max);

#endif

/* See LICENSE file for copyright and license details. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tclient.h"
#include "util.h"

#define FDMAX 65536

/* started processes: slots owned here, used by one thread */
static struct tproc procs[TPROC_MAX];
static struct tconn *open_[FDMAX];   /* by fd; an entry is its opener thread's */

/* response bodies not yet freed, so that tresp_free_all() can after a
 * failed test; any thread, under bodies_lock */
#define NBODIES 256
static pthread_mutex_t bodies_lock = PTHREAD_MUTEX_INITIALIZER;
static char *bodies[NBODIES];

/* replaces old (NULL: none) by new (NULL: none) in bodies[] */
static void
track(char *old, char *new)
{
	pthread_mutex_lock(&bodies_lock);
	for (int i = 0; i < NBODIES; i++) {
		if (bodies[i] == old) {
			bodies[i] = new;
			break;
		}
	}
	pthread_mutex_unlock(&bodies_lock);
}

void
msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* not instrumented: it runs over every byte of the GiB tests */
uint64_t
__attribute__((no_sanitize("address", "undefined")))
fnv1a64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ull;
	return h;
}

/* processes */

struct tproc *
tproc_start(char *const argv[], char *const env[], int scope)
{
	struct tproc *p;
	int fd;

	for (p = procs; p < procs + TPROC_MAX && p->used; p++)
		;
	if (p == procs + TPROC_MAX)
		return NULL;
	memset(p, 0, sizeof(*p));
	snprintf(p->log, sizeof(p->log), "/tmp/prescal-integ-XXXXXX");
	if ((fd = mkstemp(p->log)) < 0)
		return NULL;
	fflush(stdout);
	fflush(stderr);
	if ((p->pid = fork()) < 0) {
		close(fd);
		unlink(p->log);
		return NULL;
	}
	if (p->pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		signal(SIGPIPE, SIG_DFL);
		for (int i = 0; env && env[i]; i++)
			putenv(env[i]);
		execv(argv[0], argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd);
	p->scope = scope;
	p->used = 1;
	return p;
}

int
tproc_wait(struct tproc *p, int timeout_ms)
{
	int64_t until = now_ms() + timeout_ms;
	pid_t r;

	if (p->pid == 0)
		return 0;
	for (;;) {
		r = waitpid(p->pid, &p->status, WNOHANG);
		if (r == p->pid) {
			p->pid = 0;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return -1;
		if (now_ms() >= until)
			return -1;
		msleep(5);
	}
}

void
tproc_stop(struct tproc *p, int sig)
{
	if (!p || !p->used)
		return;
	if (p->pid > 0) {
		kill(p->pid, sig);
		if (tproc_wait(p, sig == SIGKILL ? 5000 : 2000) < 0) {
			kill(p->pid, SIGKILL);
			tproc_wait(p, 5000);
		}
	}
	if (!getenv("INTEG_KEEP_LOGS"))
		unlink(p->log);
	p->used = 0;
}

int
tproc_term(struct tproc *p, int timeout_ms)
{
	char log[4096];
	int code = -1;

	if (!p || !p->used)
		return 0;
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		tproc_wait(p, timeout_ms);
	}
	if (p->pid == 0 && WIFEXITED(p->status))
		code = WEXITSTATUS(p->status);
	if (code != 0)
		fprintf(stderr, "tproc_term: %s exit %d after SIGTERM:\n%s\n", p->log, code,
		        tproc_log(p, log, sizeof(log)));
	tproc_stop(p, SIGKILL);
	return code;
}

void
tproc_stop_scope(int scope)
{
	for (int i = 0; i < TPROC_MAX; i++)
		if (procs[i].used && procs[i].scope == scope)
			tproc_stop(&procs[i], SIGKILL);
}

char *
tproc_log(const struct tproc *p, char *buf, size_t n)
{
	ssize_t k = 0;
	int fd;

	buf[0] = '\0';
	if ((fd = open(p->log, O_RDONLY | O_CLOEXEC)) < 0)
		return buf;
	k = read(fd, buf, n - 1);
	buf[k > 0 ? k : 0] = '\0';
	close(fd);
	return buf;
}

int
tproc_log_count(const struct tproc *p, const char *needle)
{
	static char log[1 << 20];
	const char *s = tproc_log(p, log, sizeof(log));
	int n = 0;

	while ((s = strstr(s, needle))) {
		n++;
		s += strlen(needle);
	}
	return n;
}

int
tproc_wait_log(struct tproc *p, const char *needle, int n, int timeout_ms)
{
	int64_t until = now_ms() + timeout_ms;

	for (;;) {
		if (tproc_log_count(p, needle) >= n)
			return 0;
		if (now_ms() >= until || (p->pid > 0 && tproc_wait(p, 0) == 0))
			return -1;
		msleep(20);
	}
}

int
trun(char *const argv[], int timeout_ms, char *out, size_t n)
{
	struct tproc *p;
	int st = -1;

	if (!(p = tproc_start(argv, NULL, -1)))
		return -1;
	if (tproc_wait(p, timeout_ms) == 0 && WIFEXITED(p->status))
		st = WEXITSTATUS(p->status);
	tproc_log(p, out, n);
	tproc_stop(p, SIGKILL);
	return st;
}

/* sockets */

static void
loopback(struct sockaddr_in *a, int port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd, port = -1;

	loopback(&a, 0);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &al) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

int
tcp_connect(int port, int timeout_ms)
{
	struct sockaddr_storage ss;
	struct sockaddr_in a;

	loopback(&a, port);
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, &a, sizeof(a));
	return connect_tcp(&ss, sizeof(a), timeout_ms);
}

int
wait_port(int port, int timeout_ms)
{
	int64_t until = now_ms() + timeout_ms;
	int fd;

	do {
		if ((fd = tcp_connect(port, 200)) >= 0) {
			close(fd);
			return 0;
		}
		msleep(10);
	} while (now_ms() < until);
	return -1;
}

struct tconn *
tconn_open(int port, int timeout_ms)
{
	struct tconn *c;
	int fd;

	if ((fd = tcp_connect(port, timeout_ms)) < 0)
		return NULL;
	if (!(c = malloc(sizeof(*c)))) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->off = c->len = 0;
	if (fd < FDMAX)
		open_[fd] = c;
	return c;
}

void
tconn_close(struct tconn *c)
{
	if (!c)
		return;
	if (c->fd >= 0 && c->fd < FDMAX)
		open_[c->fd] = NULL;
	close(c->fd);
	free(c);
}

void
tconn_close_all(void)
{
	for (int fd = 0; fd < FDMAX; fd++)
		if (open_[fd])
			tconn_close(open_[fd]);
}

int
tsend(struct tconn *c, const void *p, size_t n)
{
	const char *s = p;
	ssize_t k;

	while (n > 0) {
		k = send(c->fd, s, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

int
tsends(struct tconn *c, const char *s)
{
	return tsend(c, s, strlen(s));
}

/* one recv into p after poll; bytes, 0 EOF, -1 error, -2 time-out */
static ssize_t
recv_wait(int fd, char *p, size_t n, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t k;
	int r;

	if (timeout_ms < 0)
		timeout_ms = 0;
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -2;
	if (r < 0)
		return -1;
	do
		k = recv(fd, p, n, MSG_DONTWAIT);
	while (k < 0 && errno == EINTR);
	if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -2;
	return k;
}

ssize_t
tread_some(struct tconn *c, char *buf, size_t n, int timeout_ms)
{
	size_t k;

	if (c->off < c->len) {
		k = MIN(n, c->len - c->off);
		memcpy(buf, c->buf + c->off, k);
		c->off += k;
		return (ssize_t)k;
	}
	return recv_wait(c->fd, buf, n, timeout_ms);
}

int
tclosed(struct tconn *c, int timeout_ms)
{
	char b[256];
	ssize_t k;

	if (c->off < c->len)
		return -1;
	k = recv_wait(c->fd, b, sizeof(b), timeout_ms);
	if (k == -2)
		return 0;
	return k > 0 ? -1 : 1;
}

/* reads more into c->buf; bytes, 0 EOF, -1 error, -2 time-out, -3 full */
static ssize_t
fill(struct tconn *c, int64_t deadline)
{
	ssize_t k;

	if (c->off == c->len) {
		c->off = c->len = 0;
	} else if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len == sizeof(c->buf))
		return -3;
	k = recv_wait(c->fd, c->buf + c->len, sizeof(c->buf) - c->len,
	              (int)(deadline - now_ms()));
	if (k > 0)
		c->len += (size_t)k;
	return k;
}

static int
fail(struct tresp *r, const char *why, ssize_t k)
{
	r->gone = k == 0 || (k == -1 && errno == ECONNRESET);
	const char *what = k == 0 ? "eof" : k == -2 ? "time-out" : k == -3 ? "buffer full" :
	                   k == -1 ? strerror(errno) : "";
	snprintf(r->err, sizeof(r->err), "%s%s%s", why, *what ? ": " : "", what);
	return -1;
}

static int
append(struct tresp *r, const char *p, size_t n)
{
	char *t;
	size_t cap;

	r->blen += n;
	if (r->sink) {
		r->sink(r->sinkarg, p, n);
		return 0;
	}
	/* grow to the next power of two above blen */
	for (cap = 64; cap <= r->blen; cap *= 2)
		;
	if (!(t = realloc(r->body, cap)))
		return -1;
	track(r->body, t);
	r->body = t;
	memcpy(r->body + r->blen - n, p, n);
	r->body[r->blen] = '\0';
	return 0;
}

/* a line without its CRLF; *line points into c->buf and stays valid until
 * the next fill. Returns 0 or what fill() returned. */
static ssize_t
getline_(struct tconn *c, int64_t deadline, char **line, size_t *n)
{
	char *p;
	ssize_t k;

	for (;;) {
		p = memchr(c->buf + c->off, '\n', c->len - c->off);
		if (p) {
			*line = c->buf + c->off;
			*n = (size_t)(p - *line);
			if (*n > 0 && p[-1] == '\r')
				(*n)--;
			c->off = (size_t)(p - c->buf) + 1;
			return 0;
		}
		if ((k = fill(c, deadline)) <= 0)
			return k == 0 ? -4 : k;  /* -4: EOF, told apart from "got a line" */
	}
}

static int
body_chunked(struct tconn *c, struct tresp *r, int64_t deadline)
{
	unsigned long long size;
	char *line, *end, tmp[32];
	size_t n, k, tl = 0;
	ssize_t e;

	for (;;) {
		if ((e = getline_(c, deadline, &line, &n)))
			return fail(r, "chunk size", e == -4 ? 0 : e);
		snprintf(tmp, sizeof(tmp), "%.*s", (int)MIN(n, sizeof(tmp) - 1), line);
		errno = 0;
		size = strtoull(tmp, &end, 16);
		if (end == tmp || errno || (*end && *end != ';' && *end != ' ' && *end != '\t'))
			return fail(r, "bad chunk size", 1);
		if (size == 0)
			break;
		while (size > 0) {
			if (c->off == c->len && (e = fill(c, deadline)) <= 0)
				return fail(r, "chunk data", e);
			k = (size_t)MIN((unsigned long long)(c->len - c->off), size);
			if (append(r, c->buf + c->off, k) < 0)
				return fail(r, "out of memory", 1);
			c->off += k;
			size -= k;
		}
		if ((e = getline_(c, deadline, &line, &n)))
			return fail(r, "chunk CRLF", e == -4 ? 0 : e);
		if (n != 0)
			return fail(r, "chunk data longer than its size", 1);
	}
	/* trailer section */
	for (;;) {
		if ((e = getline_(c, deadline, &line, &n)))
			return fail(r, "trailer", e == -4 ? 0 : e);
		if (n == 0)
			return 0;
		if (tl + n + 3 < sizeof(r->trailer)) {
			memcpy(r->trailer + tl, line, n);
			memcpy(r->trailer + tl + n, "\r\n", 3);
			tl += n + 2;
		}
	}
}

static int
body_length(struct tconn *c, struct tresp *r, unsigned long long left, int64_t deadline)
{
	size_t k;
	ssize_t e;

	while (left > 0) {
		if (c->off == c->len && (e = fill(c, deadline)) <= 0)
			return fail(r, "body", e);
		k = (size_t)MIN((unsigned long long)(c->len - c->off), left);
		if (append(r, c->buf + c->off, k) < 0)
			return fail(r, "out of memory", 1);
		c->off += k;
		left -= k;
	}
	return 0;
}

static int
body_close(struct tconn *c, struct tresp *r, int64_t deadline)
{
	ssize_t e;

	for (;;) {
		if (c->off < c->len) {
			if (append(r, c->buf + c->off, c->len - c->off) < 0)
				return fail(r, "out of memory", 1);
			c->off = c->len;
		}
		e = fill(c, deadline);
		if (e == 0 || (e == -1 && errno == ECONNRESET)) {
			r->eof = 1;
			return 0;
		}
		if (e < 0)
			return fail(r, "close-delimited body", e);
	}
}

/* whether the last element of the list v is token */
static int
last_is(const char *v, const char *token)
{
	const char *p = strrchr(v, ',');

	p = p ? p + 1 : v;
	p += strspn(p, " \t");
	return strncasecmp(p, token, strlen(token)) == 0 &&
	       strspn(p + strlen(token), " \t") == strlen(p + strlen(token));
}

int
tresp_read(struct tconn *c, struct tresp *r, int is_head, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	char *end, v[128];
	unsigned long long clen = 0;
	int hascl = 0;
	ssize_t e;

	r->minor = r->status = 0;
	r->headlen = r->blen = 0;
	r->head[0] = r->trailer[0] = r->err[0] = '\0';
	r->body = NULL;
	r->eof = r->gone = 0;
	r->framing = TF_NONE;
	/* the head */
	for (;;) {
		end = memmem(c->buf + c->off, c->len - c->off, "\r\n\r\n", 4);
		if (end)
			break;
		if ((e = fill(c, deadline)) <= 0)
			return fail(r, c->len > c->off ? "partial head" : "no response", e);
	}
	r->headlen = (size_t)(end + 4 - (c->buf + c->off));
	if (r->headlen >= sizeof(r->head))
		return fail(r, "head too long", 1);
	memcpy(r->head, c->buf + c->off, r->headlen);
	r->head[r->headlen] = '\0';
	c->off += r->headlen;
	if (strncmp(r->head, "HTTP/1.", 7) || r->head[8] != ' ' ||
	    sscanf(r->head + 9, "%3d", &r->status) != 1)
		return fail(r, "bad status line", 1);
	r->minor = r->head[7] - '0';
	/* framing, RFC 9112 6.3 */
	if (tresp_hdr(r, "content-length", v, sizeof(v))) {
		hascl = 1;
		clen = strtoull(v, NULL, 10);
	}
	if (is_head || r->status < 200 || r->status == 204 || r->status == 304)
		r->framing = TF_NONE;
	else if (tresp_hdr(r, "transfer-encoding", v, sizeof(v)))
		r->framing = last_is(v, "chunked") ? TF_CHUNKED : TF_CLOSE;
	else if (hascl)
		r->framing = TF_LENGTH;
	else
		r->framing = TF_CLOSE;
	switch (r->framing) {
	case TF_CHUNKED:
		return body_chunked(c, r, deadline);
	case TF_LENGTH:
		return body_length(c, r, clen, deadline);
	case TF_CLOSE:
		return body_close(c, r, deadline);
	default:
		return 0;
	}
}

void
tresp_free(struct tresp *r)
{
	if (r->body)
		track(r->body, NULL);
	free(r->body);
	r->body = NULL;
}

void
tresp_free_all(void)
{
	pthread_mutex_lock(&bodies_lock);
	for (int i = 0; i < NBODIES; i++) {
		free(bodies[i]);
		bodies[i] = NULL;
	}
	pthread_mutex_unlock(&bodies_lock);
}

/* the value (after the colon) of the nth field named name in r->head */
static const char *
find_field(const struct tresp *r, const char *name, int nth)
{
	const char *p = strstr(r->head, "\r\n"), *colon;
	size_t nl = strlen(name);

	while (p && p[2] != '\r' && p[2]) {
		p += 2;
		colon = strchr(p, ':');
		if (colon && (size_t)(colon - p) == nl && !strncasecmp(p, name, nl) && nth-- == 0)
			return colon + 1;
		p = strstr(p, "\r\n");
	}
	return NULL;
}

char *
tresp_hdr(const struct tresp *r, const char *name, char *out, size_t n)
{
	const char *v = find_field(r, name, 0);
	size_t k;

	if (!v)
		return NULL;
	v += strspn(v, " \t");
	k = strcspn(v, "\r");
	while (k > 0 && (v[k - 1] == ' ' || v[k - 1] == '\t'))
		k--;
	snprintf(out, n, "%.*s", (int)k, v);
	return out;
}

int
tresp_nhdr(const struct tresp *r, const char *name)
{
	int n = 0;

	while (find_field(r, name, n))
		n++;
	return n;
}

int
texchange(struct tconn *c, const char *req, struct tresp *r, int timeout_ms)
{
	int is_head = !strncmp(req, "HEAD ", 5), rc;

	r->body = NULL;
	r->sink = NULL;
	if (tsends(c, req) < 0) {
		snprintf(r->err, sizeof(r->err), "send: %s", strerror(errno));
		return -1;
	}
	do {
		tresp_free(r);
		rc = tresp_read(c, r, is_head, timeout_ms);
	} while (rc == 0 && r->status >= 100 && r->status < 200 && r->status != 101);
	return rc;
}

/* /proc */

long
proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

double
proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	/* after the ")" that ends the command name: state, then 10 fields,
	 * then utime and stime in clock ticks */
	if (!p || !(p = strrchr(buf, ')')) ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

int
proc_nfd(pid_t pid)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if (!(dir = opendir(path)))
		return -1;
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static char tmpfiles[32][80];   /* test thread only */

char *
tmp_write(const char *tag, const char *text)
{
	int fd, i;

	for (i = 0; i < (int)LEN(tmpfiles) && tmpfiles[i][0]; i++)
		;
	if (i == (int)LEN(tmpfiles))
		return NULL;
	snprintf(tmpfiles[i], sizeof(tmpfiles[i]), "/tmp/prescal-%.20s-XXXXXX", tag);
	if ((fd = mkstemp(tmpfiles[i])) < 0) {
		tmpfiles[i][0] = '\0';
		return NULL;
	}
	if (writeall(fd, text, strlen(text)) < 0) {
		close(fd);
		unlink(tmpfiles[i]);
		tmpfiles[i][0] = '\0';
		return NULL;
	}
	close(fd);
	return tmpfiles[i];
}

void
tmp_remove(const char *keep)
{
	for (size_t i = 0; i < LEN(tmpfiles); i++) {
		if (tmpfiles[i][0] && (!keep || strcmp(keep, tmpfiles[i]))) {
			unlink(tmpfiles[i]);
			tmpfiles[i][0] = '\0';
		}
	}
}

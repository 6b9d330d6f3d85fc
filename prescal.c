/* See LICENSE file for copyright and license details. */
/*
 * prescal: an HTTP/1.1 reverse proxy and load balancer that scales its own
 * Docker backends.
 *
 * Threads (all created here):
 * - main: parses flags, starts the others, then waits for signals and every
 *   100 ms runs sweep() (header and keep-alive deadlines); once a second it
 *   adds a sample to the set's history (hist.c, the admin page's plots). On SIGTERM or
 *   SIGINT it drains (stop accepting, finish in-flight requests up to the
 *   drain timeout, remove containers) and exits 0.
 * - workers, a fixed pool sized at start (size_threads()), leader/follower
 *   on one epoll set: each waits in epoll_wait; EPOLLONESHOT hands a
 *   readable connection to exactly one. The worker reads what is there
 *   without blocking; a complete head is served with blocking I/O
 *   (proxy.c), pipelined requests after it too; then the connection is
 *   parked in epoll again. A connection that is idle (keep-alive) or still
 *   trickling its head costs no worker: it waits in epoll, with its partial
 *   head in a buffer of its own (bounded pool).
 * - held requests (no backend ready yet) cost no worker either: they wait
 *   in the held list H, outside epoll, until pool.c calls on_ready(),
 *   sweep() finds a pickable backend or their hold ends; resume() then
 *   arms them EPOLLOUT so that the next free worker serves them.
 * - tunnels: an upgraded connection runs on a small thread of its own
 *   (tunnel_main), at most max_tunnels.
 * - with -i: the scaler, the Docker events reader and a few fleet workers
 *   (scale.c decides, fleet.c acts through docker.c); with -a: the admin
 *   listener (admin.c).
 *
 * Ownership: a struct conn belongs to whoever holds it: epoll while parked
 * (CS_IDLE/CS_HEAD/CS_RESUMED), the held list while CS_HELD, its tunnel
 * thread while CS_TUNNEL, the worker that got its event while CS_BUSY. sweep()
 * only marks expired parked connections (compare-and-swap) and shuts them
 * down, which wakes one worker to close them. Backends live in pool.c
 * under its lock; instances in fleet.c under its own.
 *
 * Start reading main().
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "admin.h"
#include "hist.h"
#include "http.h"
#include "pool.h"
#include "proxy.h"
#include "scale.h"
#include "fleet.h"
#include "util.h"
#include "config.h"

enum conn_state {
	CS_FREE,      /* in the free list */
	CS_NEW,       /* just accepted (only as on_conn's argument) */
	CS_IDLE,      /* parked in epoll, no bytes of a next request yet */
	CS_HEAD,      /* parked in epoll with a partial head in its own buffer */
	CS_BUSY,      /* owned by a worker */
	CS_EXPIRED,   /* parked too long: the worker that gets it closes it */
	CS_TIMEDOUT,  /* head deadline passed: the worker answers 408 */
	CS_HELD,      /* a held request: in the held list, not armed in epoll */
	CS_RESUMED,   /* taken off the held list: the worker that gets it serves it */
	CS_TUNNEL,    /* upgraded: owned by its tunnel thread */
	NUM_CS
};

#define MAX_BACKENDS 64

/* settings: config.h, then the config file, then flags */
struct settings {
	char listen[128], admin[128];
	char *backend[MAX_BACKENDS];
	int nbackend;
	long threads, max_conns, max_active;
	long header_timeout, body_timeout, keepalive_timeout, send_timeout;
	long connect_timeout, backend_timeout, tunnel_timeout, drain_timeout, hold_timeout;
	long max_fails, down_backoff, idle_per_backend, backend_idle, max_tries, hold_max;
	long access_log, conn_cap, starting_page, defer_accept, yields, max_tunnels;
	long min_rate, min_rate_grace;
	char balance[16];
	struct scale_conf sc;
	int scaling;
	int check_only;
	char threads_why[160];  /* how the worker count was chosen */
};

static struct settings S = {
	.listen = LISTEN_ADDR, .admin = ADMIN_ADDR,
	.threads = NTHREADS, .max_conns = MAX_CONNS, .max_active = MAX_ACTIVE,
	.header_timeout = HEADER_TIMEOUT, .body_timeout = BODY_TIMEOUT,
	.keepalive_timeout = KEEPALIVE_TIMEOUT, .send_timeout = SEND_TIMEOUT,
	.connect_timeout = CONNECT_TIMEOUT, .backend_timeout = BACKEND_TIMEOUT,
	.tunnel_timeout = TUNNEL_TIMEOUT, .drain_timeout = DRAIN_TIMEOUT,
	.hold_timeout = HOLD_TIMEOUT, .hold_max = HOLD_MAX,
	.max_fails = MAX_FAILS, .down_backoff = DOWN_BACKOFF,
	.idle_per_backend = IDLE_PER_BACKEND, .backend_idle = BACKEND_IDLE,
	.max_tries = MAX_TRIES, .access_log = ACCESS_LOG, .conn_cap = CONN_CAP,
	.starting_page = STARTING_PAGE, .defer_accept = DEFER_ACCEPT, .yields = YIELDS,
	.max_tunnels = MAX_TUNNELS, .min_rate = MIN_RATE, .min_rate_grace = MIN_RATE_GRACE,
	.balance = BALANCE,
	.sc = {
		.image = "", .port = IMAGE_PORT, .min = MIN_INSTANCES, .max = MAX_INSTANCES,
		.target = TARGET_INFLIGHT, .name = SET_NAME, .socket = "",
		.metric = METRIC, .target_rps = TARGET_RPS, .down_delay = SCALE_DOWN_DELAY,
		.idle_timeout = IDLE_TIMEOUT, .start_timeout = START_TIMEOUT,
		.ready_path = READY_PATH, .pull = PULL_POLICY, .keep = KEEP_ON_EXIT,
		.sample_ms = SAMPLE_MS,
		.pause_after = PAUSE_AFTER, .remove_after = REMOVE_AFTER,
		.min_paused = MIN_PAUSED, .max_paused = MAX_PAUSED,
	},
};

/* connections and buffers; lock protects the free lists and counts */
static struct {
	pthread_mutex_t lock;
	struct conn *table, *free;
	char **bufs;
	int nbufs, nfree_bufs, nconns, maxused;
} T = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* held requests, oldest first: parked without a worker and without epoll
 * until pool.c says a backend may be ready (on_ready), or sweep() sees one,
 * or their hold ends; lock protects the list (lock order: H, then T) */
static struct {
	pthread_mutex_t lock;
	struct conn *head, *tail;
	int n;
} H = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct conn listener_tag;   /* epoll data of the listening socket */
static struct http_limits lim;
static int epfd = -1, lfd = -1;
static atomic_int stopping, busy, ntunnels;
static atomic_int accept_paused;   /* out of descriptors: sweep() re-arms the listener */
static atomic_long idle_now;       /* parked idle connections, counted by sweep() */
static struct hist history;        /* the set's (or the proxy's) last 15 minutes */

static void
usage(void)
{
	fputs("usage: prescal [-hqvT] [-f file] [-l [host:]port] [-b host:port]... [-t threads]\n"
	      "               [-a [host:]port] [-i image] [-p port] [-m min] [-M max] [-c n]\n"
	      "               [-n name] [-s path]\n", stderr);
}

/* starts a detached thread; 0, or -1 with errno */
static int
spawn(void *(*fn)(void *), void *arg, size_t stack)
{
	pthread_attr_t a;
	pthread_t t;
	int e;

	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, stack);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	e = pthread_create(&t, &a, fn, arg);
	pthread_attr_destroy(&a);
	errno = e;
	return e ? -1 : 0;
}

static void
start_thread(void *(*fn)(void *), void *arg, size_t stack)
{
	if (spawn(fn, arg, stack) < 0)
		die("pthread_create:");
}

/* buffers for connections parked with a partial head: bounded, grown lazily */
static char *
buf_get(void)
{
	char *b = NULL;

	pthread_mutex_lock(&T.lock);
	if (T.nfree_bufs > 0)
		b = T.bufs[--T.nfree_bufs];
	else if (T.nbufs < S.max_active && (b = malloc(CONN_BUF)))
		T.nbufs++;
	pthread_mutex_unlock(&T.lock);
	return b;
}

static void
buf_put(char *b)
{
	pthread_mutex_lock(&T.lock);
	T.bufs[T.nfree_bufs++] = b;
	pthread_mutex_unlock(&T.lock);
}

/* gives back c's own buffer; c->buf then points nowhere */
static void
drop_buf(struct conn *c)
{
	if (c->ownbuf)
		buf_put(c->buf);
	c->ownbuf = 0;
	c->buf = NULL;
	c->len = 0;
}

static void
conn_close(struct conn *c)
{
	close(c->fd);
	drop_buf(c);
	pthread_mutex_lock(&T.lock);
	atomic_store(&c->state, CS_FREE);
	c->next = T.free;
	T.free = c;
	T.nconns--;
	pthread_mutex_unlock(&T.lock);
}

/* hands c to epoll (EPOLLONESHOT: exactly one worker gets it back) for
 * events; the caller must not touch c afterwards */
static void
arm(struct conn *c, int state, uint32_t events, int64_t deadline)
{
	struct epoll_event ev = { .events = events | EPOLLONESHOT, .data.ptr = c };
	int st = state, fd = c->fd;  /* once armed, another worker may own c */

	c->deadline = deadline;
	atomic_store(&c->state, state);
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0 &&
	    (errno != ENOENT || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)) {
		warn("epoll_ctl:");
		if (atomic_compare_exchange_strong(&c->state, &st, CS_BUSY))
			conn_close(c);
	}
}

/* parks c until the client sends more */
static void
park(struct conn *c, int state, int64_t deadline)
{
	arm(c, state, EPOLLIN | EPOLLRDHUP, deadline);
}

/* gives c a buffer of its own holding what it has (the worker's buffer is
 * for the next connection); 0, or -1 when none is free */
static int
own_buf(struct conn *c)
{
	char *b;

	if (c->ownbuf)
		return 0;
	if (!(b = buf_get()))
		return -1;
	memcpy(b, c->buf, c->len);
	c->buf = b;
	c->ownbuf = 1;
	return 0;
}

/* parks a request that waits for a backend; the caller must not touch c
 * afterwards */
static void
hold(struct conn *c)
{
	if (own_buf(c) < 0) {
		pool_unhold();
		c->holding = 0;
		proxy_error(c->fd, 503, "Retry-After: 1\r\n");
		conn_close(c);
		return;
	}
	atomic_store(&c->state, CS_HELD);
	c->hnext = NULL;
	pthread_mutex_lock(&H.lock);
	if (H.tail)
		H.tail->hnext = c;
	else
		H.head = c;
	H.tail = c;
	H.n++;
	pthread_mutex_unlock(&H.lock);
}

/* takes up to n held requests (n < 0: all; expired_only: those whose hold
 * has ended by now) off the list and arms them to be served again:
 * writable at once, so a worker gets each */
static void
resume(int n, int expired_only, int64_t now)
{
	struct conn *batch[64], *prev, *c, *next;
	int k;

	do {
		k = 0;
		prev = NULL;
		pthread_mutex_lock(&H.lock);
		for (c = H.head; c && k < (int)LEN(batch) && n != 0; c = next) {
			next = c->hnext;
			if (expired_only && c->hold_until > now) {
				prev = c;
				continue;
			}
			if (prev)
				prev->hnext = next;
			else
				H.head = next;
			if (H.tail == c)
				H.tail = prev;
			H.n--;
			n -= n > 0;
			batch[k++] = c;
		}
		pthread_mutex_unlock(&H.lock);
		for (int i = 0; i < k; i++)
			arm(batch[i], CS_RESUMED, EPOLLOUT, batch[i]->deadline);
	} while (k == (int)LEN(batch) && n != 0);
}

/* pool.c: n held requests (-1: all) may find a backend now */
static void
on_ready(int n)
{
	resume(n, 0, 0);
}

/* parks c with the partial head it holds, moved to a buffer of its own */
static void
park_head(struct conn *c)
{
	if (own_buf(c) < 0) {
		proxy_error(c->fd, 503, "Retry-After: 1\r\n");
		conn_close(c);
		return;
	}
	park(c, CS_HEAD, c->deadline);
}

/* whether c->buf holds a complete (or certainly malformed) head */
static int
head_ready(struct conn *c, struct http_header *hdr)
{
	struct http_request req = { .hdr = hdr };

	/* the usual case, an end of head, needs no parse here: proxy_serve()
	 * parses it (and answers a bad one); without one, parse to turn away
	 * a bad head early */
	if (c->len >= 4 && memmem(c->buf, c->len, "\r\n\r\n", 4))
		return 1;
	return c->len > 0 && http_parse_request(c->buf, c->len, &lim, &req) != -2;
}

/* reads what the socket has; 1: a head is complete (or bad, or the buffer
 * full), 0: more is needed, -1: the client is gone */
static int
read_head(struct conn *c, struct http_header *hdr)
{
	ssize_t r;

	do
		r = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
		return -1;
	if (r > 0)
		c->len += r;
	return c->len == c->cap || head_ready(c, hdr);
}

static void *
tunnel_main(void *arg)
{
	struct conn *c = arg;

	proxy_tunnel(c);
	conn_close(c);
	atomic_fetch_sub(&ntunnels, 1);
	return NULL;
}

/* an upgraded connection gets a small thread of its own, so that a quiet
 * WebSocket costs no worker */
static void
tunnel_start(struct conn *c)
{
	drop_buf(c);
	atomic_store(&c->state, CS_TUNNEL);
	atomic_fetch_add(&ntunnels, 1);
	if (spawn(tunnel_main, c, (size_t)WORKER_STACK * 1024) < 0) {
		warn("tunnel thread:");
		proxy_tunnel_end(c);
		conn_close(c);
		atomic_fetch_sub(&ntunnels, 1);
	}
}

/* serves requests on c until it must wait for the client again */
static void
serve(struct worker *w, struct conn *c)
{
	for (;;) {
		atomic_fetch_add(&busy, 1);
		int keep = proxy_serve(w, c);
		atomic_fetch_sub(&busy, 1);
		if (keep == PROXY_HOLD) {
			hold(c);
			return;
		}
		if (keep == PROXY_TUNNEL) {
			tunnel_start(c);
			return;
		}
		c->nreq++;
		if (keep != PROXY_KEEP || atomic_load(&stopping)) {
			conn_close(c);
			return;
		}
		if (c->len > 0) {
			if (head_ready(c, w->hdr))
				continue;  /* pipelined */
			c->deadline = now_ms() + S.header_timeout;
			park_head(c);
			return;
		}
		drop_buf(c);
		park(c, CS_IDLE, now_ms() + S.keepalive_timeout);
		return;
	}
}

/* a readable connection: read its head, then serve it or park it */
static void
on_conn(struct worker *w, struct conn *c, int st)
{
	switch (st) {
	case CS_EXPIRED:  /* marked by sweep(), which may still be shutting it */
		while (atomic_load(&c->sweeping))
			sched_yield();
		conn_close(c);
		return;
	case CS_TIMEDOUT:
		while (atomic_load(&c->sweeping))
			sched_yield();
		proxy_error(c->fd, 408, NULL);
		conn_close(c);
		return;
	case CS_RESUMED:  /* a held request, its head in its own buffer */
		serve(w, c);
		return;
	case CS_IDLE:
		c->buf = w->cbuf;  /* a new head: the worker's buffer until it must park */
		c->cap = CONN_BUF;
		c->len = 0;
		/* a new connection's head deadline runs from accept */
		if (c->nreq > 0)
			c->deadline = now_ms() + S.header_timeout;
		break;
	default:
		break;
	}
	switch (read_head(c, w->hdr)) {
	case -1:
		conn_close(c);
		break;
	case 0:
		if (c->len == 0) {
			drop_buf(c);
			park(c, CS_IDLE, st == CS_NEW ? c->deadline : now_ms() + S.keepalive_timeout);
		} else {
			park_head(c);
		}
		break;
	default:
		serve(w, c);
	}
}

/*
 * whether fd has the listener's TCP_NODELAY and timeouts. Linux copies them
 * to an accepted socket, which saves three setsockopt()s per connection;
 * the first connection checks it, and if not, every one sets its own.
 */
static int
inherited(int fd)
{
	static atomic_int known;  /* 0: not checked, 1: inherited, 2: not */
	struct timeval tv = { 0 };
	socklen_t n = sizeof(tv);
	int k, v = 0;

	if ((k = atomic_load(&known)))
		return k == 1;
	/* a fresh socket has none; the kernel may round the value to ticks */
	k = getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &n) == 0 &&
	    (tv.tv_sec || tv.tv_usec);
	n = sizeof(v);
	k = k && getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &n) == 0 && v;
	atomic_store(&known, k ? 1 : 2);
	return k;
}

/* out of descriptors or memory: accepts pause; logged at most once a second */
static void
accept_pause(void)
{
	static _Atomic int64_t logged;
	int64_t now = now_ms(), last = atomic_load(&logged);
	int e = errno;

	atomic_store(&accept_paused, 1);
	if (now - last >= 1000 && atomic_compare_exchange_strong(&logged, &last, now)) {
		errno = e;
		warn("accept (pausing accepts for 100 ms):");
	}
}

enum { ACC_CONN, ACC_NONE, ACC_REJECTED, ACC_PAUSED };  /* accept_one's outcomes */

/* accepts one connection into *out; returns an ACC_ value */
static int
accept_one(struct conn **out)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct conn *c;
	char addr[64], *p;
	int fd, one = 1;

	fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
		accept_pause();
		return ACC_PAUSED;
	}
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED && !atomic_load(&stopping))
			warn("accept:");
		return errno == ECONNABORTED || errno == EINTR ? ACC_REJECTED : ACC_NONE;
	}
	pthread_mutex_lock(&T.lock);
	if ((c = T.free)) {
		T.free = c->next;
		T.nconns++;
		if (c - T.table >= T.maxused)
			T.maxused = c - T.table + 1;
	}
	pthread_mutex_unlock(&T.lock);
	if (!c || atomic_load(&stopping)) {
		/* over max_conns: answer instead of leaving it hanging */
		proxy_error(fd, 503, "Retry-After: 1\r\n");
		close(fd);
		if (c) {
			c->fd = -1;
			pthread_mutex_lock(&T.lock);
			c->next = T.free;
			T.free = c;
			T.nconns--;
			pthread_mutex_unlock(&T.lock);
		}
		return ACC_REJECTED;
	}
	c->fd = fd;
	c->buf = NULL;
	c->ownbuf = 0;
	c->len = 0;
	c->nreq = 0;
	c->deadline = now_ms() + S.header_timeout;
	atomic_store(&c->state, CS_BUSY);
	addr_str(&ss, addr, sizeof(addr));
	if ((p = strrchr(addr, ':')))
		*p = '\0';
	snprintf(c->peer, sizeof(c->peer), "%s", addr[0] == '[' ? addr + 1 : addr);
	if ((p = strchr(c->peer, ']')))
		*p = '\0';
	if (!inherited(fd)) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		sock_timeouts(fd, S.body_timeout, S.send_timeout);
	}
	*out = c;
	return ACC_CONN;
}

/*
 * the listener fired: accepts what is queued, up to ACCEPT_BATCH, and
 * re-arms it. Returns the first connection for this worker; the others
 * wait in epoll for their heads like idle ones, so a queue of new
 * connections is not taken one per trip through the ready list.
 */
static struct conn *
accept_batch(void)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = &listener_tag };
	struct conn *first = NULL, *c;
	int r = ACC_REJECTED;

	for (int i = 0; i < ACCEPT_BATCH && r != ACC_NONE && r != ACC_PAUSED; i++) {
		if ((r = accept_one(&c)) != ACC_CONN)
			continue;
		if (!first)
			first = c;
		else
			park(c, CS_IDLE, c->deadline);
	}
	if (r != ACC_PAUSED && !atomic_load(&stopping))
		epoll_ctl(epfd, EPOLL_CTL_MOD, lfd, &ev);
	return first;
}

/*
 * At most POLLERS idle workers wait in epoll_wait; the other idle ones wait
 * here. A large pool (sized for slow apps) then costs
 * nothing when requests are fast: a readable connection wakes one of a few
 * warm workers or none (a busy one takes it on its next look), not one of
 * hundreds of sleepers. While fewer than half of POLLERS poll, each
 * poller that takes an event wakes a parked worker to poll in its place,
 * so a slow app still gets every worker, quickly.
 * PW.lock protects the counts.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int pollers, parked;
} PW = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };

static void
poll_enter(struct worker *w)
{
	pthread_mutex_lock(&PW.lock);
	if (PW.pollers >= POLLERS) {
		/* a surplus worker: its buffers need not stay resident */
		pthread_mutex_unlock(&PW.lock);
		proxy_worker_trim(w);
		pthread_mutex_lock(&PW.lock);
	}
	while (PW.pollers >= POLLERS) {
		PW.parked++;
		pthread_cond_wait(&PW.cv, &PW.lock);
		PW.parked--;
	}
	PW.pollers++;
	pthread_mutex_unlock(&PW.lock);
}

static void
poll_leave(void)
{
	pthread_mutex_lock(&PW.lock);
	if (--PW.pollers < POLLERS / 2 && PW.parked > 0)
		pthread_cond_signal(&PW.cv);
	pthread_mutex_unlock(&PW.lock);
}

/*
 * worker: leader/follower on one epoll set. Every worker waits in
 * epoll_wait; EPOLLONESHOT gives each readable connection to exactly one of
 * them, which reads the head without blocking, then serves it with
 * blocking I/O or parks it again. No hand-off queue, no extra wake-up.
 */
static void *
worker(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev;
	struct conn *c;
	int n, k;

	for (;;) {
		poll_enter(w);
		/* under load another thread (client, backend, worker) is about
		 * to make work: let it run and look again before sleeping. Only
		 * here, holding no request: the scheduler pushes a yielding
		 * thread back, which would delay a request it held */
		for (k = 0; (n = epoll_wait(epfd, &ev, 1, k < S.yields ? 0 : -1)) == 0; k++)
			sched_yield();
		poll_leave();
		if (n != 1)
			continue;
		if (ev.data.ptr == &listener_tag) {
			if ((c = accept_batch())) {
				c->buf = w->cbuf;
				c->cap = CONN_BUF;
				on_conn(w, c, CS_NEW);
			}
			continue;
		}
		c = ev.data.ptr;
		/* sweep() may have marked it expired; after this it cannot */
		on_conn(w, c, atomic_exchange(&c->state, CS_BUSY));
	}
	return NULL;
}

/* connections waiting in the listener's accept queue (Linux reports it
 * as tcpi_unacked of a listening socket) */
static int
backlog(void)
{
	struct tcp_info ti;
	socklen_t n = sizeof(ti);

	if (getsockopt(lfd, IPPROTO_TCP, TCP_INFO, &ti, &n) < 0)
		return 0;
	return (int)ti.tcpi_unacked;
}

/*
 * main, every 100 ms: deadlines. It never closes a parked connection
 * itself (a worker may be about to get it); it marks it and shuts its
 * reading side, which wakes exactly one worker to finish it.
 */
static void
sweep(void)
{
	int64_t now = now_ms();
	int i, n, st, stop = atomic_load(&stopping), nread;
	/* with every worker busy, requests may wait unseen: count them for
	 * the scaler (a keep-alive connection with bytes to read, and the
	 * listener's accept queue) */
	int saturated = atomic_load(&busy) >= S.threads, queued = 0;
	long idle = 0;
	struct conn *c;

	pthread_mutex_lock(&T.lock);
	n = T.maxused;
	pthread_mutex_unlock(&T.lock);
	for (i = 0; i < n; i++) {
		c = &T.table[i];
		st = atomic_load(&c->state);
		/* the worker that gets a marked connection waits for sweeping
		 * to drop before it closes, so c->fd is still ours here */
		if (st == CS_IDLE && (stop || now >= c->deadline)) {
			atomic_store(&c->sweeping, 1);
			if (atomic_compare_exchange_strong(&c->state, &st, CS_EXPIRED))
				shutdown(c->fd, SHUT_RDWR);
			atomic_store(&c->sweeping, 0);
		} else if (st == CS_HEAD && now >= c->deadline) {
			atomic_store(&c->sweeping, 1);
			if (atomic_compare_exchange_strong(&c->state, &st, CS_TIMEDOUT))
				shutdown(c->fd, SHUT_RD);
			atomic_store(&c->sweeping, 0);
		}
		idle += st == CS_IDLE;
		if (saturated && st == CS_IDLE && ioctl(c->fd, FIONREAD, &nread) == 0 && nread > 0)
			queued++;
	}
	atomic_store(&idle_now, idle);
	/* held requests: all of them when a backend is pickable (a safety net
	 * for a missed on_ready, and down back-offs that ran out) or the app
	 * fails to start (they get its cause), else those whose hold ran out
	 * (they get 503) */
	if (stop || pool_pickable() || pool_failing(NULL, 0))
		resume(-1, 0, 0);
	else
		resume(-1, 1, now);
	if (atomic_load(&accept_paused) && !stop) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = &listener_tag };
		atomic_store(&accept_paused, 0);
		epoll_ctl(epfd, EPOLL_CTL_MOD, lfd, &ev);
	}
	if (S.scaling)
		fleet_queued(saturated ? queued + backlog() : 0);
}

/* options: one table for flags and config-file keys */
enum { O_STR, O_INT, O_LIST, O_SPEC };  /* O_SPEC: a container setting */

struct option {
	char flag;            /* 0: config file only */
	const char *key;
	int kind;
	void *dst;
	size_t size;          /* O_STR buffer size */
	long lo, hi;          /* O_INT range */
	int byflag;           /* set from the command line */
	const char *choices;  /* O_STR: the allowed values, space-separated */
};

static struct option opts[] = {
	{ 'l', "listen",            O_STR,  S.listen, sizeof(S.listen), 0, 0, 0, NULL },
	{ 'a', "admin",             O_STR,  S.admin, sizeof(S.admin), 0, 0, 0, NULL },
	{ 'b', "backend",           O_LIST, NULL, 0, 0, 0, 0, NULL },
	{ 't', "threads",           O_INT,  &S.threads, 0, 0, THREADS_MAX, 0, NULL },
	{ 'i', "image",             O_STR,  S.sc.image, sizeof(S.sc.image), 0, 0, 0, NULL },
	{ 'p', "port",              O_INT,  &S.sc.port, 0, 1, 65535, 0, NULL },
	{ 'm', "min",               O_INT,  &S.sc.min, 0, 0, 1000, 0, NULL },
	{ 'M', "max",               O_INT,  &S.sc.max, 0, 1, 1000, 0, NULL },
	{ 'c', "target",            O_INT,  &S.sc.target, 0, 1, 100000, 0, NULL },
	{ 'n', "name",              O_STR,  S.sc.name, sizeof(S.sc.name), 0, 0, 0, NULL },
	{ 's', "socket",            O_STR,  S.sc.socket, sizeof(S.sc.socket), 0, 0, 0, NULL },
	{ 0, "access_log",          O_INT,  &S.access_log, 0, 0, 1, 0, NULL },
	{ 0, "balance",             O_STR,  S.balance, sizeof(S.balance), 0, 0, 0, "least rr" },
	{ 0, "max_conns",           O_INT,  &S.max_conns, 0, 1, 1000000, 0, NULL },
	{ 0, "max_active",          O_INT,  &S.max_active, 0, 1, 100000, 0, NULL },
	{ 0, "header_timeout",      O_INT,  &S.header_timeout, 0, 100, 3600000, 0, NULL },
	{ 0, "body_timeout",        O_INT,  &S.body_timeout, 0, 100, 3600000, 0, NULL },
	{ 0, "keepalive_timeout",   O_INT,  &S.keepalive_timeout, 0, 100, 3600000, 0, NULL },
	{ 0, "send_timeout",        O_INT,  &S.send_timeout, 0, 100, 3600000, 0, NULL },
	{ 0, "connect_timeout",     O_INT,  &S.connect_timeout, 0, 10, 600000, 0, NULL },
	{ 0, "backend_timeout",     O_INT,  &S.backend_timeout, 0, 100, 3600000, 0, NULL },
	{ 0, "tunnel_timeout",      O_INT,  &S.tunnel_timeout, 0, 100, 86400000, 0, NULL },
	{ 0, "drain_timeout",       O_INT,  &S.drain_timeout, 0, 0, 3600000, 0, NULL },
	{ 0, "hold_timeout",        O_INT,  &S.hold_timeout, 0, 0, 3600000, 0, NULL },
	{ 0, "hold_max",            O_INT,  &S.hold_max, 0, 0, 1000000, 0, NULL },
	{ 0, "max_fails",           O_INT,  &S.max_fails, 0, 1, 1000, 0, NULL },
	{ 0, "down_backoff",        O_INT,  &S.down_backoff, 0, 10, 600000, 0, NULL },
	{ 0, "idle_per_backend",    O_INT,  &S.idle_per_backend, 0, 0, POOL_IDLE_CAP, 0, NULL },
	{ 0, "backend_idle",        O_INT,  &S.backend_idle, 0, 100, 3600000, 0, NULL },
	{ 0, "max_tries",           O_INT,  &S.max_tries, 0, 1, 16, 0, NULL },
	{ 0, "conn_cap",            O_INT,  &S.conn_cap, 0, 0, 1000000, 0, NULL },
	{ 0, "starting_page",       O_INT,  &S.starting_page, 0, 0, 1, 0, NULL },
	{ 0, "defer_accept",        O_INT,  &S.defer_accept, 0, 0, 1, 0, NULL },
	{ 0, "yields",              O_INT,  &S.yields, 0, 0, 8, 0, NULL },
	{ 0, "max_tunnels",         O_INT,  &S.max_tunnels, 0, 0, 100000, 0, NULL },
	{ 0, "min_rate",            O_INT,  &S.min_rate, 0, 0, 1000000000, 0, NULL },
	{ 0, "min_rate_grace",      O_INT,  &S.min_rate_grace, 0, 0, 3600000, 0, NULL },
	{ 0, "metric",              O_STR,  S.sc.metric, sizeof(S.sc.metric), 0, 0, 0,
	  "concurrency rps" },
	{ 0, "target_rps",          O_INT,  &S.sc.target_rps, 0, 1, 10000000, 0, NULL },
	{ 0, "scale_down_delay",    O_INT,  &S.sc.down_delay, 0, 0, 86400000, 0, NULL },
	{ 0, "idle_timeout",        O_INT,  &S.sc.idle_timeout, 0, 0, 86400000, 0, NULL },
	{ 0, "start_timeout",       O_INT,  &S.sc.start_timeout, 0, 100, 3600000, 0, NULL },
	{ 0, "ready_path",          O_STR,  S.sc.ready_path, sizeof(S.sc.ready_path), 0, 0, 0, NULL },
	{ 0, "pull",                O_STR,  S.sc.pull, sizeof(S.sc.pull), 0, 0, 0, "never missing" },
	{ 0, "keep_on_exit",        O_INT,  &S.sc.keep, 0, 0, 1, 0, NULL },
	{ 0, "host_network",        O_INT,  &S.sc.hostnet, 0, 0, 1, 0, NULL },
	{ 0, "network",             O_STR,  S.sc.network, sizeof(S.sc.network), 0, 0, 0, NULL },
	{ 0, "env",                 O_SPEC, NULL, 0, 0, 0, 0, NULL },
	{ 0, "cmd",                 O_SPEC, NULL, 0, 0, 0, 0, NULL },
	{ 0, "memory",              O_SPEC, NULL, 0, 0, 0, 0, NULL },
	{ 0, "cpus",                O_SPEC, NULL, 0, 0, 0, 0, NULL },
	{ 0, "volume",              O_SPEC, NULL, 0, 0, 0, 0, NULL },
	{ 0, "label",               O_SPEC, NULL, 0, 0, 0, 0, NULL },
	{ 0, "user",                O_SPEC, NULL, 0, 0, 0, 0, NULL },
	{ 0, "pause_after",         O_INT,  &S.sc.pause_after, 0, 0, 86400000, 0, NULL },
	{ 0, "remove_after",        O_INT,  &S.sc.remove_after, 0, 0, 604800000, 0, NULL },
	{ 0, "min_paused",          O_INT,  &S.sc.min_paused, 0, 0, 1000, 0, NULL },
	{ 0, "max_paused",          O_INT,  &S.sc.max_paused, 0, 0, 1000, 0, NULL },
};

/* whether val is one of the space-separated words of list */
static int
oneof(const char *list, const char *val)
{
	size_t n = strlen(val);

	for (const char *p = list; *p; p += strcspn(p, " "), p += *p == ' ')
		if (strcspn(p, " ") == n && !strncmp(p, val, n))
			return 1;
	return 0;
}

/* applies one option; returns NULL or a message (start-up only: the
 * message may sit in a static buffer) */
static const char *
set_option(struct option *o, const char *val)
{
	static char msg[128];
	const char *sep;
	long v;

	switch (o->kind) {
	case O_STR:
		if (strlen(val) >= o->size)
			return "value too long";
		if (o->choices && !oneof(o->choices, val)) {
			sep = strchr(o->choices, ' ');
			snprintf(msg, sizeof(msg), "expected %.*s or %s", (int)(sep - o->choices),
			         o->choices, sep + 1);
			return msg;
		}
		memcpy(o->dst, val, strlen(val) + 1);
		return NULL;
	case O_INT:
		if (parse_int(val, o->lo, o->hi, &v) < 0) {
			snprintf(msg, sizeof(msg), "expected a whole number from %ld to %ld",
			         o->lo, o->hi);
			return msg;
		}
		*(long *)o->dst = v;
		return NULL;
	case O_LIST:
		if (S.nbackend >= MAX_BACKENDS)
			return "too many backends";
		if (!(S.backend[S.nbackend++] = strdup(val)))
			return "out of memory";
		return NULL;
	case O_SPEC:
		return docker_spec_set(&S.sc.spec, o->key, val, msg, sizeof(msg)) < 0 ? msg : NULL;
	}
	return "unknown option kind";
}

static struct option *
find_flag(int ch)
{
	for (size_t i = 0; i < LEN(opts); i++)
		if (opts[i].flag == ch)
			return &opts[i];
	return NULL;
}

/* reads "key value" lines; flags given on the command line win. Exits 2. */
static void
load_file(const char *path)
{
	char line[1024], *key, *val, *end;
	const char *msg;
	FILE *f;
	int ln = 0, fileb = 0;
	size_t i;

	if (!(f = fopen(path, "r"))) {
		warn("%s:", path);
		exit(2);
	}
	while (fgets(line, sizeof(line), f)) {
		ln++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "prescal: %s:%d: line too long\n", path, ln);
			exit(2);
		}
		if ((end = strchr(line, '#')))
			*end = '\0';
		key = line + strspn(line, " \t\r\n");
		if (!*key)
			continue;
		val = key + strcspn(key, " \t\r\n");
		if (*val)
			*val++ = '\0';
		val += strspn(val, " \t");
		for (end = val + strlen(val); end > val && strchr(" \t\r\n", end[-1]); )
			*--end = '\0';
		for (i = 0; i < LEN(opts) && strcmp(opts[i].key, key); i++)
			;
		if (i == LEN(opts)) {
			fprintf(stderr, "prescal: %s:%d: unknown key '%s'\n", path, ln, key);
			exit(2);
		}
		if (!*val) {
			fprintf(stderr, "prescal: %s:%d: %s needs a value\n", path, ln, key);
			exit(2);
		}
		if (opts[i].byflag)
			continue;
		if (opts[i].kind == O_LIST && !fileb++)
			S.nbackend = 0;  /* the file's backends replace none given by flag */
		if ((msg = set_option(&opts[i], val))) {
			fprintf(stderr, "prescal: %s:%d: %s '%s': %s\n", path, ln, key, val, msg);
			exit(2);
		}
	}
	fclose(f);
}

/* -T: the effective configuration, in the config file's syntax */
static void
print_settings(void)
{
	char val[2 * DOCKER_SPEC_MAXSTR];

	for (size_t i = 0; i < LEN(opts); i++) {
		const struct option *o = &opts[i];
		switch (o->kind) {
		case O_STR:
			printf("%-18s %s\n", o->key, *(const char *)o->dst ? (const char *)o->dst : "\"\"");
			break;
		case O_INT:
			if (o->dst == &S.threads)
				printf("# threads: %s\n", S.threads_why);
			printf("%-18s %ld\n", o->key, *(const long *)o->dst);
			break;
		case O_LIST:
			for (int k = 0; k < S.nbackend; k++)
				printf("%-18s %s\n", o->key, S.backend[k]);
			break;
		case O_SPEC:
			for (size_t k = 0; docker_spec_get(&S.sc.spec, o->key, k, val, sizeof(val)); k++)
				printf("%-18s %s\n", o->key, val);
			break;
		}
	}
	fflush(stdout);
}

static void
parse_args(int argc, char *argv[])
{
	const char *file = NULL, *msg;
	struct option *o;
	int ch;

	opterr = 0;
	while ((ch = getopt(argc, argv, ":hqvTf:l:b:t:a:i:p:m:M:c:n:s:")) != -1) {
		switch (ch) {
		case 'h':
			usage();
			exit(0);
		case 'v':
			puts("prescal " VERSION);
			exit(0);
		case 'q':
			S.access_log = 0;
			for (size_t i = 0; i < LEN(opts); i++)
				if (!strcmp(opts[i].key, "access_log"))
					opts[i].byflag = 1;
			break;
		case 'T':
			S.check_only = 1;
			break;
		case 'f':
			file = optarg;
			break;
		case ':':
			fprintf(stderr, "prescal: flag -%c needs a value\n", optopt);
			usage();
			exit(2);
		case '?':
			fprintf(stderr, "prescal: unknown flag -%c\n", optopt);
			usage();
			exit(2);
		default:
			o = find_flag(ch);
			if ((msg = set_option(o, optarg))) {
				fprintf(stderr, "prescal: -%c '%s': %s\n", ch, optarg, msg);
				usage();
				exit(2);
			}
			o->byflag = 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "prescal: unexpected argument '%s'\n", argv[optind]);
		usage();
		exit(2);
	}
	if (file)
		load_file(file);
}

/*
 * the worker count. A worker blocks for a request's whole exchange, so the
 * pool must carry what the scaling bounds allow in flight (max x target),
 * plus what static backends take (conn_cap each, else THREADS_PER_BACKEND),
 * plus a quarter for bursts, between THREADS_MIN and THREADS_MAX. An
 * explicit -t or threads wins; below that need it gets a warning.
 */
static void
size_threads(void)
{
	long need = 0;

	if (S.sc.image[0])
		need += S.sc.max * S.sc.target;
	need += S.nbackend * (S.conn_cap ? S.conn_cap : THREADS_PER_BACKEND);
	need += need / 4;
	if (S.threads == 0) {
		S.threads = MIN(MAX(need, THREADS_MIN), THREADS_MAX);
		snprintf(S.threads_why, sizeof(S.threads_why), "auto: %ld in flight at the "
		         "scaling bounds and static backends, +25%%, within %d..%d", need - need / 5,
		         THREADS_MIN, THREADS_MAX);
	} else if (S.threads < need) {
		snprintf(S.threads_why, sizeof(S.threads_why), "below the %ld that the scaling "
		         "bounds and static backends need (+25%%): requests beyond it wait for a "
		         "worker", need);
		if (!S.check_only)
			warn("threads %ld is %s", S.threads, S.threads_why);
	} else {
		snprintf(S.threads_why, sizeof(S.threads_why), "set");
	}
}

/* checks settings that depend on each other; exits 2 naming the problem */
static void
check_settings(void)
{
	if (S.nbackend == 0 && !S.sc.image[0]) {
		fprintf(stderr, "prescal: nothing to proxy to: give -b host:port or -i image\n");
		usage();
		exit(2);
	}
	if (S.sc.image[0] && S.sc.min > S.sc.max) {
		fprintf(stderr, "prescal: -m %ld is above -M %ld\n", S.sc.min, S.sc.max);
		exit(2);
	}
	scale_default_name(&S.sc, S.listen);
	/* one key for both drains: shutdown, and an instance leaving */
	S.sc.drain_timeout = S.drain_timeout;
	if (scale_check_conf(&S.sc, stderr) < 0)
		exit(2);
	size_threads();
	if (S.max_active < S.threads)
		S.max_active = S.threads;
}

static void
add_static_backends(void)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *msg;

	for (int i = 0; i < S.nbackend; i++) {
		if (resolve_addr(S.backend[i], "127.0.0.1", &ss, &sl, &msg) < 0)
			die("backend %s: %s", S.backend[i], msg);
		if (!S.check_only && !pool_add(S.backend[i], NULL, &ss, sl, B_UP))
			die("pool_add:");
	}
}

static void
start_listener(void)
{
	struct sockaddr_storage ss;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = &listener_tag };
	socklen_t sl;
	const char *msg;

	if (resolve_addr(S.listen, "0.0.0.0", &ss, &sl, &msg) < 0)
		die("listen address %s: %s", S.listen, msg);
	if ((lfd = listen_tcp(&ss, sl, LISTEN_BACKLOG)) < 0)
		die("cannot listen on %s:", S.listen);
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	/* accepted sockets inherit these (see inherited()) */
	setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	sock_timeouts(lfd, S.body_timeout, S.send_timeout);
	/* off by default: the head deadline should run from the connect, and
	 * with it the kernel holds a silent connection before accept */
	if (S.defer_accept) {
		int one = 1;
		setsockopt(lfd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof(one));
	}
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1:");
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll_ctl:");
}

static void
setup_tables(void)
{
	struct rlimit rl;

	/* file descriptors: clients, backends, cache, margin */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!(T.table = calloc(S.max_conns, sizeof(*T.table))) ||
	    !(T.bufs = calloc(S.max_active, sizeof(*T.bufs))))
		die("calloc:");
	for (long i = S.max_conns - 1; i >= 0; i--) {
		T.table[i].next = T.free;
		T.free = &T.table[i];
	}
}

static void
start_workers(void)
{
	struct proxy_conf pc = {
		.lim = lim, .body_timeout = S.body_timeout, .send_timeout = S.send_timeout,
		.connect_timeout = S.connect_timeout, .backend_timeout = S.backend_timeout,
		.tunnel_timeout = S.tunnel_timeout, .hold_timeout = S.hold_timeout,
		.max_tries = S.max_tries, .access_log = S.access_log,
		.starting_page = S.starting_page && S.scaling, .max_tunnels = S.max_tunnels,
		.min_rate = S.min_rate, .min_rate_grace = S.min_rate_grace,
	};
	static struct worker *w;  /* lives as long as the process */

	proxy_init(&pc);
	if (S.threads < 1)
		die("no worker threads");  /* size_threads() gives at least THREADS_MIN */
	if (!(w = calloc(S.threads, sizeof(*w))))
		die("calloc:");
	for (long i = 0; i < S.threads; i++) {
		if (proxy_worker_init(&w[i], CONN_BUF, RELAY_BUF, lim.max_headers) < 0)
			die("out of memory");
		start_thread(worker, &w[i], (size_t)WORKER_STACK * 1024);
	}
}

/* main, once a second: the counters as one sample of the history */
static void
record_history(void)
{
	struct hist_reading r = { .mono = now_ms(), .wall = wall_ms() };
	struct proxy_stats px;
	struct pool_stats pl;
	struct fleet_stats sc;

	proxy_get_stats(&px);
	pool_get_stats(&pl);
	r.inflight = pl.inflight;
	r.held = pl.waiting;
	r.requests = px.requests;
	r.errs = px.status[5];
	if (S.scaling) {
		fleet_get_stats(&sc);
		r.starting = sc.starting;
		r.ready = sc.ready;
		r.draining = sc.draining;
		r.want = sc.want;
	}
	hist_add(&history, &r);
}

static int
is_draining(void)
{
	return atomic_load(&stopping);
}

static void
conn_counts(long *open, long *idle)
{
	pthread_mutex_lock(&T.lock);
	*open = T.nconns;
	pthread_mutex_unlock(&T.lock);
	*idle = atomic_load(&idle_now);
}

static void
start_admin(void)
{
	struct admin_conf ac = {
		.scaling = S.scaling, .image = S.sc.image, .set = S.sc.name,
		.min = S.sc.min, .max = S.sc.max, .target = S.sc.target,
		.draining = is_draining, .conns = conn_counts, .hist = &history,
	};
	const char *msg;
	int fd;

	if (!S.admin[0] || !strcmp(S.admin, "off"))
		return;
	if ((fd = admin_listen(S.admin, &msg)) < 0) {
		/* the proxy matters more than its dashboard: say so and go on */
		warn("admin listener %s: %s; admin endpoint disabled", S.admin, msg);
		return;
	}
	admin_init(&ac);
	start_thread(admin_loop, (void *)(intptr_t)fd, (size_t)THREAD_STACK * 1024);
}

/* SIGTERM/SIGINT: stop accepting, let in-flight requests finish */
static void
drain(void)
{
	int64_t until = now_ms() + S.drain_timeout;

	atomic_store(&stopping, 1);
	proxy_set_draining(1);
	epoll_ctl(epfd, EPOLL_CTL_DEL, lfd, NULL);
	close(lfd);
	pool_wake_all();
	while (now_ms() < until) {
		sweep();  /* closes idle keep-alive connections now */
		if (atomic_load(&busy) == 0 && atomic_load(&ntunnels) == 0)
			break;
		usleep(20000);
	}
	if (atomic_load(&busy) > 0 || atomic_load(&ntunnels) > 0)
		warn("drain timeout: %d requests and %d tunnels still open", atomic_load(&busy),
		     atomic_load(&ntunnels));
	if (S.scaling)
		fleet_stop();
}

int
main(int argc, char *argv[])
{
	struct pool_conf pcf;
	sigset_t set;
	int sig;

	parse_args(argc, argv);
	check_settings();
	lim = (struct http_limits){ MAX_LINE, MAX_HEAD, MAX_HEADERS, MAX_CHUNK_LINE, MAX_TRAILER };
	S.scaling = S.sc.image[0] != '\0';
	pcf = (struct pool_conf){
		.balance = strcmp(S.balance, "rr") ? BAL_LEAST : BAL_RR,
		.max_fails = S.max_fails, .backoff_ms = S.down_backoff,
		.idle_max = S.idle_per_backend, .idle_ms = S.backend_idle,
		.hold = S.scaling, .hold_max = S.hold_max, .conn_cap = S.conn_cap,
		.demand = S.scaling ? fleet_demand : NULL, .ready = on_ready,
	};
	pool_init(&pcf);
	add_static_backends();
	if (S.check_only) {
		print_settings();
		fprintf(stderr, "prescal: configuration ok\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	setup_tables();
	start_listener();
	hist_init(&history);
	if (S.scaling) {
		if (fleet_start(&S.sc) < 0)
			exit(1);
		start_thread(fleet_loop, &history, (size_t)THREAD_STACK * 1024);
		start_thread(fleet_events, NULL, (size_t)THREAD_STACK * 1024);
		for (int i = 0; i < SCALE_WORKERS; i++)
			start_thread(fleet_worker, NULL, (size_t)THREAD_STACK * 1024);
	}
	start_workers();
	start_admin();
	warn("listening on %s, %ld workers (%s), %d static backends%s", S.listen, S.threads,
	     S.threads_why, S.nbackend, S.scaling ? ", scaling" : "");
	for (int tick = 0; ; tick++) {
		struct timespec ts = { 0, 100000000 };
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		sweep();
		if (tick % 10 == 0) {
			pool_expire_idle();
			record_history();
		}
	}
	warn("signal %d: draining", sig);
	drain();
	return 0;
}

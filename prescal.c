/* See LICENSE file for copyright and license details. */
/*
 * prescal: an HTTP/1.1 reverse proxy and load balancer that scales its own
 * Docker backends.
 *
 * Threads (all created here):
 * - main: parses flags, starts the others, then waits for signals and every
 *   100 ms runs sweep() (header and keep-alive deadlines); once a second it
 *   adds a sample to the histories (hist.c, the admin page's plots): one of all
 *   apps together and one of each scaled app. On SIGTERM or
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
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "hist.h"
#include "http.h"
#include "pool.h"
#include "proxy.h"
#include "scale.h"
#include "fleet.h"
#include "app.h"
#include "conf.h"
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

/* the settings (conf.c) as loaded at start or by the last good reload;
 * main is the only writer, after start-up only in reload() */
static struct settings S;
static struct conf_flags flags;
static int check_only;

/* every app, the removed ones too until they are freed. main changes the
 * list and the apps' settings; with apps_lock held for writing when the
 * admin thread (which reads under it) could see it */
static struct app *apps;
static pthread_rwlock_t apps_lock = PTHREAD_RWLOCK_INITIALIZER;
static int scaling;                /* Docker is in use (fleet threads started) */
static struct fleet **retired;     /* fleets of apps that lost their image on a
                                      reload, freed by reap() once done */
static int nretired;

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
static struct hist history;        /* all apps' last 15 minutes (each scaled app: a->hist) */

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
		proxy_release(c);
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

/* which held requests resume() takes */
struct due {
	struct app *app;       /* those of this app (NULL: any) */
	int n;                 /* at most this many, -1: all */
	int64_t now;           /* those whose hold has ended by now (0: any) */
	int stop;              /* all: draining */
};

/* whether c is due: ready apps are asked once per call (cache) */
static int
due(const struct due *d, struct conn *c, struct app **seen, int *ok, int *nseen)
{
	int i;

	if (d->stop)
		return 1;
	if (d->app)
		return c->app == d->app;
	if (d->now && c->hold_until <= d->now)
		return 1;
	for (i = 0; i < *nseen && seen[i] != c->app; i++)
		;
	if (i == *nseen) {
		if (i == 64)
			return 1;  /* many apps hold requests: let the worker ask */
		seen[i] = c->app;
		/* a backend is pickable (a safety net for a missed on_ready, and
		 * down back-offs that ran out), or the app fails to start (they
		 * get its cause) */
		ok[i] = pool_pickable(c->app->pool) || pool_failing(c->app->pool, NULL, 0);
		(*nseen)++;
	}
	return ok[i];
}

/* takes the held requests d names off the list and arms them to be
 * served again: writable at once, so a worker gets each */
static void
resume(const struct due *d)
{
	struct conn *batch[64], *prev, *c, *next;
	struct app *seen[64];
	int k, ok[64], nseen = 0, n = d->n;

	do {
		k = 0;
		prev = NULL;
		pthread_mutex_lock(&H.lock);
		for (c = H.head; c && k < (int)LEN(batch) && n != 0; c = next) {
			next = c->hnext;
			if (!due(d, c, seen, ok, &nseen)) {
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

/* pool.c: n held requests (-1: all) of app arg may find a backend now */
static void
on_ready(void *arg, int n)
{
	resume(&(struct due){ .app = arg, .n = n });
}

/* pool.c: a request of app arg found nothing ready */
static void
app_demand(void *arg)
{
	struct app *a = arg;

	if (a->fleet)
		fleet_demand(a->fleet);
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
 * At most PW.max (AWAKE per CPU) workers are awake, polling epoll or serving; the others
 * sleep on PW.cv. A large pool (sized for slow apps) then costs nothing
 * when requests are fast: a few warm workers take them in turn, and a
 * request that comes while they all serve waits in epoll until one is
 * done (fractions of a millisecond) instead of waking a sleeper, a
 * context switch and often a cross-CPU wake-up. A worker that has served
 * for BLOCKED_MS (a slow backend or client holds it) stops counting:
 * watch() wakes a sleeper in its place, so a slow app still gets every
 * worker within milliseconds (the Go scheduler's hand-off of a thread
 * blocked in a system call). PW.lock protects all of PW and the workers'
 * prev, next, since and serving.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv, wcv;   /* sleepers; watch() while none serves */
	int max, pollers, serving, parked, watching;  /* awake: pollers + serving */
	struct worker *head, *tail;  /* serving and counted, oldest first */
} PW = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
	 AWAKE, 0, 0, 0, 0, NULL, NULL };

static void
unlink_serving(struct worker *w)
{
	*(w->prev ? &w->prev->next : &PW.head) = w->next;
	*(w->next ? &w->next->prev : &PW.tail) = w->prev;
	w->prev = w->next = NULL;
	w->serving = 0;
}

/* w is done serving (or starts). One that counted polls if fewer than
 * PW.max are awake without it. One that stopped counting (a slow
 * exchange, or a new worker) polls while fewer than PW.max poll: the
 * next request of a slow app is about to come, and letting in one worker
 * per one that stopped counting would take at most PW.max new requests
 * per BLOCKED_MS (8,000 a second on 2 CPUs). Otherwise it sleeps until
 * watch() lets it in */
static void
poll_enter(struct worker *w)
{
	int counted;

	pthread_mutex_lock(&PW.lock);
	if ((counted = w->serving)) {  /* watch() may have just let it go */
		unlink_serving(w);
		PW.serving--;
	}
	if (counted ? PW.pollers + PW.serving >= PW.max : PW.pollers >= PW.max) {
		/* a surplus worker: its buffers need not stay resident */
		pthread_mutex_unlock(&PW.lock);
		proxy_worker_trim(w);
		pthread_mutex_lock(&PW.lock);
		while (PW.pollers + PW.serving >= PW.max) {
			PW.parked++;
			pthread_cond_wait(&PW.cv, &PW.lock);
			PW.parked--;
		}
	}
	PW.pollers++;
	pthread_mutex_unlock(&PW.lock);
}

/* w took an event: it serves, still counted as awake */
static void
poll_leave(struct worker *w)
{
	pthread_mutex_lock(&PW.lock);
	PW.pollers--;
	PW.serving++;
	w->since = now_ms();
	w->serving = 1;
	w->prev = PW.tail;
	*(PW.tail ? &PW.tail->next : &PW.head) = w;
	PW.tail = w;
	if (PW.watching)
		pthread_cond_signal(&PW.wcv);
	pthread_mutex_unlock(&PW.lock);
}

/* every millisecond while a worker serves: those that have served for
 * BLOCKED_MS stop counting, and as many sleepers wake */
static void *
watch(void *arg)
{
	struct timespec tick = { 0, 1000000 };
	int k;

	(void)arg;
	pthread_mutex_lock(&PW.lock);
	for (;;) {
		while (!PW.head) {
			PW.watching = 1;
			pthread_cond_wait(&PW.wcv, &PW.lock);
			PW.watching = 0;
		}
		pthread_mutex_unlock(&PW.lock);
		nanosleep(&tick, NULL);
		pthread_mutex_lock(&PW.lock);
		int64_t old = now_ms() - BLOCKED_MS;
		for (k = 0; PW.head && PW.head->since <= old; k++) {
			unlink_serving(PW.head);
			PW.serving--;
		}
		for (k = k < PW.parked ? k : PW.parked; k > 0; k--)
			pthread_cond_signal(&PW.cv);
	}
	return NULL;
}

/*
 * worker: leader/follower on one epoll set. The awake workers wait in
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
		for (k = 0; (n = epoll_wait(epfd, &ev, 1, k < S.yields ? 0 : -1)) != 1; k++)
			if (n == 0)
				sched_yield();
		poll_leave(w);
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

	/* or with every awake worker busy: fast requests then wait in epoll
	 * for one rather than waking another */
	pthread_mutex_lock(&PW.lock);
	saturated |= PW.pollers == 0 && PW.serving > 0;
	pthread_mutex_unlock(&PW.lock);
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
	/* held requests: those whose app can take them, or whose hold ran
	 * out (they get 503) */
	resume(&(struct due){ .n = -1, .now = now, .stop = stop });
	if (atomic_load(&accept_paused) && !stop) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = &listener_tag };
		atomic_store(&accept_paused, 0);
		epoll_ctl(epfd, EPOLL_CTL_MOD, lfd, &ev);
	}
	if (scaling)
		fleet_queued(saturated ? queued + backlog() : 0);
}

/* config.h's values: what conf_load() starts from */
static const struct conf_rule rules[] = APPS;

static void
defaults(struct settings *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->listen, sizeof(d->listen), "%s", LISTEN_ADDR);
	snprintf(d->admin, sizeof(d->admin), "%s", ADMIN_ADDR);
	d->threads = NTHREADS;
	d->max_conns = MAX_CONNS;
	d->max_active = MAX_ACTIVE;
	d->header_timeout = HEADER_TIMEOUT;
	d->body_timeout = BODY_TIMEOUT;
	d->keepalive_timeout = KEEPALIVE_TIMEOUT;
	d->send_timeout = SEND_TIMEOUT;
	d->connect_timeout = CONNECT_TIMEOUT;
	d->backend_timeout = BACKEND_TIMEOUT;
	d->tunnel_timeout = TUNNEL_TIMEOUT;
	d->drain_timeout = DRAIN_TIMEOUT;
	d->max_tries = MAX_TRIES;
	d->access_log = ACCESS_LOG;
	d->defer_accept = DEFER_ACCEPT;
	d->yields = YIELDS;
	d->max_tunnels = MAX_TUNNELS;
	d->min_rate = MIN_RATE;
	d->min_rate_grace = MIN_RATE_GRACE;
	d->def = (struct app_conf){
		.name = SET_NAME, .balance = BALANCE, .conn_cap = CONN_CAP, .max_inflight = MAX_INFLIGHT,
		.hold_timeout = HOLD_TIMEOUT, .hold_max = HOLD_MAX, .starting_page = STARTING_PAGE,
		.max_fails = MAX_FAILS, .down_backoff = DOWN_BACKOFF,
		.idle_per_backend = IDLE_PER_BACKEND, .backend_idle = BACKEND_IDLE,
		.sc = {
			.image = "", .port = IMAGE_PORT, .min = MIN_INSTANCES, .max = MAX_INSTANCES,
			.target = TARGET_INFLIGHT, .name = SET_NAME, .socket = "",
			.metric = METRIC, .target_rps = TARGET_RPS, .down_delay = SCALE_DOWN_DELAY,
			.idle_timeout = IDLE_TIMEOUT, .start_timeout = START_TIMEOUT,
			.ready_path = READY_PATH, .pull = PULL_POLICY, .keep = KEEP_ON_EXIT,
			.driver = DRIVER,
			.sample_ms = SAMPLE_MS,
			.pause_after = PAUSE_AFTER, .remove_after = REMOVE_AFTER,
			.min_paused = MIN_PAUSED, .max_paused = MAX_PAUSED,
		},
	};
}

/* loads the settings into s from config.h, the file and the flags;
 * 0 or -1 (the reasons are on stderr) */
static int
load(struct settings *s)
{
	struct settings d;

	defaults(&d);
	return conf_load(s, &d, rules, &flags, THREADS_MIN, THREADS_MAX, THREADS_PER_BACKEND,
	                 stderr);
}

static void
parse_args(int argc, char *argv[])
{
	int ch;

	conf_init(THREADS_MAX);
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
			flags.quiet = 1;
			break;
		case 'T':
			check_only = 1;
			break;
		case 'f':
			flags.file = optarg;
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
			if (conf_flag(&flags, ch, optarg, stderr) < 0) {
				usage();
				exit(2);
			}
		}
	}
	if (optind < argc) {
		fprintf(stderr, "prescal: unexpected argument '%s'\n", argv[optind]);
		usage();
		exit(2);
	}
	if (load(&S) < 0) {
		if (!flags.file && flags.n == 0)
			usage();
		exit(2);
	}
	if (S.threads_why[0] == 'b' && !check_only)
		warn("threads %ld is %s", S.threads, S.threads_why);
}

/* a's request-path settings from its conf */
static void
publish(struct app *a)
{
	a->hold_timeout = a->c.hold_timeout;
	a->starting_page = a->c.starting_page;
}

/* the pool settings of an app */
static struct pool_conf
pool_conf_of(struct app *a)
{
	return (struct pool_conf){
		.balance = strcmp(a->c.balance, "rr") ? BAL_LEAST : BAL_RR,
		.max_fails = (int)a->c.max_fails, .backoff_ms = (int)a->c.down_backoff,
		.idle_max = (int)a->c.idle_per_backend, .idle_ms = (int)a->c.backend_idle,
		.hold = a->c.sc.image[0] != '\0', .hold_max = (int)a->c.hold_max,
		.conn_cap = (int)a->c.conn_cap, .max_inflight = (int)a->c.max_inflight,
		.demand = app_demand, .ready = on_ready, .arg = a,
	};
}

/* adds the static backends of a's conf that its pool lacks, and removes
 * those it no longer names (their requests finish: picks hold them). The
 * references taken on have[] go at the end: a removed backend may be freed
 * by its last unref, and the second loop still reads every name */
static int
sync_backends(struct app *a)
{
	struct backend *have[APP_BACKENDS * 2];
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *msg;
	int n = 0, i, k, r = -1;

	n = pool_static(a->pool, have, LEN(have));
	for (i = 0; i < n; i++) {
		for (k = 0; k < a->c.nbackend && strcmp(a->c.backend[k], have[i]->name); k++)
			;
		if (k == a->c.nbackend) {
			warn("app %s: backend %s removed", a->c.name, have[i]->name);
			pool_remove(have[i]);
		}
	}
	for (k = 0; k < a->c.nbackend; k++) {
		for (i = 0; i < n && strcmp(a->c.backend[k], have[i]->name); i++)
			;
		if (i < n)
			continue;
		if (resolve_addr(a->c.backend[k], "127.0.0.1", &ss, &sl, &msg) < 0) {
			warn("app %s: backend %s: %s", a->c.name, a->c.backend[k], msg);
			goto out;
		}
		if (!pool_add(a->pool, a->c.backend[k], NULL, &ss, sl, B_UP))
			goto out;
		if (n > 0)
			warn("app %s: backend %s added", a->c.name, a->c.backend[k]);
	}
	r = 0;
out:
	for (i = 0; i < n; i++)
		pool_unref(have[i]);
	return r;
}

/* a scaled app's history, empty; NULL on ENOMEM (logged) */
static struct hist *
app_hist(void)
{
	struct hist *h = malloc(sizeof(*h));

	if (h)
		hist_init(h);
	else
		warn("app history:");
	return h;
}

/* a new app: its pool, its static backends, its fleet; listed in apps
 * (not routed to yet). NULL on failure (logged) */
static struct app *
app_create(const struct app_conf *c)
{
	struct app *a;
	struct pool_conf pc;

	if (!(a = calloc(1, sizeof(*a))))
		return NULL;
	a->c = *c;
	snprintf(a->name, sizeof(a->name), "%s", c->name);
	publish(a);
	pc = pool_conf_of(a);
	if (!(a->pool = pool_new(&pc)) || sync_backends(a) < 0)
		goto fail;
	if (c->sc.image[0]) {
		if (!(a->hist = app_hist()))
			goto fail;
		a->fleet = fleet_new(&c->sc, a->pool, a->hist);
		if (!a->fleet)
			goto fail;
	}
	pthread_rwlock_wrlock(&apps_lock);
	a->next = apps;
	apps = a;
	pthread_rwlock_unlock(&apps_lock);
	return a;
fail:
	pool_free(a->pool);
	free(a->hist);
	free(a);
	return NULL;
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
		.tunnel_timeout = S.tunnel_timeout,
		.max_tries = S.max_tries, .access_log = S.access_log,
		.max_tunnels = S.max_tunnels,
		.min_rate = S.min_rate, .min_rate_grace = S.min_rate_grace,
	};
	static struct worker *w;  /* lives as long as the process */

	proxy_init(&pc);
	cpu_set_t cs;
	PW.max = AWAKE * (sched_getaffinity(0, sizeof(cs), &cs) == 0 ? CPU_COUNT(&cs) : 1);
	if (S.threads < 1)
		die("no worker threads");  /* size_threads() gives at least THREADS_MIN */
	if (!(w = calloc(S.threads, sizeof(*w))))
		die("calloc:");
	for (long i = 0; i < S.threads; i++) {
		if (proxy_worker_init(&w[i], CONN_BUF, RELAY_BUF, lim.max_headers) < 0)
			die("out of memory");
		start_thread(worker, &w[i], (size_t)WORKER_STACK * 1024);
	}
	start_thread(watch, NULL, (size_t)WORKER_STACK * 1024);
}

/* adds a's counters now to r */
static void
read_app(struct app *a, struct hist_reading *r)
{
	struct pool_stats pl;
	struct fleet_stats sc;

	pool_get_stats(a->pool, &pl);
	r->inflight += pl.inflight;
	r->held += pl.waiting;
	if (a->fleet) {
		fleet_get_stats(a->fleet, &sc);
		r->starting += sc.starting;
		r->ready += sc.ready;
		r->draining += sc.draining;
		r->want += sc.want;
	}
}

/* main, once a second: the counters as one sample of each history: the
 * sum over the apps, and each scaled app's own */
static void
record_history(void)
{
	struct hist_reading r = { .mono = now_ms(), .wall = wall_ms() }, ar;
	struct proxy_stats px;

	proxy_get_stats(&px);
	r.requests = px.requests;
	r.errs = px.status[5];
	for (struct app *a = apps; a; a = a->next) {
		read_app(a, &r);
		if (!a->hist)
			continue;
		ar = (struct hist_reading){ .mono = r.mono, .wall = r.wall,
		                            .requests = atomic_load(&a->requests),
		                            .errs = atomic_load(&a->status[5]) };
		read_app(a, &ar);
		hist_add(a->hist, &ar);
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
worker_counts(long *polling, long *serving, long *sleeping, long *all)
{
	pthread_mutex_lock(&PW.lock);
	*polling = PW.pollers;
	*serving = PW.serving;
	*sleeping = PW.parked;
	pthread_mutex_unlock(&PW.lock);
	*all = S.threads;
}

static void
each_app(void (*fn)(struct app *a, void *arg), void *arg)
{
	pthread_rwlock_rdlock(&apps_lock);
	for (struct app *a = apps; a; a = a->next)
		if (!a->removed)
			fn(a, arg);
	pthread_rwlock_unlock(&apps_lock);
}

static void
start_admin(void)
{
	struct admin_conf ac = {
		.draining = is_draining, .conns = conn_counts, .workers = worker_counts, .hist = &history,
		.each_app = each_app,
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

/* the Docker side, once, when the first scaled app comes */
static int
start_scaling(void)
{
	if (scaling)
		return 0;
	if (fleet_init(S.socket) < 0)
		return -1;
	start_thread(fleet_loop, NULL, (size_t)THREAD_STACK * 1024);
	start_thread(fleet_events, NULL, (size_t)THREAD_STACK * 1024);
	start_thread(fleet_swarm_events, NULL, (size_t)THREAD_STACK * 1024);
	for (int i = 0; i < SCALE_WORKERS; i++)
		start_thread(fleet_worker, NULL, (size_t)THREAD_STACK * 1024);
	scaling = 1;
	return 0;
}

/* builds and installs the routes to the live apps; 0 or -1 (logged) */
static int
install_routes(void)
{
	struct app *list[APP_MAX];
	struct routes *rt;
	char err[256];
	int n = 0;

	for (struct app *a = apps; a && n < APP_MAX; a = a->next)
		if (!a->removed)
			list[n++] = a;
	if (!(rt = routes_build(list, n, err, sizeof(err)))) {
		warn("routes: %s", err);
		return -1;
	}
	routes_free(app_install(rt));
	return 0;
}

/* starts the apps of S at start-up; exits on failure */
static void
start_apps(void)
{
	for (int i = S.napp - 1; i >= 0; i--) {
		if (S.app[i].sc.image[0] && start_scaling() < 0)
			exit(1);
		if (!app_create(&S.app[i]))
			exit(1);
	}
	if (install_routes() < 0)
		exit(1);
}

static struct app *
app_find(const char *name)
{
	for (struct app *a = apps; a; a = a->next)
		if (!a->removed && !strcmp(a->name, name))
			return a;
	return NULL;
}

/* a removed app: no new requests; those in flight finish; held ones are
 * answered; its instances drain and go */
static void
app_remove(struct app *a)
{
	warn("app %s removed: draining it", a->name);
	a->removed = 1;
	pool_wake_all(a->pool);
	if (a->fleet)
		fleet_retire(a->fleet);
}

/* whether c says more about app a than a->c: where the block stands in
 * the file (file, line) is no setting, and an app whose block only moved
 * (another above it was removed) has not changed */
static int
app_differs(const struct app *a, const struct app_conf *c)
{
	struct app_conf t = *c;  /* 20 KiB: main's stack only */

	memcpy(t.file, a->c.file, sizeof(t.file));
	t.line = a->c.line;
	return memcmp(&a->c, &t, sizeof(t)) != 0;  /* NOLINT(bugprone-suspicious-memory-comparison,cert-exp42-c,cert-flp37-c): both built by conf.c in zeroed memory; stale bytes after a NUL can only make equal settings look changed, which re-applies them to no effect */
}

/* a changed app: settings at once, backends added and removed, the fleet
 * told (it replaces instances when the image changed). Returns 1 when
 * something changed, 0 when nothing did, -1 when not all of it applied */
static int
app_change(struct app *a, const struct app_conf *c)
{
	struct pool_conf pc;
	int had = a->fleet != NULL;

	if (!app_differs(a, c)) {
		pthread_rwlock_wrlock(&apps_lock);
		memcpy(a->c.file, c->file, sizeof(a->c.file));
		a->c.line = c->line;
		pthread_rwlock_unlock(&apps_lock);
		return 0;
	}
	pthread_rwlock_wrlock(&apps_lock);
	a->c = *c;
	pthread_rwlock_unlock(&apps_lock);
	publish(a);
	pc = pool_conf_of(a);
	pool_set_conf(a->pool, &pc);
	if (sync_backends(a) < 0)
		return -1;
	if (c->sc.image[0] && had) {
		fleet_set_conf(a->fleet, &c->sc);
	} else if (c->sc.image[0]) {
		if (!a->hist) {
			struct hist *h = app_hist();
			if (!h)
				return -1;
			pthread_rwlock_wrlock(&apps_lock);
			a->hist = h;
			pthread_rwlock_unlock(&apps_lock);
		}
		if (start_scaling() < 0)
			return -1;
		a->fleet = fleet_new(&c->sc, a->pool, a->hist);
		if (!a->fleet)
			return -1;
	} else if (had) {
		struct fleet **r = realloc(retired, (nretired + 1) * sizeof(struct fleet *));
		fleet_retire(a->fleet);
		if (r) {  /* else it is never freed: a leak, not a fault */
			retired = r;
			retired[nretired++] = a->fleet;
		}
		a->fleet = NULL;
	}
	warn("app %s: settings changed", a->name);
	return 1;
}

/* SIGHUP: the config file again. A file that does not load changes
 * nothing. Global settings other than the apps take effect at a restart. */
static void
reload(void)
{
	struct settings ns;
	struct app *a;
	int i, r, changed = 0, explicit_threads = 0;

	warn("SIGHUP: reloading %s", flags.file ? flags.file : "the configuration");
	if (load(&ns) < 0) {
		warn("reload failed (see above): keeping the configuration as it was");
		return;
	}
	/* auto-sized workers follow the apps (max x target): that is no
	 * global setting of the user's, but more may be wanted than run */
	if (strncmp(ns.threads_why, "auto", 4) || strncmp(S.threads_why, "auto", 4))
		explicit_threads = ns.threads != S.threads;
	else if (ns.threads > S.threads)
		warn("reload: the apps now want %ld workers, %ld run; a restart starts more",
		     ns.threads, S.threads);
	if (strcmp(ns.listen, S.listen) || strcmp(ns.admin, S.admin) || explicit_threads ||
	    ns.max_conns != S.max_conns || ns.header_timeout != S.header_timeout ||
	    ns.keepalive_timeout != S.keepalive_timeout || ns.body_timeout != S.body_timeout ||
	    ns.send_timeout != S.send_timeout || ns.connect_timeout != S.connect_timeout ||
	    ns.backend_timeout != S.backend_timeout || ns.access_log != S.access_log ||
	    strcmp(ns.socket, S.socket))
		warn("reload: global settings changed; they take effect at the next start");
	for (a = apps; a; a = a->next) {
		if (a->removed)
			continue;
		for (i = 0; i < ns.napp && strcmp(ns.app[i].name, a->name); i++)
			;
		if (i == ns.napp) {
			pthread_rwlock_wrlock(&apps_lock);
			app_remove(a);
			pthread_rwlock_unlock(&apps_lock);
			changed++;
		}
	}
	for (i = ns.napp - 1; i >= 0; i--) {
		if ((a = app_find(ns.app[i].name))) {
			if ((r = app_change(a, &ns.app[i])) < 0)
				warn("app %s: not all of its new settings could be applied", a->name);
			changed += r != 0;
		} else if ((ns.app[i].sc.image[0] && start_scaling() < 0) ||
		           !app_create(&ns.app[i])) {
			warn("app %s: could not be added", ns.app[i].name);
		} else {
			warn("app %s added", ns.app[i].name);
			changed++;
		}
	}
	if (install_routes() < 0)
		warn("reload: the routes could not be built; the old ones stay");
	conf_free(&S);
	S.app = ns.app;
	S.napp = ns.napp;
	S.blocks = ns.blocks;
	warn("reload done: %d apps, %d changed", ns.napp, changed);
}

/* main, every second: frees removed apps once nothing holds them, and
 * fleets retired from apps that go on without an image */
static void
reap(void)
{
	struct app **pp = &apps, *a;

	for (int i = 0; i < nretired; i++) {
		if (fleet_done(retired[i])) {
			fleet_free(retired[i]);
			retired[i--] = retired[--nretired];
		}
	}

	while ((a = *pp)) {
		struct fleet *f = a->fleet;
		if (a->removed && atomic_load(&a->refs) == 0 && (!f || fleet_done(f))) {
			pthread_rwlock_wrlock(&apps_lock);
			*pp = a->next;
			pthread_rwlock_unlock(&apps_lock);
			if (f)
				fleet_free(f);
			pool_free(a->pool);
			warn("app %s: gone", a->name);
			free(a->hist);
			free(a);
			continue;
		}
		pp = &a->next;
	}
}

/* SIGTERM/SIGINT: stop accepting, let in-flight requests finish */
static void
drain(void)
{
	int64_t until = now_ms() + S.drain_timeout;
	int nullfd;

	atomic_store(&stopping, 1);
	proxy_set_draining(1);
	epoll_ctl(epfd, EPOLL_CTL_DEL, lfd, NULL);
	/* the port is free at once (a new prescal may bind it while this one
	 * drains), but the descriptor number stays taken: a worker still in
	 * accept_batch() then meets /dev/null, never another socket that
	 * reused the number (a race TSan saw with close()) */
	if ((nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 || dup2(nullfd, lfd) < 0)
		close(lfd);
	if (nullfd >= 0)
		close(nullfd);
	for (struct app *a = apps; a; a = a->next)
		pool_wake_all(a->pool);
	while (now_ms() < until) {
		sweep();  /* closes idle keep-alive connections now */
		if (atomic_load(&busy) == 0 && atomic_load(&ntunnels) == 0)
			break;
		usleep(20000);
	}
	if (atomic_load(&busy) > 0 || atomic_load(&ntunnels) > 0)
		warn("drain timeout: %d requests and %d tunnels still open", atomic_load(&busy),
		     atomic_load(&ntunnels));
	if (scaling)
		fleet_stop();
}

int
main(int argc, char *argv[])
{
	sigset_t set;
	int sig, nstatic = 0;

	parse_args(argc, argv);
	lim = (struct http_limits){ MAX_LINE, MAX_HEAD, MAX_HEADERS, MAX_CHUNK_LINE, MAX_TRAILER };
	if (check_only) {
		conf_print(&S, stdout);
		fprintf(stderr, "prescal: configuration ok\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	setup_tables();
	start_listener();
	hist_init(&history);
	start_apps();
	start_workers();
	start_admin();
	for (int i = 0; i < S.napp; i++)
		nstatic += S.app[i].nbackend;
	warn("listening on %s, %ld workers (%s; at most %d awake), %d apps, %d static backends%s",
	     S.listen, S.threads, S.threads_why, PW.max, S.napp, nstatic, scaling ? ", scaling" : "");
	for (int tick = 0; ; tick++) {
		struct timespec ts = { 0, 100000000 };
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP)
			reload();
		sweep();
		if (tick % 10 == 0) {
			for (struct app *a = apps; a; a = a->next)
				pool_expire_idle(a->pool);
			record_history();
			reap();
		}
	}
	warn("signal %d: draining", sig);
	drain();
	return 0;
}

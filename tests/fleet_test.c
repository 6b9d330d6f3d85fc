/* See LICENSE file for copyright and license details. */
/*
 * fleet_test: fleet.c's instance slots under churn, built with TSan. The
 * test links fleet.c and util.c with fakes of docker.c (containers in
 * memory, an events stream fed by the test), pool.c (backends in memory,
 * each add and remove checked) and scale.c (a scaler that starts and
 * drains at random). While an instance's job waits for Docker, the fake
 * daemon sometimes reports the container dead: the events thread condemns
 * the instance, a removal job frees its slot and a start reuses it. A job
 * that then acts on the slot acts on another container. A second app with
 * driver swarm churns beside it on fake services (swarm.h): its tasks die
 * with no event naming them, so its polls must find them (#14).
 *
 * Checked: no two live backends for one container, no state change or
 * removal of a removed backend, a backend's name and id belong to one
 * container, and once the churn stops the live backends, the live
 * containers and the ready instances are the same ones; after
 * fleet_stop() no container is left. Beside it, an app at rest (min 0,
 * nothing running, no demand) is never sampled until fleet_demand() wakes
 * it. FLEET_STRESS_MS sets the churn time;
 * fleet.c's log lines (thousands) are dropped unless FLEET_VERBOSE is set.
 * ThreadSanitizer reports go to stdout, since stderr is what is dropped.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "docker.h"
#include "pool.h"
#include "scale.h"
#include "fleet.h"
#include "swarm.h"
#include "util.h"

#define NCTR      50000     /* containers the fake daemon can create */
#define NEV       1024      /* queued events */
#define MAXRUN    12        /* the fake scaler starts up to this many */

/* the fake daemon; T.lock protects everything in T */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t ev;
	struct { char id[65], name[72], image[32]; int removed, svc, dead; struct backend *b; } c[NCTR];
	int nc;
	char evq[NEV][65];
	int evhead, evn;
	struct backend *live[NCTR];   /* backends added and not removed */
	int nlive;
	char bad[512];                /* the first violation */
	long violations, injected, adds, removes;
} T = { .lock = PTHREAD_MUTEX_INITIALIZER, .ev = PTHREAD_COND_INITIALIZER };

static atomic_int churn, inject;
static atomic_long rest_ticks;    /* scale_tick calls for the app "rest" */
static atomic_uint rnd;

struct docker {
	int status;
};

static unsigned
rand_next(void)
{
	unsigned x = atomic_fetch_add(&rnd, 2654435761u);

	x ^= x >> 15;
	x *= 2246822519u;
	return x ^ (x >> 13);
}

static void
violation_locked(const char *fmt, ...)
{
	va_list ap;

	if (T.violations++ == 0) {
		va_start(ap, fmt);
		vsnprintf(T.bad, sizeof(T.bad), fmt, ap);
		va_end(ap);
	}
}

static int
find_locked(const char *id)
{
	for (int i = T.nc - 1; i >= 0; i--)
		if (!strcmp(T.c[i].id, id))
			return i;
	return -1;
}

/* docker.h */

const char *
docker_default_socket(void)
{
	return "/fake.sock";
}

struct docker *
docker_open(const char *sockpath, int timeout_ms)
{
	(void)sockpath;
	(void)timeout_ms;
	return calloc(1, sizeof(struct docker));
}

void
docker_close(struct docker *d)
{
	free(d);
}

void
docker_set_timeout(struct docker *d, int timeout_ms)
{
	(void)d;
	(void)timeout_ms;
}

const char *
docker_error(const struct docker *d)
{
	return d->status == 404 ? "404: no such container" : "fake error";
}

int
docker_status(const struct docker *d)
{
	return d->status;
}

int
docker_ping(struct docker *d, char *version, size_t n)
{
	(void)d;
	snprintf(version, n, "fake");
	return 0;
}

int
docker_image_exists(struct docker *d, const char *image)
{
	(void)d;
	(void)image;
	return 1;
}

int
docker_image_pull(struct docker *d, const char *image)
{
	(void)d;
	(void)image;
	return 0;
}

int
docker_spec_equal(const struct docker_spec_buf *a, const struct docker_spec_buf *b)
{
	return !memcmp(a, b, sizeof(*a));
}

int
docker_spec_view(const struct docker_spec_buf *b, const char *const *pre, size_t npre,
                 const char **vec, size_t nvec, struct docker_spec *s)
{
	(void)b;
	(void)vec;
	(void)nvec;
	s->env = pre;
	s->nenv = npre;
	return 0;
}

int
docker_spec_get(const struct docker_spec_buf *s, const char *key, size_t i, char *out, size_t n)
{
	(void)s;
	(void)key;
	(void)i;
	if (n > 0)
		out[0] = '\0';
	return 0;
}

int
docker_network_check(struct docker *d, const char *name)
{
	(void)d;
	(void)name;
	return 0;
}

const char *
docker_net_ip(const struct docker_net *nets, size_t n, const char *name)
{
	(void)nets;
	(void)n;
	(void)name;
	return NULL;
}

int
docker_create(struct docker *d, const struct docker_spec *s, char id[65])
{
	int k;

	pthread_mutex_lock(&T.lock);
	if ((k = T.nc) == NCTR) {
		pthread_mutex_unlock(&T.lock);
		d->status = 500;
		return -1;
	}
	T.nc++;
	snprintf(T.c[k].id, sizeof(T.c[k].id), "%064d", k + 1);
	snprintf(T.c[k].name, sizeof(T.c[k].name), "%s", s->name);
	snprintf(T.c[k].image, sizeof(T.c[k].image), "%s", s->image);
	snprintf(id, 65, "%s", T.c[k].id);
	pthread_mutex_unlock(&T.lock);
	d->status = 201;
	return 0;
}

int
docker_start(struct docker *d, const char *id)
{
	(void)id;
	d->status = 204;
	return 0;
}

/* running and healthy; sometimes it dies right after this answer and
 * the caller is kept waiting, so that its slot is freed and reused */
int
docker_inspect(struct docker *d, const char *id, int port, struct docker_state *st)
{
	int k, die = 0;

	(void)port;
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&T.lock);
	if ((k = find_locked(id)) < 0 || T.c[k].removed) {
		pthread_mutex_unlock(&T.lock);
		d->status = 404;
		return -1;
	}
	st->running = 1;
	snprintf(st->status, sizeof(st->status), "running");
	st->health = DOCKER_HEALTH_HEALTHY;
	st->hostport = 10000 + k % 50000;
	snprintf(st->name, sizeof(st->name), "%s", T.c[k].name);
	if (atomic_load(&inject) && rand_next() % 3 == 0 && T.evn < NEV) {
		snprintf(T.evq[(T.evhead + T.evn++) % NEV], 65, "%s", id);
		T.injected++;
		die = 1;
		pthread_cond_signal(&T.ev);
	}
	pthread_mutex_unlock(&T.lock);
	if (die)
		usleep(2000 + rand_next() % 3000);
	d->status = 200;
	return 0;
}

int
docker_list(struct docker *d, const char *set, int port, struct docker_ctr *out,
            size_t max, size_t *n)
{
	size_t sl = strlen(set);

	(void)port;
	*n = 0;
	pthread_mutex_lock(&T.lock);
	for (int i = 0; i < T.nc && *n < max; i++) {
		/* the set's containers are named "<set>-<n>"; services are swarm_'s */
		if (T.c[i].removed || T.c[i].svc || strncmp(T.c[i].name, set, sl) ||
		    T.c[i].name[sl] != '-')
			continue;
		memset(&out[*n], 0, sizeof(out[*n]));
		snprintf(out[*n].id, sizeof(out[*n].id), "%s", T.c[i].id);
		snprintf(out[*n].name, sizeof(out[*n].name), "%s", T.c[i].name);
		snprintf(out[*n].state, sizeof(out[*n].state), "running");
		snprintf(out[*n].image, sizeof(out[*n].image), "%s", T.c[i].image);
		(*n)++;
	}
	pthread_mutex_unlock(&T.lock);
	d->status = 200;
	return 0;
}

int
docker_stop(struct docker *d, const char *id, int grace_s)
{
	(void)id;
	(void)grace_s;
	d->status = 204;
	return 0;
}

int
docker_pause(struct docker *d, const char *id)
{
	(void)id;
	d->status = 204;
	return 0;
}

int
docker_unpause(struct docker *d, const char *id)
{
	(void)id;
	d->status = 204;
	return 0;
}

int
docker_kill(struct docker *d, const char *id)
{
	(void)id;
	d->status = 204;
	return 0;
}

int
docker_remove(struct docker *d, const char *id)
{
	int k;

	pthread_mutex_lock(&T.lock);
	if ((k = find_locked(id)) >= 0)
		T.c[k].removed = 1;
	pthread_mutex_unlock(&T.lock);
	d->status = 204;
	return 0;
}

int
docker_events_open(struct docker *d, const char *set)
{
	(void)set;
	d->status = 200;
	return 0;
}

int
docker_swarm_events_open(struct docker *d)
{
	d->status = 404;
	return -1;
}

/* "die" for each container the fake inspect killed */
int
docker_events_next(struct docker *d, struct docker_event *ev, int timeout_ms)
{
	struct timespec ts;
	int r = 0;

	(void)d;
	(void)timeout_ms;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 50 * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&T.lock);
	if (T.evn == 0)
		pthread_cond_timedwait(&T.ev, &T.lock, &ts);
	if (T.evn > 0) {
		memset(ev, 0, sizeof(*ev));
		snprintf(ev->id, sizeof(ev->id), "%s", T.evq[T.evhead]);
		snprintf(ev->action, sizeof(ev->action), "die");
		ev->exitcode = 137;
		T.evhead = (T.evhead + 1) % NEV;
		T.evn--;
		r = 1;
	}
	pthread_mutex_unlock(&T.lock);
	return r;
}

/* pool.h */

struct backend *
pool_add(struct pool *p, const char *name, const char *id, const struct sockaddr_storage *ss,
         socklen_t sslen, enum backend_state st)
{
	struct backend *b = calloc(1, sizeof(*b));
	int k;

	(void)p;
	(void)ss;
	(void)sslen;
	if (!b)
		return NULL;
	snprintf(b->name, sizeof(b->name), "%s", name);
	snprintf(b->id, sizeof(b->id), "%s", id);
	b->dynamic = 1;
	b->state = st;
	pthread_mutex_lock(&T.lock);
	T.adds++;
	if ((k = find_locked(id)) < 0)
		violation_locked("a backend for container %.12s, which was never created", id);
	else if (strcmp(T.c[k].name, name))
		violation_locked("backend %s for container %.12s, which is %s", name, id,
		                 T.c[k].name);
	else if (T.c[k].b)
		violation_locked("a second live backend for container %s", name);
	else
		T.c[k].b = b;
	T.live[T.nlive++] = b;
	pthread_mutex_unlock(&T.lock);
	return b;
}

static int
live_locked(const struct backend *b)
{
	for (int i = 0; i < T.nlive; i++)
		if (T.live[i] == b)
			return i;
	return -1;
}

void
pool_set_state(struct backend *b, enum backend_state st)
{
	pthread_mutex_lock(&T.lock);
	if (live_locked(b) < 0)
		violation_locked("state %d set on removed backend %s", (int)st, b->name);
	else
		b->state = st;
	pthread_mutex_unlock(&T.lock);
}

enum backend_state
pool_state(struct backend *b)
{
	enum backend_state st;

	pthread_mutex_lock(&T.lock);
	st = b->state;
	pthread_mutex_unlock(&T.lock);
	return st;
}

/* removed backends stay allocated: a late use is a violation, not a crash */
void
pool_remove(struct backend *b)
{
	int i, k;

	pthread_mutex_lock(&T.lock);
	T.removes++;
	if ((i = live_locked(b)) < 0) {
		violation_locked("backend %s removed twice", b->name);
	} else {
		T.live[i] = T.live[--T.nlive];
		if ((k = find_locked(b->id)) >= 0 && T.c[k].b == b)
			T.c[k].b = NULL;
		b->state = B_REMOVED;
	}
	pthread_mutex_unlock(&T.lock);
}

void
pool_ref(struct backend *b)
{
	(void)b;
}

void
pool_unref(struct backend *b)
{
	(void)b;
}

void
pool_get_stats(struct pool *p, struct pool_stats *st)
{
	(void)p;
	memset(st, 0, sizeof(*st));
}

/* scale.h: a scaler that churns */

int
scale_tick(const struct scale_conf *c, struct scale_state *s,
           const struct scale_input *in, int draining, const struct scale_ops *ops)
{
	int running = in->ready + in->starting;

	(void)s;
	if (!strcmp(c->name, "rest")) {
		atomic_fetch_add(&rest_ticks, 1);
		return 0;
	}
	/* after its reload fu is left alone: only the rolling replacement
	 * can take its old instances away */
	if (!atomic_load(&churn) || !strcmp(c->image, "img2"))
		return running;
	if (running < MAXRUN)
		ops->start(ops->arg, 1 + (int)(rand_next() % 3));
	if (in->ready > MAXRUN / 2 && !draining && rand_next() % 4 == 0)
		ops->drain_one(ops->arg);
	return running;
}

void
scale_failed(struct scale_state *s, int64_t now)
{
	(void)s;
	(void)now;
}

void
scale_succeeded(struct scale_state *s)
{
	(void)s;
}

void
scale_fail_text(char *out, size_t n, enum scale_fail why, long arg, const char *image)
{
	snprintf(out, n, "failure %d (%ld) of %s", (int)why, arg, image);
}

int
docker_logs(struct docker *d, const char *id, int tail, char *out, size_t n)
{
	(void)d;
	(void)id;
	(void)tail;
	if (n > 0)
		out[0] = '\0';
	return 0;
}

void
pool_set_failing(struct pool *p, const char *cause, int64_t until)
{
	(void)p;
	(void)cause;
	(void)until;
}

/* swarm.h: services in T.c too (svc set), one task each, which runs at
 * 127.0.0.1 (the test's probe server) until the fake kills it: sometimes
 * right after a look said it runs, like the fake inspect. Nothing tells
 * fleet.c but its polls, and a "die" event of a container it does not know */

const char *const swarm_reason_str[NUM_SWARM_REASON] = { "", "task pending", "", "", "task ended" };

int
docker_seterror(struct docker *d, const char *fmt, ...)
{
	(void)fmt;
	d->status = -1;
	return -1;
}

int
swarm_create(struct docker *d, const struct swarm_spec *s, char id[SWARM_IDLEN])
{
	int k;

	pthread_mutex_lock(&T.lock);
	if ((k = T.nc) == NCTR) {
		pthread_mutex_unlock(&T.lock);
		return docker_seterror(d, "full");
	}
	T.nc++;
	snprintf(T.c[k].id, sizeof(T.c[k].id), "s%024d", k + 1);
	snprintf(T.c[k].name, sizeof(T.c[k].name), "%s", s->name);
	T.c[k].svc = 1;
	snprintf(id, SWARM_IDLEN, "%s", T.c[k].id);
	pthread_mutex_unlock(&T.lock);
	d->status = 201;
	return 0;
}

int
swarm_remove(struct docker *d, const char *id)
{
	return docker_remove(d, id);
}

int
swarm_services(struct docker *d, const char *app, struct swarm_service *out, size_t max,
               size_t *n)
{
	(void)app;
	*n = 0;
	pthread_mutex_lock(&T.lock);
	for (int i = 0; i < T.nc && *n < max; i++) {
		if (T.c[i].removed || !T.c[i].svc)
			continue;
		memset(&out[*n], 0, sizeof(out[*n]));
		snprintf(out[*n].id, sizeof(out[*n].id), "%s", T.c[i].id);
		snprintf(out[*n].name, sizeof(out[*n].name), "%s", T.c[i].name);
		snprintf(out[*n].image, sizeof(out[*n].image), "img");
		(*n)++;
	}
	pthread_mutex_unlock(&T.lock);
	d->status = 200;
	return 0;
}

int
swarm_tasks(struct docker *d, const char *app, const char *service, const char *network,
            struct swarm_task *out, size_t max, size_t *n)
{
	int kill = -1;

	(void)app;
	(void)network;
	*n = 0;
	pthread_mutex_lock(&T.lock);
	for (int i = 0; i < T.nc && *n < max; i++) {
		struct swarm_task *t = &out[*n];
		if (T.c[i].removed || !T.c[i].svc || (service && strcmp(service, T.c[i].id)))
			continue;
		memset(t, 0, sizeof(*t));
		snprintf(t->id, sizeof(t->id), "t%d", i);
		snprintf(t->service, sizeof(t->service), "%s", T.c[i].id);
		snprintf(t->node, sizeof(t->node), "n1");
		snprintf(t->state, sizeof(t->state), T.c[i].dead ? "failed" : "running");
		snprintf(t->desired, sizeof(t->desired), T.c[i].dead ? "shutdown" : "running");
		snprintf(t->addr, sizeof(t->addr), "127.0.0.1");
		snprintf(t->err, sizeof(t->err), T.c[i].dead ? "task: non-zero exit (137)" : "");
		if (!T.c[i].dead && kill < 0 && atomic_load(&inject) && rand_next() % 3 == 0)
			kill = i;
		(*n)++;
	}
	if (kill >= 0) {
		T.c[kill].dead = 1;
		T.injected++;
		if (T.evn < NEV) {
			snprintf(T.evq[(T.evhead + T.evn++) % NEV], 65, "%064d", 0);
			pthread_cond_signal(&T.ev);
		}
	}
	pthread_mutex_unlock(&T.lock);
	d->status = 200;
	return 0;
}

int
swarm_nodes(struct docker *d, struct swarm_node *out, size_t max, size_t *n)
{
	(void)max;
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "n1");
	out->ready = out->active = 1;
	*n = 1;
	d->status = 200;
	return 0;
}

void
swarm_assess(const struct swarm_service *svc, size_t nsvc, const struct swarm_task *tasks,
             size_t ntasks, const struct swarm_node *nodes, size_t nnodes,
             struct swarm_assessment *out)
{
	(void)nodes;
	(void)nnodes;
	for (size_t i = 0; i < nsvc; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		for (size_t k = 0; k < ntasks; k++) {
			if (strcmp(tasks[k].service, svc[i].id))
				continue;
			out[i].task = &tasks[k];
			if (!strcmp(tasks[k].state, "failed")) {
				out[i].verdict = SWARM_REPLACE;
				out[i].reason = SWARM_R_TASKENDED;
			} else {
				out[i].verdict = SWARM_ROUTE;
				snprintf(out[i].addr, sizeof(out[i].addr), "%s", tasks[k].addr);
			}
		}
	}
}

/* the tasks' HTTP server on 127.0.0.1: 200 to every probe */
static int probe_fd;

static void *
probe_serve(void *arg)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	char buf[512];
	int fd;

	(void)arg;
	while ((fd = accept(probe_fd, NULL, NULL)) >= 0) {
		if (recv(fd, buf, sizeof(buf), 0) > 0)
			send(fd, ok, sizeof(ok) - 1, MSG_NOSIGNAL);
		close(fd);
	}
	return NULL;
}

/* listens on 127.0.0.1 for the probes; returns the port */
static int
probe_listen(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);

	if ((probe_fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(probe_fd, (struct sockaddr *)&sin, sl) < 0 || listen(probe_fd, 64) < 0 ||
	    getsockname(probe_fd, (struct sockaddr *)&sin, &sl) < 0)
		return -1;
	return ntohs(sin.sin_port);
}

/* the test */

/* TSan reports: to stdout, which stays open while stderr is dropped */
const char *__tsan_default_options(void);
const char *
__tsan_default_options(void)
{
	return "log_path=stdout";
}

/* drops fd 2 (fleet.c's warn lines) while quiet; returns the saved fd */
static int
quiet(int saved)
{
	int fd;

	if (getenv("FLEET_VERBOSE"))
		return -1;
	if (saved >= 0) {
		dup2(saved, 2);
		close(saved);
		return -1;
	}
	saved = dup(2);
	if ((fd = open("/dev/null", O_WRONLY)) >= 0) {
		dup2(fd, 2);
		close(fd);
	}
	return saved;
}

static void
spawn(void *(*fn)(void *))
{
	pthread_t t;

	if (pthread_create(&t, NULL, fn, NULL) != 0 || pthread_detach(t) != 0)
		abort();
}

#define NFLEET 4    /* ft churns; fu gets a new image (a reload) midway; fr is
                       retired (its app removed) midway; fs (driver swarm)
                       churns on fake services whose tasks die between polls */
static struct fleet *fleet[NFLEET];

/* the ready, starting and draining counts of the fleets still listed */
static void
stats(struct fleet_stats *st)
{
	struct fleet_stats one;

	memset(st, 0, sizeof(*st));
	for (int i = 0; i < NFLEET; i++) {
		if (!fleet[i])
			continue;
		fleet_get_stats(fleet[i], &one);
		st->ready += one.ready;
		st->starting += one.starting;
		st->draining += one.draining;
	}
}

/* waits until nothing starts or drains, no dead task is left to find
 * and the counts hold still */
static int
settle(struct fleet_stats *st, int timeout_ms)
{
	struct fleet_stats prev;
	int64_t until = now_ms() + timeout_ms;
	long adds = -1;
	int dead;

	memset(&prev, 0xff, sizeof(prev));
	while (now_ms() < until) {
		usleep(200000);
		stats(st);
		pthread_mutex_lock(&T.lock);
		for (int i = dead = 0; i < T.nc; i++)
			dead += T.c[i].dead && !T.c[i].removed;
		if (st->starting == 0 && st->draining == 0 && st->ready == prev.ready &&
		    T.adds == adds && T.evn == 0 && dead == 0) {
			pthread_mutex_unlock(&T.lock);
			return 0;
		}
		adds = T.adds;
		pthread_mutex_unlock(&T.lock);
		prev = *st;
	}
	return -1;
}

/* fu's live containers of the image before its reload */
static int
old_images(void)
{
	int n = 0;

	pthread_mutex_lock(&T.lock);
	for (int i = 0; i < T.nc; i++)
		n += !strncmp(T.c[i].name, "fu-", 3) && !T.c[i].removed &&
		     strcmp(T.c[i].image, "img2");
	pthread_mutex_unlock(&T.lock);
	return n;
}

static void
test_slot_reuse(void **state)
{
	/* min 1: never at rest, so the churning scaler runs every sample */
	struct scale_conf c = {
		.image = "img", .port = 80, .min = 1, .max = MAXRUN, .target = 1, .name = "ft",
		.metric = "concurrency", .start_timeout = 2000, .drain_timeout = 0,
		.sample_ms = 1, .ready_path = "/", .pull = "never",
	}, rc = c;
	struct fleet *rest;
	const char *e = getenv("FLEET_STRESS_MS");
	long ms = e ? atol(e) : 3000;
	struct fleet_stats st;
	struct scale_conf c2 = c;
	pthread_t pt;
	int alive = 0, svcs = 0, i, saved;

	(void)state;
	/* the same churn for an app with driver swarm */
	snprintf(c2.name, sizeof(c2.name), "fs");
	snprintf(c2.driver, sizeof(c2.driver), "swarm");
	snprintf(c2.network, sizeof(c2.network), "net");
	assert_true((c2.port = probe_listen()) > 0);
	assert_int_equal(pthread_create(&pt, NULL, probe_serve, NULL), 0);
	pthread_detach(pt);
	saved = quiet(-1);
	assert_int_equal(fleet_init(NULL), 0);
	for (i = 0; i < NFLEET - 1; i++) {
		snprintf(c.name, sizeof(c.name), "%s", (const char *[]){ "ft", "fu", "fr" }[i]);
		assert_non_null(fleet[i] = fleet_new(&c, NULL, NULL));
	}
	assert_non_null(fleet[NFLEET - 1] = fleet_new(&c2, NULL, NULL));
	rc.min = 0;
	strcpy(rc.name, "rest");
	assert_non_null(rest = fleet_new(&rc, NULL, NULL));
	spawn(fleet_loop);
	spawn(fleet_events);
	for (i = 0; i < 4; i++)
		spawn(fleet_worker);
	atomic_store(&inject, 1);
	atomic_store(&churn, 1);
	usleep(ms * 500);
	/* a reload: fu's image changes (its instances are replaced one at a
	 * time), fr's app is removed (its instances drain and go) */
	snprintf(c.name, sizeof(c.name), "fu");
	snprintf(c.image, sizeof(c.image), "img2");
	fleet_set_conf(fleet[1], &c);
	fleet_retire(fleet[2]);
	usleep(ms * 500);
	atomic_store(&churn, 0);
	atomic_store(&inject, 0);
	/* the replacement goes one instance at a time and waits out a start
	 * back-off (the churn's failed starts double it up to 30 s), which
	 * settle() cannot tell from rest: wait for fu's old images to go */
	for (int64_t until = now_ms() + 45000; old_images() > 0 && now_ms() < until; )
		usleep(100000);
	i = settle(&st, 20000);
	for (int64_t until = now_ms() + 10000; !fleet_done(fleet[2]) && now_ms() < until; )
		usleep(50000);
	quiet(saved);
	assert_int_equal(i, 0);
	assert_true(fleet_done(fleet[2]));
	fleet_free(fleet[2]);
	fleet[2] = NULL;
	pthread_mutex_lock(&T.lock);
	for (i = 0; i < T.nc; i++) {
		if (!strncmp(T.c[i].name, "fr-", 3) && !T.c[i].removed)
			violation_locked("container %s of the removed app is left", T.c[i].name);
		if (!strncmp(T.c[i].name, "fu-", 3) && !T.c[i].removed &&
		    strcmp(T.c[i].image, "img2"))
			violation_locked("container %s still runs the old image", T.c[i].name);
	}
	pthread_mutex_unlock(&T.lock);

	/* the app at rest: not one sample in thousands, then one on demand */
	assert_int_equal(atomic_load(&rest_ticks), 0);
	fleet_demand(rest);
	for (i = 0; i < 100 && atomic_load(&rest_ticks) == 0; i++)
		usleep(10000);
	assert_true(atomic_load(&rest_ticks) > 0);

	pthread_mutex_lock(&T.lock);
	for (i = 0; i < T.nc; i++)
		svcs += T.c[i].svc;
	print_message("    %d containers and %d services created, %ld killed while a job waited "
	              "or between polls, %ld backends added, %ld removed; %d ready at the end\n",
	              T.nc - svcs, svcs, T.injected, T.adds, T.removes, st.ready);
	for (i = 0; i < T.nc; i++) {
		alive += !T.c[i].removed;
		if (!T.c[i].removed && !T.c[i].b)
			violation_locked("container %s runs without a backend", T.c[i].name);
		if (T.c[i].removed && T.c[i].b)
			violation_locked("backend %s outlives its container", T.c[i].name);
	}
	if (T.nlive != st.ready || alive != st.ready)
		violation_locked("%d live backends and %d containers for %d ready instances",
		                 T.nlive, alive, st.ready);
	pthread_mutex_unlock(&T.lock);
	if (T.violations)
		fail_msg("%ld violations, the first: %s", T.violations, T.bad);
	assert_true(T.injected > 0);
	assert_true(svcs > 0);
	/* ready ones whose task died were found by the polls and replaced */
	fleet_get_stats(fleet[NFLEET - 1], &st);
	print_message("    driver swarm: %ld ready instances died, %ld failed starts\n", st.died,
	              st.failed_starts);
	assert_true(st.died > 0);

	fleet_stop();
	pthread_mutex_lock(&T.lock);
	for (i = alive = 0; i < T.nc; i++)
		alive += !T.c[i].removed;
	pthread_mutex_unlock(&T.lock);
	assert_int_equal(alive, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slot_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* See LICENSE file for copyright and license details. */
/*
 * fleet.c: the containers behind the scaler's decisions. The scaler thread
 * samples the pool and calls scale_tick(); starts, drains and removals are
 * jobs run by a few fleet workers, each with its own Docker connection;
 * the events thread takes dead instances out within milliseconds.
 *
 * F.lock protects F (instances, counters, job queue). Lock order: F.lock,
 * then the pool lock (pool_* calls). Never held across Docker or socket I/O.
 * Only the job that moved an instance to FI_REMOVING touches its backend
 * afterwards, so every backend is removed from the pool exactly once.
 *
 * A slot is freed and reused while jobs run unlocked: an instance may die
 * and be removed while its start job waits for Docker. So a job holds a
 * ticket (the slot, its generation, and copies of the id and name), and
 * acts on the slot only after checking, under F.lock, that the generation
 * is still the one it was given (mine_unlocked).
 *
 * driver swarm (an app setting): an instance is a one-replica Swarm
 * service and in->id its service id. Only a few steps differ, each where
 * it happens (on_swarm): the create (create_service), waiting for a task
 * with an address (service_up), the removal (drop), the list (list,
 * survey), and the check against Docker, which is a poll of the app's
 * tasks (job_poll) since tasks have no events; fleet_swarm_events and a
 * task container's death here make it come at once.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "docker.h"
#include "hist.h"
#include "pool.h"
#include "scale.h"
#include "fleet.h"
#include "swarm.h"
#include "util.h"

#define FLEET_CAP   1024       /* instances tracked per app, at most */
#define NJOBS       2048       /* queued jobs */
#define GRACE_S     5          /* docker stop grace period, s */
#define LOG_TAIL    20         /* lines of a failed container's output logged */

/* FI_PAUSING: out of selection, finishing its requests before the pause;
 * FI_PAUSED: frozen by Docker; a wake makes it FI_STARTING again */
enum inst_state { FI_FREE, FI_STARTING, FI_READY, FI_DRAINING, FI_REMOVING, FI_PAUSING,
                  FI_PAUSED, NUM_FI };
enum job_kind { J_START, J_ADOPT, J_DRAIN, J_REMOVE, J_RECONCILE, J_PAUSE, J_UNPAUSE, NUM_J };

#define NTOMB       64         /* containers whose removal failed, retried */
#define RECONCILE_MS 10000     /* how often the set is checked against Docker */
#define RECONCILE_REST_MS 60000 /* the same for an app at rest (at_rest_unlocked) */
#define RECONCILE_STEP 613     /* ms between the first checks of successive apps:
                                  prime, so 100 apps spread over the minute */
#define POLL_FAST   250        /* driver swarm: ms between task polls while an
                                  instance starts or drains (Swarm sends no task events) */
#define POLL_SLOW   2000       /* ... and otherwise */
#define MAXNODES    512        /* swarm nodes listed per look */
#define NTASKS      8          /* tasks of one service looked at */

struct inst {
	struct fleet *f;       /* the app's fleet; fixed for the slot */
	enum inst_state state;
	unsigned gen;          /* bumped each time the slot is taken */
	char id[65];
	char name[72];
	struct backend *b;     /* NULL until it has a host port */
	int port;              /* its host port, once b is set */
	in_addr_t addr;        /* where port is (network order): 127.0.0.1, or its
	                          IP on the app's network */
	int64_t t0;            /* start of the current phase, ms (FI_PAUSED: paused at) */
	int warm;              /* started for the warm pool: paused once ready */
	int waking;            /* FI_STARTING after an unpause, not a create */
	int adopting;          /* its J_ADOPT has not finished: the app decides
	                          nothing until it knows what it adopted */
	unsigned spec;         /* the fleet's spec generation it was created with */
};

struct job {
	struct fleet *f;
	enum job_kind kind;
	struct inst *in;       /* NULL for J_START and J_RECONCILE */
	unsigned gen;          /* in->gen when the job was queued */
	int warm;              /* J_START for the warm pool */
};

/* a job's hold on one instance; see the top of the file */
struct ticket {
	struct inst *in;
	unsigned gen;
	char id[65];
	char name[72];
	int64_t t0;
};

/* counters for the admin endpoint, protected by F.lock */
struct fleet_counters {
	int want;
	long up, down_load, down_idle, died, unhealthy, not_ready, failed_starts;
	long fail[NUM_SF];
	long cold[FLEET_NBUCKETS];
	double cold_sum;
	long wake[FLEET_NBUCKETS];  /* unpause -> ready */
	double wake_sum;
	long pauses, wakes;
	int failing;                /* the last start failed, none ready since */
	char last_error[256];       /* what the last failed start said */
};

/* one app's instances; everything here is protected by F.lock */
struct fleet {
	struct fleet *next;         /* F.fleets */
	struct scale_conf c;        /* replaced by fleet_set_conf() */
	struct scale_state st;
	struct pool *pool;
	struct hist *hist;          /* the app's history, or NULL */
	struct inst *inst;
	int cap;                    /* slots in inst */
	int used;                   /* slots not FI_FREE */
	int pending;                /* J_START jobs not yet in the pool */
	int draining;               /* J_DRAIN jobs running */
	int pausing;                /* instances in FI_PAUSING */
	int warm_pending;           /* warm J_START jobs not yet in the pool */
	int jobs;                   /* its jobs queued or running */
	int seq;                    /* next instance number */
	int demand;
	int reconciling;            /* a J_RECONCILE is queued or running */
	int poll_failing;           /* driver swarm: the last poll failed (logged once) */
	int64_t last_reconcile;
	unsigned spec;              /* bumped when image or container settings change */
	int roll_ready;             /* a current-spec instance became ready while
	                               older ones serve: drain one of those */
	int retiring;               /* the app was removed: drain and remove all */
	int done;                   /* retired and nothing left: fleet_free() may go */
	struct fleet_counters m;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;        /* the scaler: demand, or a job finished */
	pthread_cond_t jobs;        /* fleet workers */
	struct fleet *fleets;
	struct job q[NJOBS];
	int qhead, qn;
	int busy;                   /* jobs running */
	int demand, stopping;
	int want_reconcile;         /* the events stream came back: check at once */
	int made;                   /* fleets made so far, to stagger their checks */
	int want_poll;              /* a task's container died here: swarm apps look at once */
	long sample_ms;             /* the shortest of the fleets' (set by fleet_new; no
	                               initialiser: F stays in .bss, not 70 KB of .data) */
	char tomb[NTOMB][65];       /* ids to remove again; "" = free */
	int tomb_svc[NTOMB];        /* tomb[i] is a Swarm service, not a container */
	char sock[256];
} F = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.jobs = PTHREAD_COND_INITIALIZER,
};

/* a fleet worker's copy of its job's app settings, taken with the job (a
 * reload may change the app's meanwhile). The copy lives on the worker's
 * stack: thread-local storage of its size would be on every thread's, the
 * request workers' too */
static _Thread_local struct scale_conf *jcp;
#define jc (*jcp)

static atomic_long docker_errors;
static atomic_int queued_now;          /* requests waiting for a worker (fleet_queued) */

const double fleet_buckets[FLEET_NBUCKETS] = {
	0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 1e300,
};


static struct job *
push_unlocked(struct fleet *f, enum job_kind kind, struct inst *in)
{
	struct job *j;

	if (F.qn == NJOBS) {
		warn("app %s: job queue full, dropping a job", f->c.name);
		return NULL;
	}
	j = &F.q[(F.qhead + F.qn++) % NJOBS];
	*j = (struct job){ f, kind, in, in ? in->gen : 0, 0 };
	f->jobs++;
	pthread_cond_signal(&F.jobs);
	return j;
}

static struct inst *
inst_new_unlocked(struct fleet *f, const char *id, const char *name, enum inst_state st)
{
	for (int i = 0; i < f->cap; i++) {
		if (f->inst[i].state == FI_FREE) {
			struct inst *in = &f->inst[i];
			unsigned gen = in->gen;
			memset(in, 0, sizeof(*in));
			in->f = f;
			in->spec = f->spec;
			in->gen = gen + 1;
			in->state = st;
			f->used++;
			snprintf(in->id, sizeof(in->id), "%s", id);
			snprintf(in->name, sizeof(in->name), "%s", name);
			in->t0 = now_ms();
			return in;
		}
	}
	return NULL;
}

/* fills t for in, which the caller has just taken or checked */
static void
ticket_unlocked(struct ticket *t, struct inst *in)
{
	t->in = in;
	t->gen = in->gen;
	memcpy(t->id, in->id, sizeof(t->id));
	memcpy(t->name, in->name, sizeof(t->name));
	t->t0 = in->t0;
}

/* whether t's slot still holds t's instance */
static int
mine_unlocked(const struct ticket *t)
{
	return t->in->gen == t->gen && t->in->state != FI_FREE;
}

static struct inst *
inst_by_id_unlocked(const char *id)
{
	for (struct fleet *f = F.fleets; f; f = f->next)
		for (int i = 0; i < f->cap; i++)
			if (f->inst[i].state != FI_FREE && !strcmp(f->inst[i].id, id))
				return &f->inst[i];
	return NULL;
}

/* takes a failed or dead instance out; the J_REMOVE job does the rest */
static void
condemn_unlocked(struct inst *in, const char *why)
{
	struct fleet *f = in->f;

	if (in->state == FI_REMOVING || in->state == FI_FREE)
		return;
	if (strstr(why, "died") || strstr(why, "outside"))
		f->m.died++;
	else if (strstr(why, "health"))
		f->m.unhealthy++;
	else
		f->m.not_ready++;
	warn("instance %s %s: removing", in->name, why);
	if (in->state == FI_DRAINING)
		f->draining--;
	if (in->state == FI_PAUSING)
		f->pausing--;
	in->state = FI_REMOVING;
	if (in->b)
		pool_set_state(in->b, B_DRAINING);
	push_unlocked(f, J_REMOVE, in);
	pthread_cond_signal(&F.wake);
}

/* condemns t's instance unless its slot went to another meanwhile */
static void
condemn_mine(const struct ticket *t, const char *why)
{
	pthread_mutex_lock(&F.lock);
	if (mine_unlocked(t))
		condemn_unlocked(t->in, why);
	pthread_mutex_unlock(&F.lock);
}

static struct docker *
dopen(void)
{
	struct docker *d = docker_open(F.sock, 10000);

	if (!d)
		die("out of memory");
	return d;
}

/* the driver seam: with driver swarm an instance is a service (its id in
 * in->id), created, looked at and removed through swarm.c; the rest of
 * the file is the same for both */
static int
on_swarm(const struct scale_conf *c)
{
	return !strcmp(c->driver, "swarm");
}

/* removes instance id of c's app: the container, or the service (its task
 * goes with it). Returns 0 or -1 */
static int
drop(const struct scale_conf *c, struct docker *d, const char *id)
{
	return on_swarm(c) ? swarm_remove(d, id) : docker_remove(d, id);
}

/* what Swarm says of service id of the job's app now, into *a (a->task
 * points into t[0..nt)). Returns 0, or -1 (docker_error) */
static int
look(struct docker *d, const char *id, struct swarm_assessment *a, struct swarm_task *t,
     size_t nt)
{
	struct swarm_service svc;
	struct swarm_node *nd = calloc(MAXNODES, sizeof(*nd));
	size_t n, nn;
	int r = -1;

	memset(&svc, 0, sizeof(svc));
	snprintf(svc.id, sizeof(svc.id), "%s", id);
	/* a node missing from a partial list would look gone */
	if (nd && swarm_tasks(d, jc.name, id, jc.network, t, nt, &n) >= 0 &&
	    swarm_nodes(d, nd, MAXNODES, &nn) == 0) {
		swarm_assess(&svc, 1, t, n, nd, nn, a);
		r = 0;
	}
	free(nd);
	return r;
}

/* a service whose task ended: why (SF_IMAGE, else SF_EXIT with the exit
 * code Swarm reports in *code, -1 if none), and its words in docker_error() */
static int
task_failure(struct docker *d, const struct swarm_assessment *a, int *code)
{
	const char *err = a->task && a->task->err[0] ? a->task->err : "no reason given";
	const char *p = strstr(err, "exit (");

	*code = p ? (int)strtol(p + 6, NULL, 10) : -1;
	docker_seterror(d, "task %s: %s", swarm_reason_str[a->reason], err);
	return strstr(err, "No such image") ? SF_IMAGE : SF_EXIT;
}

/* readiness: an HTTP answer below 500 on the ready path */
static int
probe_http(in_addr_t addr, int port, const char *path)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
	                           .sin_addr.s_addr = addr };
	struct sockaddr_storage ss;
	char buf[256];
	int fd, n, got = 0, status = -1;

	memcpy(&ss, &sin, sizeof(sin));
	if ((fd = connect_tcp(&ss, sizeof(sin), 500)) < 0)
		return -1;
	sock_timeouts(fd, 1000, 1000);
	n = snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: localhost\r\n"
	             "User-Agent: prescal-probe\r\nConnection: close\r\n\r\n", path);
	if (writeall(fd, buf, n) == 0) {
		while (got < 12 && (n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
			got += n;
		buf[got] = '\0';
		if (got >= 12 && !strncmp(buf, "HTTP/1.", 7) && buf[8] == ' ')
			status = (int)strtol(buf + 9, NULL, 10);
	}
	close(fd);
	return status;
}

static int
stopping(void)
{
	int r;

	pthread_mutex_lock(&F.lock);
	r = F.stopping;
	pthread_mutex_unlock(&F.lock);
	return r;
}

static int
removing(const struct ticket *t)
{
	int r;

	pthread_mutex_lock(&F.lock);
	r = !mine_unlocked(t) || t->in->state == FI_REMOVING || F.stopping;
	pthread_mutex_unlock(&F.lock);
	return r;
}

/* a started container that does not run: SF_EXIT or SF_OOM with the exit
 * code in *code; SF_NONE while it runs; SF_CREATE when inspect fails */
static int
stopped(struct docker *d, const char *id, struct docker_state *ds, int *code)
{
	struct swarm_task t[NTASKS];
	struct swarm_assessment a;

	if (on_swarm(&jc)) {
		memset(ds, 0, sizeof(*ds));
		ds->health = DOCKER_HEALTH_NONE;
		if (look(d, id, &a, t, LEN(t)) < 0)
			return SF_CREATE;
		return a.verdict == SWARM_REPLACE ? task_failure(d, &a, code) : SF_NONE;
	}
	if (docker_inspect(d, id, jc.port, ds) < 0)
		return SF_CREATE;
	*code = ds->exitcode;
	if (ds->running)
		return SF_NONE;
	return ds->oomkilled ? SF_OOM : SF_EXIT;
}

/* waits until t's instance answers (or Docker says healthy). Returns
 * SF_NONE when ready, NUM_SF when prescal took it away meanwhile, else why
 * it failed (*code: the exit code) */
static int
wait_ready(struct docker *d, const struct ticket *t, int port, int *code)
{
	struct docker_state ds;
	int64_t until = now_ms() + jc.start_timeout;
	int delay = 10, status, why;
	in_addr_t addr;

	pthread_mutex_lock(&F.lock);
	addr = mine_unlocked(t) ? t->in->addr : htonl(INADDR_LOOPBACK);
	pthread_mutex_unlock(&F.lock);
	while (now_ms() < until && !removing(t)) {
		if ((why = stopped(d, t->id, &ds, code)) != SF_NONE)
			return why;
		if (ds.health == DOCKER_HEALTH_HEALTHY)
			return SF_NONE;
		if (ds.health == DOCKER_HEALTH_UNHEALTHY)
			return SF_UNHEALTHY;
		if (ds.health == DOCKER_HEALTH_NONE && (status = probe_http(addr, port, jc.ready_path)) > 0 &&
		    status < 500)
			return SF_NONE;
		usleep(delay * 1000);
		delay = MIN(delay * 3 / 2, 100);
	}
	return removing(t) ? NUM_SF : SF_TIMEOUT;
}

/* puts t's instance into the pool at addr:port in state st (B_STARTING,
 * or B_PAUSED for an adopted paused one), unless it was condemned
 * meanwhile. Returns 0 or -1 */
static int
attach(const struct ticket *t, in_addr_t addr, int port, enum backend_state st)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
	                           .sin_addr.s_addr = addr };
	struct sockaddr_storage ss;
	int r = -1;

	memcpy(&ss, &sin, sizeof(sin));
	pthread_mutex_lock(&F.lock);
	if (mine_unlocked(t) && (t->in->state == FI_STARTING || t->in->state == FI_PAUSED) &&
	    (t->in->b = pool_add(t->in->f->pool, t->name, t->id, &ss, sizeof(sin), st))) {
		t->in->port = port;
		t->in->addr = addr;
		r = 0;
	}
	pthread_mutex_unlock(&F.lock);
	return r;
}

/* remembers a container (svc: a service) whose removal failed, for
 * job_reconcile */
static void
bury(const char *id, int svc)
{
	pthread_mutex_lock(&F.lock);
	for (int i = 0; i < NTOMB; i++) {
		if (!F.tomb[i][0]) {
			size_t l = strnlen(id, sizeof(F.tomb[i]) - 1);
			memcpy(F.tomb[i], id, l);
			F.tomb[i][l] = '\0';
			F.tomb_svc[i] = svc;
			break;
		}
	}
	pthread_mutex_unlock(&F.lock);
}

/* logs the last LOG_TAIL lines a failed container wrote, one log line each */
static void
last_words(struct docker *d, const char *name, const char *id)
{
	char out[DOCKER_LOGMAX + 1], *s, *e;
	int n = 0;

	if (docker_logs(d, id, LOG_TAIL, out, sizeof(out)) < 0) {
		warn("instance %s: cannot read its output: %s", name,
		     docker_error(d)[0] ? docker_error(d) : "unknown error");
		return;
	}
	for (s = out; *s; s = *e ? e + 1 : e, n++) {
		e = s + strcspn(s, "\n");
		warn("instance %s output | %.*s", name, (int)(e - s), s);
	}
	if (n == 0)
		warn("instance %s wrote no output", name);
}

/*
 * a start that failed (t: its instance's ticket, NULL when there is none;
 * why, with arg for scale_fail_text; daemon: Docker's message or NULL): one
 * log line, the container's last words, its removal,
 * the back-off; with no instance ready, every held request and every
 * request until the back-off ends is answered with the cause
 */
static void
start_failed(struct fleet *f, struct docker *d, const struct ticket *t, const char *name, const char *id,
             enum scale_fail why, long arg, const char *daemon)
{
	char text[160], cause[POOL_CAUSE];
	int i, ready = 0;

	scale_fail_text(text, sizeof(text), why, arg, jc.image);
	if (daemon && daemon[0])
		warn("instance %s failed to start: %s: %s", name, text, daemon);
	else
		warn("instance %s failed to start: %s", name, text);
	if (id && id[0] && !on_swarm(&jc))
		last_words(d, name, id);
	if (!t && id && id[0] && drop(&jc, d, id) < 0)
		bury(id, on_swarm(&jc));
	snprintf(cause, sizeof(cause), "app \"%s\" failed to start: %s", jc.name, text);
	pthread_mutex_lock(&F.lock);
	if (t && mine_unlocked(t))
		condemn_unlocked(t->in, "did not start");
	f->m.failed_starts++;
	f->m.fail[why]++;
	f->m.failing = 1;
	snprintf(f->m.last_error, sizeof(f->m.last_error), "%s", cause);
	scale_failed(&f->st, now_ms());
	for (i = 0; i < f->cap; i++)
		ready += f->inst[i].state == FI_READY;
	if (!ready)
		pool_set_failing(f->pool, cause, f->st.backoff_until);
	pthread_cond_signal(&F.wake);
	pthread_mutex_unlock(&F.lock);
}

/* counts secs into a cumulative-on-read histogram */
static void
observe(long *hist, double *sum, double secs)
{
	int i;

	for (i = 0; i < FLEET_NBUCKETS - 1 && secs > fleet_buckets[i]; i++)
		;
	hist[i]++;
	*sum += secs;
}

/* a warm-pool instance is ready: it is paused next, unless requests wait
 * for it now. Returns 1 when it goes to the pause */
static int
to_warm_pool_unlocked(struct inst *in)
{
	struct fleet *f = in->f;
	struct pool_stats ps;

	if (!in->warm)
		return 0;
	in->warm = 0;
	pool_get_stats(f->pool, &ps);
	if (ps.waiting > 0)
		return 0;
	in->state = FI_PAUSING;
	in->t0 = now_ms();
	f->pausing++;
	push_unlocked(f, J_PAUSE, in);
	return 1;
}

/* readiness, then B_UP; on failure the instance is condemned */
static void
make_ready(struct docker *d, const struct ticket *t, int port)
{
	struct inst *in = t->in;
	struct fleet *f = in->f;
	int64_t t0 = t->t0;
	int why, code = 0;
	char ip[INET_ADDRSTRLEN];

	if ((why = wait_ready(d, t, port, &code)) != SF_NONE) {
		if (why != NUM_SF)
			start_failed(f, d, t, t->name, t->id, why,
			             why == SF_TIMEOUT ? jc.start_timeout : code,
			             why == SF_CREATE || (on_swarm(&jc) && why != SF_TIMEOUT) ?
			             docker_error(d) : NULL);
		return;
	}
	pthread_mutex_lock(&F.lock);
	if (mine_unlocked(t) && in->state == FI_STARTING) {
		double secs = (now_ms() - t0) / 1000.0;

		scale_succeeded(&f->st);
		f->m.failing = 0;
		pool_set_failing(f->pool, NULL, 0);
		if (to_warm_pool_unlocked(in)) {
			warn("instance %s ready in %lld ms; pausing it for the warm pool", t->name,
			     (long long)(now_ms() - t0));
		} else {
			if (in->waking)
				observe(f->m.wake, &f->m.wake_sum, secs);
			else
				observe(f->m.cold, &f->m.cold_sum, secs);
			in->state = FI_READY;
			if (in->spec != f->spec)
				;  /* an older spec's start that was under way */
			else if (f->roll_ready >= 0)
				f->roll_ready = 1;
			pool_set_state(in->b, B_UP);
			if (!inet_ntop(AF_INET, &in->addr, ip, sizeof(ip)))
				snprintf(ip, sizeof(ip), "?");
			warn("instance %s %s on %s:%d in %lld ms", t->name,
			     in->waking ? "woke from paused, ready" : "ready", ip, port,
			     (long long)(now_ms() - t0));
			in->waking = 0;
		}
	}
	pthread_mutex_unlock(&F.lock);
}

/* the next instance name of f's app into name[nn], and prescal's two
 * variables for it into env */
static void
next_name(struct fleet *f, char *name, size_t nn, char env[][96])
{
	pthread_mutex_lock(&F.lock);
	snprintf(name, nn, "%.48s-%d", jc.name, ++f->seq);
	pthread_mutex_unlock(&F.lock);
	snprintf(env[0], sizeof(env[0]), "PORT=%ld", jc.port);
	snprintf(env[1], sizeof(env[1]), "PRESCAL_INSTANCE=%s", name);
}

/* a start job's instance counts as starting from now on (sample()), or
 * the start is over */
static void
started(struct fleet *f, int warm)
{
	pthread_mutex_lock(&F.lock);
	if (warm)
		f->warm_pending--;
	else
		f->pending--;
	pthread_cond_signal(&F.wake);
	pthread_mutex_unlock(&F.lock);
}

/* creates and starts one container (409 on the name tries the next
 * number). Returns SF_NONE, or SF_IMAGE or SF_CREATE with the daemon's
 * message in msg; id is set once the container exists */
static int
create_start(struct fleet *f, struct docker *d, char *name, size_t nn, char id[65], char *msg, size_t mn)
{
	char env[2][96];
	const char *envp[2] = { env[0], env[1] }, *vec[DOCKER_SPEC_NVEC];
	struct docker_spec sp = { .image = jc.image, .set = jc.name, .port = jc.port,
	                          .hostnet = jc.hostnet, .network = jc.network };
	int tries, r;

	/* the configured settings, and prescal's two variables after their env */
	docker_spec_view(&jc.spec, envp, 2, vec, LEN(vec), &sp);

	for (tries = 0; tries < 5; tries++) {
		next_name(f, name, nn, env);
		sp.name = name;
		if ((r = docker_create(d, &sp, id)) == 0 || docker_status(d) != 409)
			break;
	}
	if (r == 0 && docker_start(d, id) == 0)
		return SF_NONE;
	snprintf(msg, mn, "%s: %s", r == 0 ? "start" : "create",
	         docker_error(d)[0] ? docker_error(d) : "unknown error");
	if (r < 0)
		id[0] = '\0';
	return r < 0 && docker_status(d) == 404 ? SF_IMAGE : SF_CREATE;
}

/* where an inspected instance is reached: 127.0.0.1 and its host port,
 * or its IP on the app's network and the container port. Returns the port, 0 if
 * not known yet */
static int
reach(const struct docker_state *ds, in_addr_t *addr)
{
	const char *ip;

	*addr = htonl(INADDR_LOOPBACK);
	if (jc.hostnet)
		return (int)jc.port;
	if (!jc.network[0])
		return ds->hostport;
	if (!(ip = docker_net_ip(ds->nets, ds->nnets, jc.network)) ||
	    inet_pton(AF_INET, ip, addr) != 1)
		return 0;
	return (int)jc.port;
}

/* host port (or IP on the network): set by Docker at start; polled briefly */
static int
host_port(struct docker *d, const char *id, in_addr_t *addr)
{
	struct docker_state ds;
	int port;

	*addr = htonl(INADDR_LOOPBACK);
	if (jc.hostnet)
		return (int)jc.port;
	for (int i = 0; i < 50; i++) {
		if (docker_inspect(d, id, jc.port, &ds) < 0)
			return -1;
		if ((port = reach(&ds, addr)) > 0)
			return port;
		if (!ds.running && strcmp(ds.status, "created"))
			return -1;
		usleep(10000);
	}
	return -1;
}

/* a new instance: create, start, a host port in the pool, readiness */
static void
job_start(struct fleet *f, struct docker *d, int warm)
{
	char name[72], id[65] = "", msg[POOL_CAUSE] = "";
	struct docker_state ds;
	struct inst *in = NULL;
	struct ticket t;
	int port = -1, why, code = 0;
	int64_t t0 = now_ms();
	in_addr_t addr;

	if ((why = create_start(f, d, name, sizeof(name), id, msg, sizeof(msg))) == SF_NONE) {
		pthread_mutex_lock(&F.lock);
		if ((in = inst_new_unlocked(f, id, name, FI_STARTING))) {
			in->t0 = t0;  /* "ready in" counts from the create */
			in->warm = warm;
			ticket_unlocked(&t, in);
		}
		pthread_mutex_unlock(&F.lock);
		if (!in) {
			warn("app %s: more than %d instances", jc.name, f->cap);
			docker_remove(d, id);
		} else if ((port = host_port(d, id, &addr)) < 0 ||
		           attach(&t, addr, port, B_STARTING) < 0) {
			/* most often it exited at once */
			if ((why = stopped(d, id, &ds, &code)) != SF_EXIT && why != SF_OOM) {
				why = SF_CREATE;
				if (jc.network[0])
					snprintf(msg, sizeof(msg), "no IP on network %s", jc.network);
				else
					snprintf(msg, sizeof(msg), "no host port for %ld/tcp", jc.port);
			}
		}
	} else {
		atomic_fetch_add(&docker_errors, 1);
	}
	/* a failure sets the back-off before the start stops counting */
	if (why != SF_NONE)
		start_failed(f, d, in ? &t : NULL, name, id, why, code, msg);
	started(f, warm);
	if (why == SF_NONE && in)
		make_ready(d, &t, port);
}

/* creates one service (409 on the name tries the next number). Returns
 * SF_NONE, or SF_CREATE with the daemon's message in msg */
static int
create_service(struct fleet *f, struct docker *d, char *name, size_t nn, char id[65], char *msg,
               size_t mn)
{
	char env[2][96], cons[SWARM_MAXCONSTR][256];
	const char *envp[2] = { env[0], env[1] }, *vec[DOCKER_SPEC_NVEC], *consp[SWARM_MAXCONSTR];
	struct docker_spec sp;
	struct swarm_spec s = { .app = jc.name, .image = jc.image, .port = (int)jc.port,
	                        .network = jc.network, .replicas = 1,
	                        .nanocpus = jc.spec.nanocpus, .membytes = jc.spec.memory };
	int tries, r;

	/* the configured env, and prescal's two variables after it */
	memset(&sp, 0, sizeof(sp));
	docker_spec_view(&jc.spec, envp, 2, vec, LEN(vec), &sp);
	s.env = sp.env;
	s.nenv = sp.nenv;
	for (; s.nconstraints < SWARM_MAXCONSTR && docker_spec_get(&jc.spec, "constraint",
	       s.nconstraints, cons[s.nconstraints], sizeof(cons[0])); s.nconstraints++)
		consp[s.nconstraints] = cons[s.nconstraints];
	s.constraints = consp;
	for (tries = 0; tries < 5; tries++) {
		next_name(f, name, nn, env);
		s.name = name;
		if ((r = swarm_create(d, &s, id)) == 0 || docker_status(d) != 409)
			break;
	}
	if (r == 0)
		return SF_NONE;
	snprintf(msg, mn, "service create: %s", docker_error(d)[0] ? docker_error(d) :
	         "unknown error");
	id[0] = '\0';
	return SF_CREATE;
}

/* waits (start_timeout from t->t0, polling fast) until t's service has a
 * task running with an address, puts it into the pool there, then
 * readiness as for a container. A failure is a failed start, or for an
 * adopted one (adopting) a removal */
static void
service_up(struct fleet *f, struct docker *d, const struct ticket *t, int adopting)
{
	struct swarm_task tasks[NTASKS];
	struct swarm_assessment a;
	int why = SF_TIMEOUT, code = 0, delay = 20;
	in_addr_t addr;

	while (now_ms() < t->t0 + jc.start_timeout && !removing(t)) {
		if (look(d, t->id, &a, tasks, LEN(tasks)) < 0) {
			why = SF_CREATE;
			break;
		}
		if (a.verdict == SWARM_REPLACE) {
			why = task_failure(d, &a, &code);
			break;
		}
		if (a.verdict == SWARM_ROUTE) {
			if (inet_pton(AF_INET, a.addr, &addr) != 1) {
				docker_seterror(d, "task address %s is not IPv4", a.addr);
				why = SF_CREATE;
				break;
			}
			if (attach(t, addr, (int)jc.port, B_STARTING) == 0)
				make_ready(d, t, (int)jc.port);
			return;  /* else condemned meanwhile */
		}
		usleep(delay * 1000);
		delay = MIN(delay * 3 / 2, POLL_FAST);
	}
	if (removing(t))
		return;
	if (adopting)
		condemn_mine(t, "cannot be adopted");
	else
		start_failed(f, d, t, t->name, t->id, why,
		             why == SF_TIMEOUT ? jc.start_timeout : code,
		             why == SF_TIMEOUT ? NULL : docker_error(d));
}

/* job_start for driver swarm: a service, then service_up() */
static void
job_start_swarm(struct fleet *f, struct docker *d, int warm)
{
	char name[72], id[65] = "", msg[POOL_CAUSE] = "";
	struct inst *in = NULL;
	struct ticket t;
	int64_t t0 = now_ms();
	int why;

	if ((why = create_service(f, d, name, sizeof(name), id, msg, sizeof(msg))) == SF_NONE) {
		pthread_mutex_lock(&F.lock);
		if ((in = inst_new_unlocked(f, id, name, FI_STARTING))) {
			in->t0 = t0;  /* "ready in" counts from the create */
			ticket_unlocked(&t, in);
		}
		pthread_mutex_unlock(&F.lock);
		if (!in) {
			warn("app %s: more than %d instances", jc.name, f->cap);
			swarm_remove(d, id);
		}
	} else {
		atomic_fetch_add(&docker_errors, 1);
		start_failed(f, d, NULL, name, id, why, 0, msg);
	}
	started(f, warm);
	if (in)
		service_up(f, d, &t, 0);
}

static void
job_adopt(struct docker *d, const struct ticket *t)
{
	struct docker_state ds;
	in_addr_t addr;
	int port;

	if (on_swarm(&jc)) {
		service_up(t->in->f, d, t, 1);
		return;
	}
	if (docker_inspect(d, t->id, jc.port, &ds) < 0 || !ds.running ||
	    (port = reach(&ds, &addr)) <= 0 ||
	    attach(t, addr, port, ds.paused ? B_PAUSED : B_STARTING) < 0) {
		condemn_mine(t, "cannot be adopted");
		return;
	}
	if (ds.paused) {
		pthread_mutex_lock(&F.lock);
		if (mine_unlocked(t) && t->in->state == FI_STARTING) {
			t->in->state = FI_PAUSED;
			t->in->t0 = now_ms();
			warn("instance %s adopted as paused", t->name);
		}
		pthread_mutex_unlock(&F.lock);
		return;
	}
	make_ready(d, t, port);
}

/* waits for in-flight requests and tunnels to end, then stops and removes */
static void
job_drain(struct docker *d, const struct ticket *t)
{
	struct inst *in = t->in;
	struct fleet *f = in->f;
	struct backend *b;
	int64_t t0 = now_ms(), until;

	until = t0 + jc.drain_timeout;

	/* a reference: a J_REMOVE may take the instance meanwhile */
	pthread_mutex_lock(&F.lock);
	if (!mine_unlocked(t) || in->state != FI_DRAINING) {
		pthread_mutex_unlock(&F.lock);
		return;  /* condemned before: J_REMOVE does the rest */
	}
	b = in->b;
	pool_ref(b);
	pthread_mutex_unlock(&F.lock);
	while (now_ms() < until && (atomic_load(&b->inflight) > 0 ||
	       atomic_load(&b->tunnels) > 0))
		usleep(20000);
	pool_unref(b);
	pthread_mutex_lock(&F.lock);
	if (!mine_unlocked(t) || in->state != FI_DRAINING) {
		pthread_mutex_unlock(&F.lock);
		return;  /* condemned meanwhile: J_REMOVE does the rest */
	}
	in->state = FI_REMOVING;
	f->draining--;
	b = in->b;
	in->b = NULL;  /* sample() must not see it once the pool frees it */
	pthread_mutex_unlock(&F.lock);
	if (atomic_load(&b->inflight) > 0)
		warn("instance %s: drain timeout with %d requests in flight", t->name,
		     atomic_load(&b->inflight));
	pool_remove(b);
	if (!on_swarm(&jc) && docker_stop(d, t->id, GRACE_S) < 0 && docker_status(d) != 404)
		warn("instance %s: stop: %s", t->name, docker_error(d));
	if (drop(&jc, d, t->id) < 0) {
		atomic_fetch_add(&docker_errors, 1);
		warn("instance %s: remove: %s", t->name, docker_error(d));
	}
	warn("instance %s removed (drained in %lld ms)", t->name, (long long)(now_ms() - t0));
	pthread_mutex_lock(&F.lock);
	in->state = FI_FREE;
	in->f->used--;
	pthread_cond_signal(&F.wake);
	pthread_mutex_unlock(&F.lock);
}

/* waits up to drain_timeout for b's requests and tunnels to end; returns
 * how many are still open */
static int
quiesce(struct backend *b)
{
	int64_t until = now_ms() + jc.drain_timeout;

	while (now_ms() < until && (atomic_load(&b->inflight) > 0 ||
	       atomic_load(&b->tunnels) > 0))
		usleep(5000);
	return atomic_load(&b->inflight) + atomic_load(&b->tunnels);
}

/* out of selection already (B_DRAINING or B_STARTING, idle connections
 * closed): lets in-flight requests end, then freezes the container. One
 * still busy after drain_timeout is removed instead (a paused one would
 * hang its client) */
static void
job_pause(struct docker *d, const struct ticket *t)
{
	struct inst *in = t->in;
	struct fleet *f = in->f;
	struct backend *b;
	int64_t t0 = now_ms();
	int left, r;

	pthread_mutex_lock(&F.lock);
	if (!mine_unlocked(t) || in->state != FI_PAUSING) {
		pthread_mutex_unlock(&F.lock);
		return;
	}
	b = in->b;
	pool_ref(b);
	pthread_mutex_unlock(&F.lock);
	left = quiesce(b);
	pool_unref(b);
	r = left > 0 ? -1 : docker_pause(d, t->id);
	pthread_mutex_lock(&F.lock);
	if (mine_unlocked(t) && in->state == FI_PAUSING) {
		if (r == 0) {
			in->state = FI_PAUSED;
			in->t0 = now_ms();
			f->pausing--;
			f->m.pauses++;
			pool_set_state(in->b, B_PAUSED);
			warn("instance %s paused in %lld ms", t->name, (long long)(now_ms() - t0));
		} else if (left > 0) {
			condemn_unlocked(in, "was still busy after drain_timeout, not paused");
		} else {
			atomic_fetch_add(&docker_errors, 1);
			warn("instance %s: pause: %s", t->name, docker_error(d));
			condemn_unlocked(in, "could not be paused");
		}
	}
	pthread_mutex_unlock(&F.lock);
}

/* thaws a paused instance (already FI_STARTING, B_STARTING) and routes to
 * it once a probe answers. Someone else's `docker unpause` got there first
 * when Docker says "is not paused" */
static void
job_unpause(struct docker *d, const struct ticket *t)
{
	int port;

	if (docker_unpause(d, t->id) < 0 && !strstr(docker_error(d), "is not paused")) {
		atomic_fetch_add(&docker_errors, 1);
		warn("instance %s: unpause: %s", t->name, docker_error(d));
		condemn_mine(t, "could not be unpaused");
		return;
	}
	pthread_mutex_lock(&F.lock);
	port = mine_unlocked(t) ? t->in->port : 0;
	pthread_mutex_unlock(&F.lock);
	if (port > 0)
		make_ready(d, t, port);
}

/* in FI_REMOVING the slot stays t's until this job frees it */
static void
job_remove(struct docker *d, const struct ticket *t)
{
	struct inst *in = t->in;
	struct backend *b;

	pthread_mutex_lock(&F.lock);
	b = in->b;
	in->b = NULL;  /* as in job_drain */
	pthread_mutex_unlock(&F.lock);
	if (b)
		pool_remove(b);
	if (drop(&jc, d, t->id) < 0) {
		atomic_fetch_add(&docker_errors, 1);
		warn("instance %s: remove: %s; will try again", t->name, docker_error(d));
		bury(t->id, on_swarm(&jc));
	}
	pthread_mutex_lock(&F.lock);
	in->state = FI_FREE;
	in->f->used--;
	pthread_cond_signal(&F.wake);
	pthread_mutex_unlock(&F.lock);
}

/* a paused instance becomes a starting one: unpause, one probe, B_UP */
static void
wake_unlocked(struct inst *in)
{
	struct fleet *f = in->f;

	in->state = FI_STARTING;
	in->waking = 1;
	in->t0 = now_ms();
	f->m.wakes++;
	pool_set_state(in->b, B_STARTING);
	push_unlocked(f, J_UNPAUSE, in);
}

/* Docker is the truth: someone else paused a ready instance (it leaves
 * selection) or unpaused a paused one (it is checked, then routed to) */
static void
outside_pause_unlocked(struct inst *in, int paused)
{
	if (paused && in->state == FI_READY) {
		warn("instance %s was paused outside prescal: not routing to it", in->name);
		in->state = FI_PAUSED;
		in->t0 = now_ms();
		pool_set_state(in->b, B_PAUSED);
	} else if (!paused && in->state == FI_PAUSED && in->b) {
		warn("instance %s was unpaused outside prescal: checking it", in->name);
		wake_unlocked(in);
	}
}

/* Keeps in ctr[0..n) only the containers of image, or of a live instance
 * of f (one of an older image while a reload replaces them), and returns
 * their number. The others carry the app's labels but another image
 * (another prescal, or a hand-made one): never routed to, never removed.
 * say: log each one left alone. Takes F.lock. */
static size_t
keep_ours(struct fleet *f, const char *image, struct docker_ctr *ctr, size_t n, int say)
{
	size_t i, k = 0;
	int mine;

	for (i = 0; i < n; i++) {
		pthread_mutex_lock(&F.lock);
		mine = !strcmp(ctr[i].image, image);
		for (int s = 0; !mine && s < f->cap; s++)
			mine = f->inst[s].state != FI_FREE && !strcmp(f->inst[s].id, ctr[i].id);
		pthread_mutex_unlock(&F.lock);
		if (mine) {
			if (k != i)
				ctr[k] = ctr[i];
			k++;
		} else if (say) {
			warn("container %s of app %s runs image %s, not %s: leaving it alone "
			     "(not routed to, never removed)", ctr[i].name, f->c.name,
			     ctr[i].image[0] ? ctr[i].image : "(unknown)", image);
		}
	}
	return k;
}

/* removes what failed to go before (any app's). Returns 0, or -1 when
 * Docker is still away: the rest waits for the next pass */
static int
retry_tombs(struct docker *d)
{
	char tomb[NTOMB][65];
	int svc[NTOMB], k, r;

	pthread_mutex_lock(&F.lock);
	memcpy(tomb, F.tomb, sizeof(tomb));
	memcpy(svc, F.tomb_svc, sizeof(svc));
	memset(F.tomb, 0, sizeof(F.tomb));
	pthread_mutex_unlock(&F.lock);
	for (k = 0; k < NTOMB; k++) {
		if (!tomb[k][0])
			continue;
		r = svc[k] ? swarm_remove(d, tomb[k]) : docker_remove(d, tomb[k]);
		if (r < 0) {
			for (; k < NTOMB; k++)
				if (tomb[k][0])
					bury(tomb[k], svc[k]);
			return -1;
		}
		warn("%s %.12s removed on a later try", svc[k] ? "service" : "container", tomb[k]);
	}
	return 0;
}

/* the app's services as Swarm sees them, each with swarm_assess()'s verdict */
struct survey {
	struct swarm_service *svc;
	struct swarm_assessment *a;  /* a[i] is svc[i]'s; its task points into task */
	size_t n;
	int partial;                 /* more services or tasks than listed */
	struct swarm_task *task;
	struct swarm_node *node;
};

static void
survey_free(struct survey *sv)
{
	free(sv->svc);
	free(sv->a);
	free(sv->task);
	free(sv->node);
}

/* takes up to max services of c's app with their tasks and the nodes.
 * Returns 0, or -1 (then sv holds nothing to free) */
static int
survey(const struct scale_conf *c, struct docker *d, size_t max, struct survey *sv)
{
	size_t nt = 0, nn = 0;
	int r1, r2 = 0;

	memset(sv, 0, sizeof(*sv));
	if (!(sv->svc = calloc(max, sizeof(*sv->svc))) || !(sv->a = calloc(max, sizeof(*sv->a))) ||
	    !(sv->task = calloc(max * 4, sizeof(*sv->task))) ||
	    !(sv->node = calloc(MAXNODES, sizeof(*sv->node))) ||
	    (r1 = swarm_services(d, c->name, sv->svc, max, &sv->n)) < 0 ||
	    (r2 = swarm_tasks(d, c->name, NULL, c->network, sv->task, max * 4, &nt)) < 0 ||
	    swarm_nodes(d, sv->node, MAXNODES, &nn) != 0) {
		survey_free(sv);
		return -1;
	}
	sv->partial = r1 || r2;
	swarm_assess(sv->svc, sv->n, sv->task, nt, sv->node, nn, sv->a);
	return 0;
}

/* docker_list() for either driver: a service is "running" while Swarm
 * runs or starts its task, "exited" once it must be replaced */
static int
list(const struct scale_conf *c, struct docker *d, struct docker_ctr *ctr, size_t max, size_t *n)
{
	struct survey sv;
	size_t i;

	if (!on_swarm(c))
		return docker_list(d, c->name, c->port, ctr, max, n);
	*n = 0;
	if (survey(c, d, max, &sv) < 0)
		return -1;
	for (i = 0; i < sv.n; i++) {
		memset(&ctr[i], 0, sizeof(ctr[i]));
		snprintf(ctr[i].id, sizeof(ctr[i].id), "%s", sv.svc[i].id);
		snprintf(ctr[i].name, sizeof(ctr[i].name), "%s", sv.svc[i].name);
		snprintf(ctr[i].image, sizeof(ctr[i].image), "%s", sv.svc[i].image);
		snprintf(ctr[i].state, sizeof(ctr[i].state), "%s",
		         sv.a[i].verdict == SWARM_REPLACE ? "exited" : "running");
	}
	*n = sv.n;
	survey_free(&sv);
	return 0;
}

/*
 * job_reconcile for driver swarm, every POLL_FAST or POLL_SLOW ms: Swarm
 * sends no task events, so this is how a ready instance whose task ended
 * or whose node went down is taken out (and replaced by the scaler); an
 * ended service no instance owns is removed, and an instance whose service
 * is gone is too. A starting one is its start job's
 */
static void
job_poll(struct fleet *f, struct docker *d)
{
	struct survey sv;
	struct inst *in;
	char why[160];
	size_t i;
	int k, mine;
	int64_t listed;

	if (retry_tombs(d) < 0)
		goto out;
	listed = now_ms();
	k = survey(&jc, d, f->cap, &sv);
	pthread_mutex_lock(&F.lock);
	if (k < 0 && !f->poll_failing)
		warn("app %s: swarm: %s; routing to the tasks it knows", jc.name, docker_error(d));
	else if (k == 0 && f->poll_failing)
		warn("app %s: swarm answers again", jc.name);
	f->poll_failing = k < 0;
	pthread_mutex_unlock(&F.lock);
	if (k < 0) {
		atomic_fetch_add(&docker_errors, 1);
		goto out;
	}
	for (i = 0; i < sv.n; i++) {
		const struct swarm_assessment *a = &sv.a[i];
		pthread_mutex_lock(&F.lock);
		in = inst_by_id_unlocked(sv.svc[i].id);
		mine = in || !strcmp(sv.svc[i].image, jc.image);
		if (in && in->state == FI_READY && a->verdict == SWARM_REPLACE) {
			snprintf(why, sizeof(why), "died (%s%s%.100s)", swarm_reason_str[a->reason],
			         a->task && a->task->err[0] ? ": " : "",
			         a->task ? a->task->err : "");
			condemn_unlocked(in, why);
		}
		pthread_mutex_unlock(&F.lock);
		if (in || !mine || a->verdict != SWARM_REPLACE)
			continue;
		warn("removing leftover service %s (%s)", sv.svc[i].name,
		     swarm_reason_str[a->reason]);
		if (swarm_remove(d, sv.svc[i].id) < 0)
			bury(sv.svc[i].id, 1);
	}
	/* instances whose services are gone altogether */
	pthread_mutex_lock(&F.lock);
	for (k = 0; !sv.partial && k < f->cap; k++) {
		in = &f->inst[k];
		if (in->state != FI_READY)
			continue;
		for (i = 0; i < sv.n && strcmp(sv.svc[i].id, in->id); i++)
			;
		if (i == sv.n && in->t0 < listed)
			condemn_unlocked(in, "was removed outside prescal");
	}
	pthread_mutex_unlock(&F.lock);
	survey_free(&sv);
out:
	pthread_mutex_lock(&F.lock);
	f->reconciling = 0;
	pthread_mutex_unlock(&F.lock);
}

/* the app as Docker sees it: failed removals again, and containers of the
 * app that no instance owns and that no longer run (a daemon restart
 * stops them) are removed, so nothing is left behind */
static void
job_reconcile(struct fleet *f, struct docker *d)
{
	struct docker_ctr *ctr = calloc(f->cap, sizeof(*ctr));
	size_t n = 0, i;
	int k, known;
	int64_t listed;

	if (retry_tombs(d) < 0)
		goto out;
	listed = now_ms();
	if (!ctr || docker_list(d, jc.name, jc.port, ctr, f->cap, &n) < 0)
		goto out;
	n = keep_ours(f, jc.image, ctr, n, 0);
	for (i = 0; i < n; i++) {
		int paused = !strcmp(ctr[i].state, "paused");
		int alive = !strcmp(ctr[i].state, "running") || !strcmp(ctr[i].state, "created") ||
		            !strcmp(ctr[i].state, "restarting") || paused;
		struct inst *in;

		pthread_mutex_lock(&F.lock);
		in = inst_by_id_unlocked(ctr[i].id);
		known = in != NULL;
		/* it died while no events stream was listening (a starting
		 * one's death is its start job's, as in on_event) */
		if (in && !alive && (in->state == FI_READY || in->state == FI_PAUSED))
			condemn_unlocked(in, "exited while the events stream was down");
		else if (in && alive && (in->state == FI_READY || in->state == FI_PAUSED) &&
		         in->t0 < listed)
			outside_pause_unlocked(in, paused);
		pthread_mutex_unlock(&F.lock);
		if (known || alive)
			continue;
		warn("removing leftover container %s (%s)", ctr[i].name, ctr[i].state);
		if (docker_remove(d, ctr[i].id) < 0)
			bury(ctr[i].id, 0);
	}
	/* instances whose containers are gone altogether */
	pthread_mutex_lock(&F.lock);
	for (k = 0; k < f->cap; k++) {
		struct inst *in = &f->inst[k];
		if (in->state != FI_READY && in->state != FI_STARTING && in->state != FI_PAUSED)
			continue;
		for (i = 0; i < n && strcmp(ctr[i].id, in->id); i++)
			;
		if (i == n && in->t0 < listed)
			condemn_unlocked(in, "was removed outside prescal");
	}
	pthread_mutex_unlock(&F.lock);
out:
	free(ctr);
	pthread_mutex_lock(&F.lock);
	f->reconciling = 0;
	pthread_mutex_unlock(&F.lock);
}

/* a job is over (run or dropped) */
static void
job_done_unlocked(struct job *j)
{
	j->f->jobs--;
}

/* Takes the next job and, for one on an instance, its ticket. Returns 0
 * to run it, -1 to drop it: a start while stopping or retiring, or a job
 * whose slot went to another instance while it was queued. */
static int
take_unlocked(struct job *j, struct ticket *t)
{
	memset(t, 0, sizeof(*t));
	*j = F.q[F.qhead];
	F.qhead = (F.qhead + 1) % NJOBS;
	F.qn--;
	if (j->kind == J_START && (F.stopping || j->f->retiring)) {
		if (j->warm)
			j->f->warm_pending--;
		else
			j->f->pending--;
		return -1;
	}
	if (!j->in)
		return j->kind == J_START || j->kind == J_RECONCILE ? 0 : -1;
	if (j->in->gen != j->gen || j->in->state == FI_FREE)
		return -1;
	ticket_unlocked(t, j->in);
	return 0;
}

void *
fleet_worker(void *arg)
{
	struct docker *d = dopen();
	struct scale_conf snap;
	struct ticket t;
	struct job j;

	(void)arg;
	jcp = &snap;
	for (;;) {
		pthread_mutex_lock(&F.lock);
		while (F.qn == 0)
			pthread_cond_wait(&F.jobs, &F.lock);
		if (take_unlocked(&j, &t) < 0) {
			job_done_unlocked(&j);
			pthread_cond_broadcast(&F.wake);
			pthread_mutex_unlock(&F.lock);
			continue;
		}
		F.busy++;
		snap = j.f->c;
		pthread_mutex_unlock(&F.lock);
		switch (j.kind) {
		case J_START:
			if (on_swarm(&jc))
				job_start_swarm(j.f, d, j.warm);
			else
				job_start(j.f, d, j.warm);
			break;
		case J_ADOPT:  job_adopt(d, &t); break;
		case J_DRAIN:  job_drain(d, &t); break;
		case J_REMOVE: job_remove(d, &t); break;
		case J_RECONCILE:
			if (on_swarm(&jc))
				job_poll(j.f, d);
			else
				job_reconcile(j.f, d);
			break;
		case J_PAUSE:  job_pause(d, &t); break;
		case J_UNPAUSE: job_unpause(d, &t); break;
		default:       break;
		}
		pthread_mutex_lock(&F.lock);
		if (j.kind == J_ADOPT && mine_unlocked(&t))
			t.in->adopting = 0;
		F.busy--;
		job_done_unlocked(&j);
		pthread_cond_broadcast(&F.wake);
		pthread_mutex_unlock(&F.lock);
	}
	return NULL;
}

/* scale_ops for the real world; arg is the fleet */
static void
op_start(void *arg, int n)
{
	struct fleet *f = arg;

	pthread_mutex_lock(&F.lock);
	for (int i = 0; i < n; i++)
		if (push_unlocked(f, J_START, NULL))
			f->pending++;
	pthread_mutex_unlock(&F.lock);
}

/* the ready instance with the fewest requests in flight (the newest of
 * equals), or NULL; stale: of an older spec only */
static struct inst *
least_ready_unlocked(struct fleet *f, int stale)
{
	struct inst *best = NULL;
	int load, bestload = 0;

	for (int i = 0; i < f->cap; i++) {
		struct inst *in = &f->inst[i];
		if (in->state != FI_READY || (stale && in->spec == f->spec))
			continue;
		load = atomic_load(&in->b->inflight) + atomic_load(&in->b->tunnels);
		if (!best || load < bestload || (load == bestload && in->t0 > best->t0)) {
			best = in;
			bestload = load;
		}
	}
	return best;
}

static void
drain_unlocked(struct inst *in)
{
	in->state = FI_DRAINING;
	in->t0 = now_ms();
	in->f->draining++;
	pool_set_state(in->b, B_DRAINING);
	push_unlocked(in->f, J_DRAIN, in);
}

/* drains the ready instance with the fewest requests in flight (one of an
 * older spec first) */
static void
op_drain_one(void *arg)
{
	struct fleet *f = arg;
	struct inst *best;

	pthread_mutex_lock(&F.lock);
	if ((best = least_ready_unlocked(f, 1)) || (best = least_ready_unlocked(f, 0)))
		drain_unlocked(best);
	pthread_mutex_unlock(&F.lock);
}

/* starts n instances for the warm pool */
static void
op_warm(void *arg, int n)
{
	struct fleet *f = arg;
	struct job *j;

	pthread_mutex_lock(&F.lock);
	for (int i = 0; i < n && (j = push_unlocked(f, J_START, NULL)); i++) {
		f->warm_pending++;
		j->warm = 1;
	}
	pthread_mutex_unlock(&F.lock);
}

/* takes the ready instance with the fewest requests out of selection
 * (which closes its idle connections) and queues its pause */
static void
op_pause_one(void *arg)
{
	struct fleet *f = arg;
	struct inst *best;

	pthread_mutex_lock(&F.lock);
	if ((best = least_ready_unlocked(f, 0))) {
		best->state = FI_PAUSING;
		best->t0 = now_ms();
		f->pausing++;
		pool_set_state(best->b, B_DRAINING);
		push_unlocked(f, J_PAUSE, best);
	}
	pthread_mutex_unlock(&F.lock);
}

/* wakes up to n paused instances, the most recently paused first */
static int
op_wake(void *arg, int n)
{
	struct fleet *f = arg;
	int i, k;

	pthread_mutex_lock(&F.lock);
	for (k = 0; k < n; k++) {
		struct inst *best = NULL;
		for (i = 0; i < f->cap; i++) {
			struct inst *in = &f->inst[i];
			if (in->state == FI_PAUSED && in->b && in->spec == f->spec &&
			    (!best || in->t0 > best->t0))
				best = in;
		}
		if (!best)
			break;
		warn("instance %s: waking it (paused for %lld ms)", best->name,
		     (long long)(now_ms() - best->t0));
		wake_unlocked(best);
	}
	pthread_mutex_unlock(&F.lock);
	return k;
}

static void
remove_unlocked(struct inst *in, const char *why)
{
	warn("instance %s: removing it (%s)", in->name, why);
	in->state = FI_REMOVING;
	push_unlocked(in->f, J_REMOVE, in);
	pthread_cond_signal(&F.wake);
}

/* removes the instance paused longest */
static void
op_remove_paused(void *arg)
{
	struct fleet *f = arg;
	struct inst *best = NULL;
	char why[64];

	pthread_mutex_lock(&F.lock);
	for (int i = 0; i < f->cap; i++) {
		struct inst *in = &f->inst[i];
		if (in->state == FI_PAUSED && (!best || in->t0 < best->t0))
			best = in;
	}
	if (best) {
		snprintf(why, sizeof(why), "paused for %lld ms", (long long)(now_ms() - best->t0));
		remove_unlocked(best, why);
	}
	pthread_mutex_unlock(&F.lock);
}

/* a decision for the app's history */
static void
op_event(void *arg, int from, int to, const char *why)
{
	struct fleet *f = arg;

	if (f->hist)
		hist_event(f->hist, wall_ms(), from, to, why);
}

/* one sample of the app's instances' load */
static void
sample(struct fleet *f, struct scale_input *in)
{
	struct pool_stats ps;
	long served = 0;

	memset(in, 0, sizeof(*in));
	for (int i = 0; i < f->cap; i++) {
		struct inst *x = &f->inst[i];
		if (x->state == FI_READY) {
			in->ready++;
			if (x->b && pool_state(x->b) == B_DOWN)
				condemn_unlocked(x, "failed its health checks");
		} else if (x->state == FI_STARTING && x->warm) {
			in->warming++;
		} else if (x->state == FI_STARTING) {
			in->starting++;
		} else if (x->state == FI_PAUSING) {
			in->paused++;
		} else if (x->state == FI_PAUSED) {
			in->paused++;
			in->oldest_paused = MAX(in->oldest_paused, now_ms() - x->t0);
		}
		if (x->state != FI_FREE && x->b) {
			in->inflight += atomic_load(&x->b->inflight) + atomic_load(&x->b->tunnels);
			served += atomic_load(&x->b->served);
		}
	}
	in->starting += f->pending;
	in->warming += f->warm_pending;
	pool_get_stats(f->pool, &ps);
	in->waiting = ps.waiting;
	in->requests = served + ps.held_total;
	in->now = now_ms();
}

/*
 * A reload changed the image or the container settings: one instance at a
 * time, start one of the new spec, and once it is ready drain one of the
 * old. Paused ones of the old spec are removed. Returns 1 while replacing.
 */
static int
roll_unlocked(struct fleet *f, int draining)
{
	int old = 0, fresh_starting = f->pending, i;

	for (i = 0; i < f->cap; i++) {
		struct inst *in = &f->inst[i];
		if (in->state == FI_FREE || in->state == FI_REMOVING || in->state == FI_DRAINING)
			continue;
		if (in->spec != f->spec && in->state == FI_PAUSED) {
			remove_unlocked(in, "paused with the settings before the reload");
			continue;
		}
		old += in->spec != f->spec && in->state == FI_READY;
		fresh_starting += in->spec == f->spec && in->state == FI_STARTING;
	}
	if (old == 0) {
		f->roll_ready = -1;
		return 0;
	}
	if (f->roll_ready == 1) {
		f->roll_ready = 0;
		drain_unlocked(least_ready_unlocked(f, 1));
		warn("app %s: replacing instances after a reload, %d of the old settings left",
		     f->c.name, old - 1);
	} else if (fresh_starting == 0 && draining == 0 && now_ms() >= f->st.backoff_until) {
		f->roll_ready = 0;
		if (push_unlocked(f, J_START, NULL))
			f->pending++;
	}
	return 1;
}

/* the app was removed: everything goes; returns 1 once nothing is left */
static int
retire_unlocked(struct fleet *f)
{
	int left = f->pending + f->warm_pending + f->jobs;

	for (int i = 0; i < f->cap; i++) {
		struct inst *in = &f->inst[i];
		if (in->state == FI_READY)
			drain_unlocked(in);
		else if (in->state == FI_PAUSED)
			remove_unlocked(in, "its app was removed");
		left += in->state != FI_FREE;
	}
	return left == 0;
}

/*
 * An app at rest: at zero with nothing to keep warm (min 0, min_paused 0),
 * no instance in any slot, no job, no request held or signalled, and its
 * last decision was 0. scale_tick() would decide 0 again and do nothing, so
 * its tick is skipped: sampling 100 such apps every sample_ms cost 0.6% of
 * a core (mostly copying each app's 9 KiB scale_conf), for nothing. The
 * first request wakes it through fleet_demand().
 */
static int
at_rest_unlocked(const struct fleet *f, int demand)
{
	struct pool_stats ps;

	if (demand || f->used || f->retiring || f->jobs || f->pending || f->warm_pending ||
	    f->draining || f->pausing || f->m.want || f->c.min || f->c.min_paused)
		return 0;
	if (F.fleets == f && !f->next && atomic_load(&queued_now))
		return 0;
	pool_get_stats(f->pool, &ps);
	return ps.waiting == 0;
}

/* queues the app's check against Docker when due: every RECONCILE_MS,
 * every RECONCILE_REST_MS at rest (only leftovers could turn up), at once
 * when the events stream came back */
static void
reconcile_due_unlocked(struct fleet *f, int rest, int busy)
{
	int64_t now = now_ms(), every;

	/* a swarm app polls its tasks (Swarm sends no task events): often while
	 * an instance starts or drains; an app at rest has none to follow */
	if (rest)
		every = RECONCILE_REST_MS;
	else if (on_swarm(&f->c))
		every = busy ? POLL_FAST : POLL_SLOW;
	else
		every = RECONCILE_MS;
	if (!F.want_reconcile && !(F.want_poll && on_swarm(&f->c)) &&
	    now - f->last_reconcile < every)
		return;
	f->last_reconcile = now;
	if (!f->reconciling && push_unlocked(f, J_RECONCILE, NULL))
		f->reconciling = 1;
}

/* one tick of one fleet (F.lock held; unlocked around scale_tick) */
static void
tick_unlocked(struct fleet *f, int demand)
{
	struct scale_ops ops = { op_start, op_drain_one, f, op_event, op_wake, op_pause_one,
	                         op_warm, op_remove_paused };
	struct scale_input in;
	struct scale_state st;
	struct scale_conf c;
	int draining, want, running;

	if (f->done)
		return;
	if (f->retiring) {
		if (retire_unlocked(f)) {
			f->done = 1;
			warn("app %s: all its instances are gone", f->c.name);
		}
		return;
	}
	if (at_rest_unlocked(f, demand)) {
		reconcile_due_unlocked(f, 1, 0);
		return;
	}
	for (int i = 0; i < f->cap; i++)
		if (f->inst[i].state != FI_FREE && f->inst[i].adopting)
			return;
	sample(f, &in);
	if (demand && in.waiting == 0)
		in.waiting = 1;  /* a request found nothing ready, even if it did not wait */
	if (F.fleets == f && !f->next)
		in.queued = atomic_load(&queued_now);  /* only one app: the queue is its */
	draining = f->draining + f->pausing;
	reconcile_due_unlocked(f, 0, in.starting || draining);
	if (roll_unlocked(f, draining))
		return;
	/* ticks run unlocked (ops lock F); jobs only touch the back-off */
	st = f->st;
	c = f->c;
	pthread_mutex_unlock(&F.lock);
	want = scale_tick(&c, &st, &in, draining, &ops);
	running = in.ready + in.starting;
	pthread_mutex_lock(&F.lock);
	if (want > running)
		f->m.up += want - running;
	else if (want < running && !draining && in.ready > 0)
		*(want == 0 ? &f->m.down_idle : &f->m.down_load) += 1;
	f->m.want = want;
	st.backoff = f->st.backoff;
	st.backoff_until = f->st.backoff_until;
	f->st = st;
}

void *
fleet_loop(void *arg)
{
	struct timespec ts;
	struct fleet *f;

	(void)arg;
	pthread_mutex_lock(&F.lock);
	for (;;) {
		if (!F.demand) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += F.sample_ms * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&F.wake, &F.lock, &ts);
		}
		F.demand = 0;
		if (F.stopping)
			break;
		/* the list only grows at its head (fleet_new) and loses done
		 * fleets in fleet_free, both under F.lock */
		for (f = F.fleets; f; f = f->next) {
			int demand = f->demand;
			f->demand = 0;
			tick_unlocked(f, demand);
		}
		F.want_reconcile = 0;
		F.want_poll = 0;
	}
	pthread_mutex_unlock(&F.lock);
	return NULL;
}

void
fleet_queued(int n)
{
	atomic_store(&queued_now, n);
}

void
fleet_demand(struct fleet *f)
{
	pthread_mutex_lock(&F.lock);
	f->demand = 1;
	F.demand = 1;
	pthread_cond_signal(&F.wake);
	pthread_mutex_unlock(&F.lock);
}

/* sets *flag (F.want_reconcile or F.want_poll) and wakes the scaler, for
 * a look at Docker at its next tick */
static void
nudge_unlocked(int *flag)
{
	*flag = 1;
	F.demand = 1;
	pthread_cond_signal(&F.wake);
}

static void
on_event(const struct docker_event *ev)
{
	struct inst *in = NULL;
	char why[64];
	int dead = !strcmp(ev->action, "die") || !strcmp(ev->action, "oom"), live;

	pthread_mutex_lock(&F.lock);
	/* when stopping, prescal stops them itself: not news. A starting
	 * instance's death is its start job's: it logs the output first */
	if (!F.stopping && (in = inst_by_id_unlocked(ev->id)) &&
	    in->state != FI_DRAINING && in->state != FI_REMOVING) {
		live = in->state != FI_STARTING;
		if (dead && live) {
			snprintf(why, sizeof(why), "died (exit code %d)", ev->exitcode);
			condemn_unlocked(in, why);
		} else if (!strcmp(ev->action, "destroy") || !strcmp(ev->action, "stop")) {
			condemn_unlocked(in, "was stopped or removed outside prescal");
		} else if (in->state == FI_READY &&
		           !strncmp(ev->action, "health_status: unhealthy", 24)) {
			condemn_unlocked(in, "became unhealthy");
		} else if (!strcmp(ev->action, "pause") || !strcmp(ev->action, "unpause")) {
			outside_pause_unlocked(in, ev->action[0] == 'p');
		}
	} else if (!F.stopping && !in && dead) {
		/* a task container (it carries its service's labels) on this
		 * node: the swarm apps look at their tasks now, not at the next poll */
		nudge_unlocked(&F.want_poll);
	}
	pthread_mutex_unlock(&F.lock);
}

/* opens the containers' events stream (swarm: Swarm's services' and
 * nodes'); a failure is counted, logged and waited out (the back-off
 * doubles). Returns 0 or -1 */
static int
stream_open(struct docker *d, int swarm, int *backoff)
{
	if ((swarm ? docker_swarm_events_open(d) : docker_events_open(d, NULL)) == 0) {
		*backoff = 500;
		return 0;
	}
	atomic_fetch_add(&docker_errors, 1);
	warn("%s events: %s; again in %d ms", swarm ? "swarm" : "docker", docker_error(d),
	     *backoff);
	usleep(*backoff * 1000);
	*backoff = MIN(*backoff * 2, BACKOFF_MAX);
	return -1;
}

/* one stream for every app: the events of all prescal-managed containers;
 * those of no instance of ours (another prescal's) are ignored */
void *
fleet_events(void *arg)
{
	struct docker *d = dopen();
	struct docker_event ev;
	int backoff = 500, r, first = 1;

	(void)arg;
	for (;;) {
		if (stream_open(d, 0, &backoff) < 0)
			continue;
		if (!first) {
			/* events may have been missed meanwhile: compare with Docker */
			pthread_mutex_lock(&F.lock);
			nudge_unlocked(&F.want_reconcile);
			pthread_mutex_unlock(&F.lock);
		}
		first = 0;
		while ((r = docker_events_next(d, &ev, 1000)) >= 0)
			if (r == 1)
				on_event(&ev);
		if (!stopping())
			warn("docker events: stream ended: %s; reconnecting", docker_error(d));
	}
	return NULL;
}

/* whether an app has driver swarm now */
static int
any_swarm(void)
{
	int r = 0;

	pthread_mutex_lock(&F.lock);
	for (struct fleet *f = F.fleets; f && !r; f = f->next)
		r = on_swarm(&f->c) && !f->done;
	pthread_mutex_unlock(&F.lock);
	return r;
}

/* the swarm apps look at their tasks at the next tick */
static void
want_poll(void)
{
	pthread_mutex_lock(&F.lock);
	nudge_unlocked(&F.want_poll);
	pthread_mutex_unlock(&F.lock);
}

/* Swarm's service and node events, while an app has driver swarm: any of
 * them (a service updated or removed outside prescal, a node down or
 * drained) makes the swarm apps look at once rather than at the next
 * poll. Tasks have no events: the polls stay */
void *
fleet_swarm_events(void *arg)
{
	struct docker *d = dopen();
	struct docker_event ev;
	int backoff = 500, r, open = 0;

	(void)arg;
	for (;;) {
		if (stopping() || !any_swarm()) {
			if (open) {  /* drop the stream's connection */
				docker_close(d);
				d = dopen();
				open = 0;
			}
			sleep(1);
			continue;
		}
		if (stream_open(d, 1, &backoff) < 0)
			continue;
		open = 1;
		want_poll();  /* events may have been missed meanwhile */
		while ((r = docker_events_next(d, &ev, 1000)) >= 0 && any_swarm() && !stopping())
			if (r == 1 && strcmp(ev.type, "container"))
				want_poll();
		if (r < 0 && !stopping())
			warn("swarm events: stream ended: %s; reconnecting", docker_error(d));
	}
	return NULL;
}

/* adopts the app's running containers, removes the rest */
static int
adopt(struct fleet *f, struct docker *d)
{
	struct docker_ctr *ctr;
	size_t n = 0, i, nl = strlen(f->c.name);
	long seq;

	if (!(ctr = calloc(f->cap, sizeof(*ctr))))
		return -1;
	if (list(&f->c, d, ctr, f->cap, &n) < 0) {
		warn("docker: list: %s", docker_error(d));
		free(ctr);
		return -1;
	}
	for (i = 0; i < n; i++) {
		/* new names continue after the highest number in use */
		if (!strncmp(ctr[i].name, f->c.name, nl) && ctr[i].name[nl] == '-' &&
		    (seq = strtol(ctr[i].name + nl + 1, NULL, 10)) > f->seq && seq < 1000000000)
			f->seq = (int)seq;
	}
	n = keep_ours(f, f->c.image, ctr, n, 1);
	pthread_mutex_lock(&F.lock);
	for (i = 0; i < n; i++) {
		/* f is not listed yet: an instance with this container is of
		 * the app's earlier fleet, which a reload removed and which
		 * drains and removes it; this one must leave it alone */
		if (inst_by_id_unlocked(ctr[i].id)) {
			warn("container %s is still being drained by the app's previous "
			     "configuration: not adopting it", ctr[i].name);
			continue;
		}
		if (!strcmp(ctr[i].state, "running") || !strcmp(ctr[i].state, "paused")) {
			struct inst *in = inst_new_unlocked(f, ctr[i].id, ctr[i].name, FI_STARTING);
			if (in) {
				in->adopting = 1;
				warn("adopting instance %s", ctr[i].name);
				push_unlocked(f, J_ADOPT, in);
				continue;
			}
		}
		pthread_mutex_unlock(&F.lock);
		warn("removing leftover %s %s (%s)", on_swarm(&f->c) ? "service" : "container",
		     ctr[i].name, ctr[i].state);
		if (drop(&f->c, d, ctr[i].id) < 0)
			warn("docker: remove %s: %s", ctr[i].name, docker_error(d));
		pthread_mutex_lock(&F.lock);
	}
	pthread_mutex_unlock(&F.lock);
	free(ctr);
	return 0;
}

int
fleet_init(const char *sock)
{
	struct docker *d;
	char version[64];
	int r;

	snprintf(F.sock, sizeof(F.sock), "%s", sock && sock[0] ? sock : docker_default_socket());
	d = dopen();
	if ((r = docker_ping(d, version, sizeof(version))) < 0)
		warn("docker: %s", docker_error(d));
	else
		warn("docker engine %s at %s", version, F.sock);
	docker_close(d);
	return r;
}

/* the app's network (if any) exists and prescal is on it; returns 0 or -1 */
static int
check_network(struct docker *d, const struct scale_conf *c)
{
	if (c->network[0] && docker_network_check(d, c->network) < 0) {
		warn("app %s: docker: %s", c->name, docker_error(d));
		return -1;
	}
	return 0;
}

/* the image is there, or pulled with pull "missing"; returns 0 or -1 */
static int
check_image(struct docker *d, const struct scale_conf *c)
{
	int e;

	if ((e = docker_image_exists(d, c->image)) < 0) {
		warn("docker: %s", docker_error(d));
		return -1;
	}
	if (e == 0 && !strcmp(c->pull, "never")) {
		warn("app %s: image %s not found locally (pull policy never)", c->name, c->image);
		return -1;
	}
	if (e == 0) {
		warn("app %s: pulling image %s", c->name, c->image);
		if (docker_image_pull(d, c->image) < 0) {
			warn("docker: pull %s: %s", c->image, docker_error(d));
			return -1;
		}
	}
	return 0;
}

struct fleet *
fleet_new(const struct scale_conf *c, struct pool *p, struct hist *h)
{
	struct docker *d;
	struct fleet *f;

	if (!(f = calloc(1, sizeof(*f))))
		return NULL;
	f->c = *c;
	f->pool = p;
	f->hist = h;
	f->roll_ready = -1;
	f->cap = (int)MIN(MAX(2 * (c->max + c->max_paused) + 8, 64), FLEET_CAP);
	if (!(f->inst = calloc(f->cap, sizeof(*f->inst)))) {
		free(f);
		return NULL;
	}
	d = dopen();
	if (check_network(d, c) < 0 || check_image(d, c) < 0 ||
	    adopt(f, d) < 0) {  /* adopt queues nothing then */
		docker_close(d);
		free(f->inst);
		free(f);
		return NULL;
	}
	docker_close(d);
	pthread_mutex_lock(&F.lock);
	/* stagger: 100 apps made at once must not all call Docker in one tick */
	f->last_reconcile = now_ms() - (int64_t)F.made++ * RECONCILE_STEP % RECONCILE_REST_MS;
	f->next = F.fleets;
	F.fleets = f;
	F.sample_ms = F.fleets->next ? MIN(F.sample_ms, c->sample_ms) : c->sample_ms;
	pthread_cond_signal(&F.wake);
	pthread_mutex_unlock(&F.lock);
	return f;
}

/* whether what an instance is made of differs: then they are replaced */
static int
spec_changed(const struct scale_conf *a, const struct scale_conf *b)
{
	return strcmp(a->image, b->image) || a->port != b->port || a->hostnet != b->hostnet ||
	       strcmp(a->ready_path, b->ready_path) || strcmp(a->network, b->network) ||
	       !docker_spec_equal(&a->spec, &b->spec);
}

void
fleet_set_conf(struct fleet *f, const struct scale_conf *c)
{
	char drv[sizeof(c->driver)];

	pthread_mutex_lock(&F.lock);
	if (on_swarm(&f->c) != on_swarm(c))
		warn("app %s: driver %s kept: a new driver needs a restart of prescal", c->name,
		     on_swarm(&f->c) ? "swarm" : "container");
	if (spec_changed(&f->c, c)) {
		f->spec++;
		f->roll_ready = 0;
		warn("app %s: image or container settings changed: replacing its instances "
		     "one at a time", c->name);
	}
	memcpy(drv, f->c.driver, sizeof(drv));
	f->c = *c;
	memcpy(f->c.driver, drv, sizeof(drv));
	f->c.max = MIN(f->c.max, (f->cap - 8) / 2);
	F.sample_ms = MIN(F.sample_ms, c->sample_ms);
	pthread_cond_signal(&F.wake);
	pthread_mutex_unlock(&F.lock);
}

void
fleet_retire(struct fleet *f)
{
	pthread_mutex_lock(&F.lock);
	f->retiring = 1;
	F.demand = 1;
	pthread_cond_signal(&F.wake);
	pthread_mutex_unlock(&F.lock);
}

int
fleet_done(struct fleet *f)
{
	int r;

	pthread_mutex_lock(&F.lock);
	r = f->done && f->jobs == 0;
	pthread_mutex_unlock(&F.lock);
	return r;
}

void
fleet_free(struct fleet *f)
{
	struct fleet **pp;

	pthread_mutex_lock(&F.lock);
	for (pp = &F.fleets; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	pthread_mutex_unlock(&F.lock);
	free(f->inst);
	free(f);
}

static int
settled_unlocked(void)
{
	return F.qn == 0 && F.busy == 0;
}

/* removes every container of f's app (SIGTERM) */
static void
remove_all(struct fleet *f, struct docker *d)
{
	struct docker_ctr *ctr = calloc(f->cap, sizeof(*ctr));
	size_t n = 0, i;

	if (!ctr || list(&f->c, d, ctr, f->cap, &n) < 0) {
		warn("docker: list: %s", docker_error(d));
		free(ctr);
		return;
	}
	n = keep_ours(f, f->c.image, ctr, n, 0);
	for (i = 0; i < n; i++) {
		if (!on_swarm(&f->c))
			docker_stop(d, ctr[i].id, GRACE_S);
		if (drop(&f->c, d, ctr[i].id) < 0)
			warn("docker: remove %s: %s", ctr[i].name, docker_error(d));
		else
			warn("instance %s removed", ctr[i].name);
	}
	/* a removal "already in progress" (409) is not gone yet: wait */
	for (int64_t until = now_ms() + 10000; now_ms() < until; ) {
		if (list(&f->c, d, ctr, f->cap, &n) < 0)
			n = 0;
		if ((n = keep_ours(f, f->c.image, ctr, n, 0)) == 0)
			break;
		usleep(100000);
	}
	if (n > 0)
		warn("docker: %zu %s of app %s still being removed", n,
		     on_swarm(&f->c) ? "services" : "containers", f->c.name);
	free(ctr);
}

void
fleet_stop(void)
{
	struct docker *d;
	struct fleet *f;
	int64_t until = now_ms();
	struct timespec ts;

	pthread_mutex_lock(&F.lock);
	F.stopping = 1;
	pthread_cond_broadcast(&F.wake);
	for (f = F.fleets; f; f = f->next)
		until = MAX(until, now_ms() + (f->c.keep ? 0 : f->c.start_timeout));
	/* let running jobs finish (starts see stopping and end early) */
	while (!settled_unlocked() && now_ms() < until) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&F.wake, &F.lock, &ts);
	}
	pthread_mutex_unlock(&F.lock);
	/* then remove every container of each app (the list is fixed now) */
	d = dopen();
	for (f = F.fleets; f; f = f->next) {
		if (f->c.keep)
			warn("keeping the containers of app %s running", f->c.name);
		else
			remove_all(f, d);
	}
	docker_close(d);
}

void
fleet_get_stats(struct fleet *f, struct fleet_stats *st)
{
	long cum = 0;

	memset(st, 0, sizeof(*st));
	st->docker_errors = atomic_load(&docker_errors);
	if (!f)
		return;
	pthread_mutex_lock(&F.lock);
	for (int i = 0; i < f->cap; i++) {
		switch (f->inst[i].state) {
		case FI_READY:    st->ready++; break;
		case FI_STARTING: st->starting++; break;
		case FI_DRAINING: /* fall through: pausing is draining too */
		case FI_PAUSING:  st->draining++; break;
		case FI_PAUSED:   st->paused++; break;
		default:          break;
		}
	}
	st->starting += f->pending;
	st->want = f->m.want;
	st->up = f->m.up;
	st->down_load = f->m.down_load;
	st->down_idle = f->m.down_idle;
	st->died = f->m.died;
	st->unhealthy = f->m.unhealthy;
	st->not_ready = f->m.not_ready;
	st->failed_starts = f->m.failed_starts;
	memcpy(st->fail, f->m.fail, sizeof(st->fail));
	st->failing = f->m.failing;
	snprintf(st->last_error, sizeof(st->last_error), "%s", f->m.last_error);
	if (f->m.failing)
		st->next_try_ms = (long)MAX(f->st.backoff_until - now_ms(), 0);
	for (int i = 0; i < FLEET_NBUCKETS; i++)
		st->cold_hist[i] = cum += f->m.cold[i];
	st->cold_sum = f->m.cold_sum;
	cum = 0;
	for (int i = 0; i < FLEET_NBUCKETS; i++)
		st->wake_hist[i] = cum += f->m.wake[i];
	st->wake_sum = f->m.wake_sum;
	st->pauses = f->m.pauses;
	st->wakes = f->m.wakes;
	pthread_mutex_unlock(&F.lock);
}

/* See LICENSE file for copyright and license details. */
/* fleet.h: the containers behind the scaler's decisions (fleet.c). It
 * connects to Docker, adopts, starts, readies, drains, pauses and removes
 * instances (containers, or Swarm services with driver swarm), and runs
 * scale_tick() every sample. Needs scale.h. */

struct fleet;
struct pool;
struct hist;

/* Sets the Docker socket (NULL or "": the default) and pings the daemon.
 * Returns 0 or -1 (logged). Blocks. Call before fleet_new. */
int fleet_init(const char *sock);

/* One app's instances of image c->image, in pool p (its history h may be
 * NULL): checks the image (pulling it with pull "missing"), adopts the
 * app's running containers and removes exited ones. Returns the fleet
 * (scaled by fleet_loop from now on), or NULL (logged). Blocks. */
struct fleet *fleet_new(const struct scale_conf *c, struct pool *p, struct hist *h);

/* A reload: scaling settings apply at the next sample; a changed image,
 * port or ready path replaces the instances one at a time (start one,
 * ready, drain an old one); a retired fleet (its app lost its image at an
 * earlier reload) scales again. Does not block on Docker. */
void fleet_set_conf(struct fleet *f, const struct scale_conf *c);

/* The app was removed: its instances finish their requests and are
 * removed; fleet_done() says when that is over. Does not block. */
void fleet_retire(struct fleet *f);

/* Whether a retired fleet has nothing left (then fleet_free may go). */
int fleet_done(struct fleet *f);

/* Unlists and frees f; only once fleet_done(f). */
void fleet_free(struct fleet *f);

/* Thread bodies started by main: the scaler loop (every app), the Docker
 * events reader (one stream for all), and the fleet workers that run
 * starts, drains and removals (each with its own Docker connection). */
void *fleet_loop(void *arg);
void *fleet_events(void *arg);
void *fleet_worker(void *arg);
/* Swarm's service and node events, for the apps with driver swarm (idle,
 * without a connection, while there is none). */
void *fleet_swarm_events(void *arg);

/* Tells f's scaler a request is waiting for an instance. Blocks briefly. */
void fleet_demand(struct fleet *f);

/* Tells the scaler how many requests wait for a worker now (main, every
 * sweep); used when there is one scaled app. Does not block. */
void fleet_queued(int n);

/* Stops scaling and removes every app's containers (unless keep). Blocks. */
void fleet_stop(void);

#define FLEET_NBUCKETS 10
extern const double fleet_buckets[FLEET_NBUCKETS];  /* cold start or wake, s; last +Inf */

struct fleet_stats {
	int want, ready, starting, draining;      /* now (draining: incl. pausing) */
	int paused;
	long up, down_load, down_idle;            /* scale events by direction and reason */
	long died, unhealthy, not_ready;          /* instances replaced, by reason */
	long failed_starts, docker_errors;
	long fail[NUM_SF];                        /* failed starts by reason */
	int failing;                              /* the last start failed, none ready since */
	char last_error[256];                     /* what the last failed start said, "" if none */
	long next_try_ms;                         /* failing: ms until starts may be tried again */
	long cold_hist[FLEET_NBUCKETS];           /* create -> ready, cumulative */
	double cold_sum;                          /* seconds */
	long wake_hist[FLEET_NBUCKETS];           /* unpause -> ready, cumulative */
	double wake_sum;                          /* seconds */
	long pauses, wakes;                       /* instances paused, woken */
};

/* Fills st with f's counters (f NULL: zeros but docker_errors). */
void fleet_get_stats(struct fleet *f, struct fleet_stats *st);

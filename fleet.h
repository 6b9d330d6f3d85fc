/* See LICENSE file for copyright and license details. */
/* fleet.h: the containers behind the scaler's decisions (fleet.c). It
 * connects to Docker, adopts, starts, readies, drains, pauses and removes
 * instances, and runs scale_tick() every sample. Needs scale.h. */

/* Connects to Docker, checks the image (pulling it with pull "missing"),
 * adopts the set's running containers and removes exited ones. Blocks.
 * Returns 0 or -1 (logged). */
int fleet_start(const struct scale_conf *c);

/* Thread bodies started by main: the scaler loop (arg: the set's struct
 * hist for its decisions, or NULL), the Docker events reader, and the
 * fleet workers that run starts, drains and removals (each with its own
 * Docker connection). */
void *fleet_loop(void *arg);
void *fleet_events(void *arg);
void *fleet_worker(void *arg);

/* Tells the scaler a request is waiting for an instance. Blocks briefly. */
void fleet_demand(void);

/* Tells the scaler how many requests wait for a worker now (main, every
 * sweep). Does not block. */
void fleet_queued(int n);

/* Stops scaling and removes the set's containers (unless keep). Blocks. */
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

/* Fills st with the scaler's counters (zeros when not scaling). */
void fleet_get_stats(struct fleet_stats *st);

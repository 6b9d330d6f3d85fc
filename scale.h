/* See LICENSE file for copyright and license details. */
/* scale.h: the autoscaler's decision. It decides from one sample of the
 * load how many instances of an app should run (scale_decide, a pure
 * function tested with an injected clock) and calls the injected ops;
 * fleet.c (fleet.h) carries the decisions out. Needs stdio.h and stdint.h. */

#include <stdint.h>
#include <stdio.h>

#include "docker.h"

struct scale_conf {
	char image[256];       /* -i */
	long port;             /* -p container port */
	long min, max;         /* -m, -M instances */
	long target;           /* -c in-flight requests per instance */
	char name[64];         /* -n set name */
	char socket[256];      /* -s docker socket path, "" = default */
	char metric[16];       /* "concurrency" or "rps" */
	long target_rps;       /* requests/s per instance with metric rps */
	long down_delay;       /* ms below need before a scale-down */
	long idle_timeout;     /* ms without requests before removing the last (min 0) */
	long start_timeout;    /* ms for an instance to become ready */
	char ready_path[128];  /* readiness probe path */
	char pull[16];         /* "never" or "missing" */
	long keep;             /* 1: leave containers on exit */
	long drain_timeout;    /* ms to wait for in-flight requests of a draining instance */
	long sample_ms;        /* sampling period */
	long hostnet;          /* 1: NetworkMode host; the image must listen on port */
	char network[64];      /* "": publish on 127.0.0.1; else instances join this
	                          user-defined network, reached at their IP there */
	char driver[16];       /* "container" (or ""): one container per instance;
	                          "swarm": one Swarm service per instance, on network */
	struct docker_spec_buf spec; /* container settings: env, cmd, memory, cpus,
	                          volume, label, user keys */
	long pause_after;      /* ms unneeded before a scale-down pauses instead of
	                          removing (at least down_delay); 0 = off */
	long remove_after;     /* ms paused before removal (down to min_paused), 0 = kept */
	long min_paused;       /* instances kept started, ready and paused */
	long max_paused;       /* at most this many paused; beyond, scale-down removes */
};

/* what the decision sees at one sample */
struct scale_input {
	int64_t now;           /* ms, monotonic */
	int ready;             /* instances serving */
	int starting;          /* instances not ready yet */
	int inflight;          /* requests in progress on instances, incl. tunnels */
	int waiting;           /* requests held for lack of an instance */
	long requests;         /* requests counter (for rps) */
	int queued;            /* requests no worker has picked up yet (all busy) */
	int paused;            /* instances paused or being paused */
	int warming;           /* instances starting to be paused (min_paused) */
	int64_t oldest_paused; /* ms the longest-paused instance has been paused, 0: none */
};

/* what the decision remembers between samples */
struct scale_state {
	int64_t below_since;   /* since when fewer would do, 0 = not below */
	int64_t last_busy;     /* last sample with load */
	int64_t last_sample;
	long last_requests;
	double rps;            /* smoothed requests/s */
	int64_t backoff_until; /* no start before (after failures) */
	int backoff;           /* current start back-off, ms */
};

/* what the scaler does to the world: injected, so tests need no Docker */
struct scale_ops {
	void (*start)(void *arg, int n);   /* start n instances, asynchronously */
	void (*drain_one)(void *arg);      /* take one ready instance out and remove it */
	void *arg;
	void (*event)(void *arg, int from, int to, const char *why);  /* a decision and its
	                                      reason, as logged; may be NULL */
	/* the paused tier; NULL when there is none (then it is never used) */
	int (*wake)(void *arg, int n);     /* unpause up to n paused instances; returns how many */
	void (*pause_one)(void *arg);      /* take one ready instance out and pause it */
	void (*warm)(void *arg, int n);    /* start n instances to be paused once ready */
	void (*remove_paused)(void *arg);  /* remove the longest-paused instance */
};

/* With no set name yet, names the set after the listen address
 * "[host:]port": "prescal-<port>" for a wildcard host, else
 * "prescal-<host>-<port>", so two instances that listen apart never share
 * a set. Pure. */
void scale_default_name(struct scale_conf *c, const char *listen);

/* Checks c for contradictions, printing "prescal: ..." lines to err.
 * Returns 0 or -1. */
int scale_check_conf(const struct scale_conf *c, FILE *err);

/* Returns the number of instances wanted now (ready + starting count as
 * running) and writes the reason into why. Pure: no I/O, no clock. */
int scale_decide(const struct scale_conf *c, struct scale_state *s,
                 const struct scale_input *in, char *why, size_t n);

/* One sample: decides and calls ops; draining is 1 while an instance is
 * still draining or pausing (no second scale-down then). A scale-up wakes
 * paused instances before it starts new ones; a scale-down pauses when
 * pause_after is set and fewer than max_paused are paused. With nothing
 * else to do it keeps min_paused warm and removes paused instances beyond
 * max_paused or paused for remove_after. Logs one line per decision that
 * changes anything. Returns the wanted count. */
int scale_tick(const struct scale_conf *c, struct scale_state *s,
               const struct scale_input *in, int draining, const struct scale_ops *ops);

/* why a start failed: the log, /status and /metrics name it */
enum scale_fail {
	SF_NONE,
	SF_EXIT,       /* the container exited before it was ready */
	SF_OOM,        /* ... killed by the OOM killer */
	SF_TIMEOUT,    /* not ready within start_timeout */
	SF_UNHEALTHY,  /* Docker's health check said unhealthy first */
	SF_CREATE,     /* the daemon could not create or start it */
	SF_IMAGE,      /* the image is missing */
	NUM_SF
};

extern const char *const scale_fail_name[NUM_SF];   /* "exit", "oom", ... ("" for none) */

/* Writes what a failed start means to a user into out[0..n): for SF_EXIT
 * arg is the exit code, for SF_TIMEOUT the start timeout in ms; image is
 * the image's name. E.g. "exited with code 1 before it was ready". Pure. */
void scale_fail_text(char *out, size_t n, enum scale_fail why, long arg, const char *image);

/* Records a failed start at now: no start before the back-off ends
 * (1 s doubling to 30 s). A failure within the back-off (another start of
 * the same round) does not double it again. */
void scale_failed(struct scale_state *s, int64_t now);

/* Records a successful start: the back-off resets. */
void scale_succeeded(struct scale_state *s);

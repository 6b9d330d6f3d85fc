/* See LICENSE file for copyright and license details. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "scale.h"
#include "util.h"

#define BACKOFF_FIRST 1000

void
scale_default_name(struct scale_conf *c, const char *listen)
{
	const char *colon = strrchr(listen, ':'), *port = colon ? colon + 1 : listen;
	char host[35];
	size_t i, k = 0;

	if (c->name[0])
		return;
	/* the host, without [] around an IPv6 address, in name characters */
	for (i = 0; colon && listen + i < colon && k < 34; i++) {
		char ch = listen[i];
		if (ch == '[' || ch == ']')
			continue;
		host[k++] = name_valid_char(ch) ? ch : '_';
	}
	host[k] = '\0';
	if (!k || !strcmp(host, "0.0.0.0") || !strcmp(host, "__") || !strcmp(host, "_"))
		snprintf(c->name, sizeof(c->name), "prescal-%.5s", port);
	else
		snprintf(c->name, sizeof(c->name), "prescal-%.34s-%.5s", host, port);
}

/* what driver swarm cannot do: a service has no host port, no pause,
 * and its tasks may run on any node (no bind mounts, no cmd override) */
static int
check_swarm(const struct scale_conf *c, FILE *err)
{
	const char *no = NULL;

	if (!c->network[0])
		no = "needs network (an attachable overlay network prescal is on)";
	else if (c->pause_after || c->min_paused)
		no = "cannot pause instances: set pause_after 0 and min_paused 0";
	else if (c->spec.n[DOCKER_SL_CMD] || c->spec.n[DOCKER_SL_VOLUME] ||
	         c->spec.n[DOCKER_SL_LABEL] || c->spec.user[0])
		no = "passes env, constraint, memory and cpus (as reservations) only: not cmd, "
		     "volume, label or user";
	if (no)
		fprintf(err, "prescal: driver swarm %s\n", no);
	return no ? -1 : 0;
}

int
scale_check_conf(const struct scale_conf *c, FILE *err)
{
	const char *p;

	if (!c->image[0])
		return 0;
	for (p = c->image; *p; p++) {
		if (*p <= ' ' || *p == '"' || *p == '\\' || *p >= 0x7f) {
			fprintf(err, "prescal: -i '%s': not an image name\n", c->image);
			return -1;
		}
	}
	if (!name_valid(c->name, 48)) {
		fprintf(err, "prescal: -n '%s': use up to 48 of [a-zA-Z0-9][a-zA-Z0-9_.-]\n", c->name);
		return -1;
	}
	if (c->network[0] && (!name_valid(c->network, 127) || c->hostnet)) {
		fprintf(err, c->hostnet ? "prescal: network '%s' and host_network 1 exclude "
		        "each other\n" : "prescal: network '%s': expected a network name "
		        "[a-zA-Z0-9][a-zA-Z0-9_.-]*\n", c->network);
		return -1;
	}
	if (!strcmp(c->driver, "swarm") && check_swarm(c, err) < 0)
		return -1;
	if (strcmp(c->driver, "swarm") && c->spec.n[DOCKER_SL_CONSTRAINT]) {
		fprintf(err, "prescal: constraint needs driver swarm\n");
		return -1;
	}
	if (c->driver[0] && strcmp(c->driver, "container") && strcmp(c->driver, "swarm")) {
		fprintf(err, "prescal: driver '%s': expected container or swarm\n", c->driver);
		return -1;
	}
	if (strcmp(c->metric, "concurrency") && strcmp(c->metric, "rps")) {
		fprintf(err, "prescal: metric '%s': expected concurrency or rps\n", c->metric);
		return -1;
	}
	if (strcmp(c->pull, "never") && strcmp(c->pull, "missing")) {
		fprintf(err, "prescal: pull '%s': expected never or missing\n", c->pull);
		return -1;
	}
	if (c->ready_path[0] != '/') {
		fprintf(err, "prescal: ready_path '%s': must start with /\n", c->ready_path);
		return -1;
	}
	if (c->min_paused < 0 || c->max_paused < 0 || c->min_paused > c->max_paused) {
		fprintf(err, "prescal: min_paused %ld, max_paused %ld: expected "
		        "0 <= min_paused <= max_paused\n", c->min_paused, c->max_paused);
		return -1;
	}
	if (c->pause_after < 0 || c->remove_after < 0) {
		fprintf(err, "prescal: pause_after and remove_after: expected 0 (off) or ms\n");
		return -1;
	}
	for (p = c->ready_path; *p; p++) {
		if (*p <= ' ' || *p >= 0x7f) {
			fprintf(err, "prescal: ready_path '%s': no spaces or control bytes\n",
			        c->ready_path);
			return -1;
		}
	}
	return 0;
}

static long
ceil_div(long a, long b)
{
	return (a + b - 1) / b;
}

/* whether a scale-down now would pause rather than remove */
static int
can_pause(const struct scale_conf *c, const struct scale_input *in)
{
	return c->pause_after > 0 && in->paused + in->warming < c->max_paused;
}

int
scale_decide(const struct scale_conf *c, struct scale_state *s,
             const struct scale_input *in, char *why, size_t n)
{
	int running = in->ready + in->starting, pausing = can_pause(c, in);
	long need, load = in->inflight + in->waiting + in->queued;
	long idle = pausing ? MAX(c->idle_timeout, c->pause_after) : c->idle_timeout;
	long delay = pausing ? MAX(c->down_delay, c->pause_after) : c->down_delay;

	/* smoothed request rate, for metric rps */
	if (s->last_sample && in->now > s->last_sample) {
		double inst = (double)(in->requests - s->last_requests) * 1000.0 /
		              (double)(in->now - s->last_sample);
		s->rps = s->rps * 0.7 + inst * 0.3;
	}
	if (load > 0 || in->requests != s->last_requests || !s->last_busy)
		s->last_busy = in->now;
	s->last_sample = in->now;
	s->last_requests = in->requests;

	if (!strcmp(c->metric, "rps")) {
		need = (long)(s->rps / (double)c->target_rps + 0.999);
		snprintf(why, n, "rps %.1f, target %ld", s->rps, c->target_rps);
	} else {
		need = ceil_div(load, c->target);
		snprintf(why, n, "in-flight %ld, target %ld", load, c->target);
	}
	if (in->waiting > 0 && need < 1)
		need = 1;
	/* with -m 0 the last instance stays until the idle timeout */
	if (need < 1 && running > 0 && in->now - s->last_busy < idle)
		need = 1;
	if (need < c->min)
		need = c->min;
	if (need > c->max)
		need = c->max;
	if (need > running && in->now < s->backoff_until) {
		snprintf(why, n, "start back-off, %lld ms left",
		         (long long)(s->backoff_until - in->now));
		need = running;
	}
	if (need >= running) {
		s->below_since = 0;
		return (int)need;
	}
	/* below need: only after the delay, one at a time */
	if (!s->below_since)
		s->below_since = in->now;
	if (running == 1 && need == 0) {
		snprintf(why, n, "idle for %lld ms", (long long)(in->now - s->last_busy));
		return 0;
	}
	if (in->now - s->below_since < delay)
		return running;
	return running - 1;
}

/* with nothing else to do: the warm pool's floor and ceiling */
static void
tend_paused(const struct scale_conf *c, const struct scale_state *s,
            const struct scale_input *in, const struct scale_ops *ops)
{
	int have = in->paused + in->warming;

	if (!ops->warm || !ops->remove_paused)
		return;
	if (have < c->min_paused && in->now >= s->backoff_until) {
		warn("app %s: warm pool: %d paused, min_paused %ld: starting %ld to pause", c->name, have,
		     c->min_paused, c->min_paused - have);
		ops->warm(ops->arg, (int)(c->min_paused - have));
	} else if (in->paused > c->max_paused && in->warming == 0) {
		warn("app %s: warm pool: %d paused, max_paused %ld: removing one", c->name, in->paused,
		     c->max_paused);
		ops->remove_paused(ops->arg);
	} else if (c->remove_after > 0 && in->paused > c->min_paused && in->warming == 0 &&
	           in->oldest_paused >= c->remove_after) {
		warn("app %s: warm pool: paused for %lld ms, remove_after %ld: removing one",
		     c->name, (long long)in->oldest_paused, c->remove_after);
		ops->remove_paused(ops->arg);
	}
}

int
scale_tick(const struct scale_conf *c, struct scale_state *s,
           const struct scale_input *in, int draining, const struct scale_ops *ops)
{
	char why[128];
	int running = in->ready + in->starting, woke = 0;
	int pause = ops->pause_one && can_pause(c, in);
	int want = scale_decide(c, s, in, why, sizeof(why));

	if (want > running) {
		if (ops->wake && in->paused > 0)
			woke = ops->wake(ops->arg, MIN(want - running, in->paused));
		if (woke)
			warn("app %s: scale up %d->%d: %s; waking %d paused", c->name, running, want, why,
			     woke);
		else
			warn("app %s: scale up %d->%d: %s", c->name, running, want, why);
		if (ops->event)
			ops->event(ops->arg, running, want, why);
		if (want - running - woke > 0)
			ops->start(ops->arg, want - running - woke);
	} else if (want < running && !draining && in->ready > 0) {
		warn("app %s: scale down %d->%d: %s; %s one", c->name, running, running - 1, why,
		     pause ? "pausing" : "removing");
		if (ops->event)
			ops->event(ops->arg, running, running - 1, why);
		if (pause)
			ops->pause_one(ops->arg);
		else
			ops->drain_one(ops->arg);
		s->below_since = in->now;  /* the next step waits the delay again */
	} else if (!draining) {
		tend_paused(c, s, in, ops);
	}
	return want;
}

const char *const scale_fail_name[NUM_SF] = {
	[SF_NONE]      = "",
	[SF_EXIT]      = "exit",
	[SF_OOM]       = "oom",
	[SF_TIMEOUT]   = "timeout",
	[SF_UNHEALTHY] = "unhealthy",
	[SF_CREATE]    = "create",
	[SF_IMAGE]     = "image",
};

void
scale_fail_text(char *out, size_t n, enum scale_fail why, long arg, const char *image)
{
	switch (why) {
	case SF_EXIT:
		snprintf(out, n, "exited with code %ld before it was ready", arg);
		break;
	case SF_OOM:
		snprintf(out, n, "was killed for lack of memory (OOM) before it was ready");
		break;
	case SF_TIMEOUT:
		snprintf(out, n, "was not ready within %ld ms", arg);
		break;
	case SF_UNHEALTHY:
		snprintf(out, n, "became unhealthy before it was ready");
		break;
	case SF_CREATE:
		snprintf(out, n, "Docker could not create or start its container");
		break;
	case SF_IMAGE:
		snprintf(out, n, "image %s is not available", image);
		break;
	default:
		snprintf(out, n, "failed for an unknown reason");
		break;
	}
}

void
scale_failed(struct scale_state *s, int64_t now)
{
	if (s->backoff && now < s->backoff_until)
		return;  /* the same round */
	s->backoff = s->backoff ? MIN(s->backoff * 2, BACKOFF_MAX) : BACKOFF_FIRST;
	s->backoff_until = now + s->backoff;
}

void
scale_succeeded(struct scale_state *s)
{
	s->backoff = 0;
	s->backoff_until = 0;
}

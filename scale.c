/* See LICENSE file for copyright and license details. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "scale.h"
#include "util.h"

#define BACKOFF_FIRST 1000
#define BACKOFF_MAX   30000

static int
valid_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
		return 0;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", *s))
			return 0;
	return 1;
}

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
		host[k++] = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                   "0123456789_.-", ch) ? ch : '_';
	}
	host[k] = '\0';
	if (!k || !strcmp(host, "0.0.0.0") || !strcmp(host, "__") || !strcmp(host, "_"))
		snprintf(c->name, sizeof(c->name), "prescal-%.5s", port);
	else
		snprintf(c->name, sizeof(c->name), "prescal-%.34s-%.5s", host, port);
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
	if (!valid_name(c->name) || strlen(c->name) > 48) {
		fprintf(err, "prescal: -n '%s': use up to 48 of [a-zA-Z0-9][a-zA-Z0-9_.-]\n", c->name);
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

int
scale_decide(const struct scale_conf *c, struct scale_state *s,
             const struct scale_input *in, char *why, size_t n)
{
	int running = in->ready + in->starting;
	long need, load = in->inflight + in->waiting + in->queued;

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
	if (need < 1 && running > 0 && in->now - s->last_busy < c->idle_timeout)
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
	if (in->now - s->below_since < c->down_delay)
		return running;
	return running - 1;
}

int
scale_tick(const struct scale_conf *c, struct scale_state *s,
           const struct scale_input *in, int draining, const struct scale_ops *ops)
{
	char why[128];
	int running = in->ready + in->starting;
	int want = scale_decide(c, s, in, why, sizeof(why));

	if (want > running) {
		warn("scale up %d->%d: %s", running, want, why);
		if (ops->event)
			ops->event(ops->arg, running, want, why);
		ops->start(ops->arg, want - running);
	} else if (want < running && !draining && in->ready > 0) {
		warn("scale down %d->%d: %s", running, running - 1, why);
		if (ops->event)
			ops->event(ops->arg, running, running - 1, why);
		ops->drain_one(ops->arg);
		s->below_since = in->now;  /* the next step waits the delay again */
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

/* See LICENSE file for copyright and license details. */
/* swarm.c against recorded daemon replies (tests/fixtures), a fake daemon
 * on a temporary unix socket for the requests and the update retry, the
 * pure swarm_assess() over three nodes, then a live swarm.
 *
 * The live test runs only with PRESCAL_SWARM=1 (CI sets it after `docker
 * swarm init`): it skips loudly otherwise, and fails when
 * PRESCAL_REQUIRE_DOCKER=1 and PRESCAL_SWARM=1 but this node is no swarm
 * manager. It makes an overlay network (or uses $PRESCAL_SWARM_NET), a
 * helper container on it, and a one-replica dnsrr service of
 * prescal-test-backend:latest, all named hswarm-*, and removes them all,
 * also when it fails. HTTP goes only to the task's overlay address, from
 * inside the helper container's network namespace (nsenter + curl): the
 * host itself has no route to the overlay. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "docker.h"
#include "json.h"
#include "swarm.h"
#include "util.h"

#define SVC_FX  "mnhnj12joz9fmh6mx1ql9q1xp"   /* the service of the shared captures */
#define NODE_FX "xk9vmerbukhjr36xdxxc2jtve"   /* the node of the captures made here */
#define NET_FX  "pfk0q3gf9ips7smpmj5k9cn2y"   /* hswarm-net's id in them */
#define MAXSTEP 8

static const char *fixdir = "tests/fixtures";

static char *
slurp(const char *name, size_t *len)
{
	char path[512], *buf = NULL;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", fixdir, name);
	if (!(f = fopen(path, "rb")))
		fail_msg("cannot open %s", path);
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc(n + 1)) && fread(buf, 1, n, f) == (size_t)n) {
		buf[n] = '\0';
		*len = n;
	}
	fclose(f);
	assert_non_null(buf);
	return buf;
}

/* the body of a recorded reply, framing removed by docker.c, fed in
 * reads of step bytes. Returns the status; *js is owned by d */
static int
body(struct docker *d, const char *fixture, size_t step, const char **js, size_t *n)
{
	size_t len;
	char *raw = slurp(fixture, &len);
	int st = docker_parse_raw(d, raw, len, step, js, n);

	/* the body is a copy in d: the recording may go */
	free(raw);
	return st;
}

/* fixtures: parsing */

static void
test_parse_service(void **state)
{
	struct docker *d = docker_open("/nonexistent", 1000);
	struct swarm_service s[2];
	const char *js;
	size_t n, k, steps[] = { 0, 1, 7 };

	(void)state;
	for (k = 0; k < LEN(steps); k++) {
		assert_int_equal(body(d, "services-inspect-200.http", steps[k], &js, &n), 200);
		assert_int_equal(swarm_parse_service(js, n, &s[0]), 0);
		assert_string_equal(s[0].id, SVC_FX);
		assert_string_equal(s[0].name, "prescal-fx-svc");
		assert_int_equal(s[0].version, 13);
		assert_int_equal(s[0].replicas, 1);
		assert_string_equal(s[0].app, "");   /* not made by prescal */
		assert_string_equal(s[0].image, "prescal-fixture-backend:latest");
		assert_int_equal(s[0].port, 0);
	}
	assert_int_equal(body(d, "services-list-200.http", 0, &js, &n), 200);
	assert_int_equal(swarm_parse_services(js, n, s, LEN(s), &k), 0);
	assert_int_equal(k, 1);
	assert_int_equal(s[0].version, 19);  /* 13 -> 19 after one update */
	assert_int_equal(s[0].replicas, 3);
	/* bounded: no room */
	assert_int_equal(swarm_parse_services(js, n, s, 0, &k), 1);
	assert_int_equal(k, 0);
	/* cut short: malformed, nothing stored */
	assert_int_equal(swarm_parse_services(js, n / 2, s, LEN(s), &k), -1);
	assert_int_equal(k, 0);
	assert_int_equal(swarm_parse_service("{\"ID\":\"x\"}", 10, &s[0]), -1);
	docker_close(d);
}

static void
test_parse_tasks(void **state)
{
	struct docker *d = docker_open("/nonexistent", 1000);
	struct swarm_task t[4];
	const char *js;
	size_t n, k, i;

	(void)state;
	/* three tasks on the ingress network (chunked reply), byte by byte */
	assert_int_equal(body(d, "tasks-list-200.http", 1, &js, &n), 200);
	assert_int_equal(swarm_parse_tasks(js, n, "ingress", t, LEN(t), &k), 0);
	assert_int_equal(k, 3);
	for (i = 0; i < k; i++) {
		assert_string_equal(t[i].service, SVC_FX);
		assert_string_equal(t[i].state, "running");
		assert_string_equal(t[i].desired, "running");
		assert_int_equal(strlen(t[i].container), 64);
		assert_memory_equal(t[i].addr, "10.0.0.", 7);
		assert_null(strchr(t[i].addr, '/'));
	}
	assert_string_equal(t[0].id, "p1dpwmh9q9ju5n2cocl4d9bjt");
	assert_string_equal(t[0].addr, "10.0.0.5");
	assert_string_equal(t[1].addr, "10.0.0.4");
	/* bounded */
	assert_int_equal(swarm_parse_tasks(js, n, "ingress", t, 2, &k), 1);
	assert_int_equal(k, 2);
	/* no network asked, or another one: no address */
	assert_int_equal(swarm_parse_tasks(js, n, NULL, t, LEN(t), &k), 0);
	assert_string_equal(t[0].addr, "");
	assert_int_equal(swarm_parse_tasks(js, n, "hswarm-net", t, LEN(t), &k), 0);
	assert_string_equal(t[2].addr, "");

	/* the attachable overlay, by name and by id */
	assert_int_equal(body(d, "tasks-list-overlay-200.http", 0, &js, &n), 200);
	assert_int_equal(swarm_parse_tasks(js, n, "hswarm-net", t, LEN(t), &k), 0);
	assert_int_equal(k, 1);
	assert_string_equal(t[0].addr, "10.0.1.4");
	assert_string_equal(t[0].node, NODE_FX);
	assert_string_equal(t[0].err, "");
	assert_int_equal(t[0].version, 25);
	assert_int_equal(swarm_parse_tasks(js, n, NET_FX, t, LEN(t), &k), 0);
	assert_string_equal(t[0].addr, "10.0.1.4");

	/* its container killed: failed, no longer desired running */
	assert_int_equal(body(d, "tasks-list-overlay-failed-200.http", 0, &js, &n), 200);
	assert_int_equal(swarm_parse_tasks(js, n, "hswarm-net", t, LEN(t), &k), 0);
	assert_int_equal(k, 1);
	assert_string_equal(t[0].state, "failed");
	assert_string_equal(t[0].desired, "shutdown");
	assert_string_equal(t[0].err, "task: non-zero exit (137)");
	assert_int_equal(swarm_parse_tasks(js, n - 40, "hswarm-net", t, LEN(t), &k), -1);
	docker_close(d);
}

static void
test_parse_nodes(void **state)
{
	struct docker *d = docker_open("/nonexistent", 1000);
	struct swarm_node nd[2];
	const char *js;
	size_t n, k;

	(void)state;
	assert_int_equal(body(d, "nodes-list-200.http", 3, &js, &n), 200);
	assert_int_equal(swarm_parse_nodes(js, n, nd, LEN(nd), &k), 0);
	assert_int_equal(k, 1);
	assert_string_equal(nd[0].id, NODE_FX);
	assert_string_equal(nd[0].hostname, "vm");
	assert_true(nd[0].ready);
	assert_true(nd[0].active);
	assert_false(nd[0].drain);
	assert_int_equal(swarm_parse_nodes("[{\"ID\":\"a\"}]", 12, nd, LEN(nd), &k), -1);
	assert_int_equal(swarm_parse_nodes("{}", 2, nd, LEN(nd), &k), -1);
	docker_close(d);
}

/* a fake daemon: answers each request on a unix socket with a recorded
 * reply and keeps what it was asked */

struct fake {
	char path[108];
	int lfd;
	const char *reply[MAXSTEP];   /* fixture file of each answer */
	size_t n;
	char line[MAXSTEP][512];      /* request line of each request */
	char body[MAXSTEP][8192];     /* and its body */
	size_t served;
	pthread_t th;
};

/* reads one request from fd into f's step i. Returns 0, -1 at EOF */
static int
request(struct fake *f, int fd, size_t i)
{
	char buf[65536], *end = NULL, *cl;
	size_t len = 0, blen = 0;
	ssize_t r;

	while (!end || len < (size_t)(end + 4 - buf) + blen) {
		if (len == sizeof(buf) - 1 || (r = read(fd, buf + len, sizeof(buf) - 1 - len)) <= 0)
			return -1;
		len += r;
		buf[len] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) &&
		    (cl = strcasestr(buf, "\r\nContent-Length: ")) && cl < end)
			blen = strtoul(cl + 18, NULL, 10);
	}
	snprintf(f->line[i], sizeof(f->line[i]), "%.*s", (int)strcspn(buf, "\r"), buf);
	snprintf(f->body[i], sizeof(f->body[i]), "%.*s", (int)blen, end + 4);
	return 0;
}

static void *
serve(void *arg)
{
	struct fake *f = arg;
	char *resp;
	size_t len;
	int fd = -1;

	while (f->served < f->n) {
		if (fd < 0 && (fd = accept(f->lfd, NULL, NULL)) < 0)
			break;
		if (request(f, fd, f->served) < 0) {
			close(fd);
			fd = -1;
			continue;
		}
		resp = slurp(f->reply[f->served], &len);
		if (writeall(fd, resp, len) < 0)
			fail_msg("fake daemon: write");
		free(resp);
		f->served++;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static struct docker *
fake_start(struct fake *f, const char *const *replies, size_t n)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t i;

	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "/tmp/hswarm-fake-%d.sock", (int)getpid());
	unlink(f->path);
	memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
	for (i = 0; i < n && i < MAXSTEP; i++)
		f->reply[i] = replies[i];
	f->n = i;
	assert_true((f->lfd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(pthread_create(&f->th, NULL, serve, f), 0);
	return docker_open(f->path, 5000);
}

/* waits for the fake daemon to finish; checks every reply was asked for */
static void
fake_stop(struct fake *f, struct docker *d)
{
	docker_close(d);
	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->th, NULL);
	close(f->lfd);
	unlink(f->path);
	assert_int_equal(f->served, f->n);
}

/* the string at path in the JSON text js */
static void
expect_json(const char *js, const char *path, const char *want)
{
	struct json_val v;
	char got[512];

	if (json_get(js, strlen(js), path, &v) != 1)
		fail_msg("%s: no %s", js, path);
	if (v.type == JSON_STRING)
		assert_true(json_string(&v, got, sizeof(got)) >= 0);
	else
		snprintf(got, sizeof(got), "%.*s", (int)v.n, v.s);
	if (strcmp(got, want) != 0)
		fail_msg("%s = %s, want %s", path, got, want);
}

static const char *const env_fx[] = { "PORT=8080" };
static const char *const constr_fx[] = { "node.role==worker", "node.labels.zone==a" };

static const struct swarm_spec spec_fx = {
	.name = "hswarm-web-1", .app = "web", .image = "prescal-test-backend:latest",
	.port = 8080, .network = "hswarm-net", .env = env_fx, .nenv = 1,
	.constraints = constr_fx, .nconstraints = 2, .nanocpus = 250000000,
	.membytes = 64 << 20, .replicas = 1,
};

static void
test_create_request(void **state)
{
	static const char *const rep[] = { "services-create-201-ingress.http",
		"services-create-409-name-conflict.http" };
	static struct fake f;
	struct docker *d = fake_start(&f, rep, LEN(rep));
	struct swarm_spec bad = spec_fx;
	char id[SWARM_IDLEN];

	(void)state;
	assert_int_equal(swarm_create(d, &spec_fx, id), 0);
	assert_string_equal(id, SVC_FX);
	assert_int_equal(swarm_create(d, &spec_fx, id), -1);
	assert_int_equal(docker_status(d), 409);
	assert_non_null(strstr(docker_error(d), "409: rpc error: code = AlreadyExists"));
	assert_string_equal(id, "");
	/* refused before any I/O */
	bad.name = "-bad";
	assert_int_equal(swarm_create(d, &bad, id), -1);
	assert_non_null(strstr(docker_error(d), "invalid service name"));
	bad = spec_fx;
	bad.replicas = 2;
	assert_int_equal(swarm_create(d, &bad, id), -1);
	bad = spec_fx;
	bad.port = 0;
	assert_int_equal(swarm_create(d, &bad, id), -1);
	fake_stop(&f, d);

	assert_string_equal(f.line[0], "POST /v1.41/services/create HTTP/1.1");
	assert_int_equal(json_valid(f.body[0], strlen(f.body[0])), 0);
	expect_json(f.body[0], "Name", "hswarm-web-1");
	expect_json(f.body[0], "Labels[\"prescal.managed\"]", "true");
	expect_json(f.body[0], "Labels[\"prescal.name\"]", "web");
	expect_json(f.body[0], "Labels[\"prescal.image\"]", "prescal-test-backend:latest");
	expect_json(f.body[0], "Labels[\"prescal.port\"]", "8080");
	expect_json(f.body[0], "TaskTemplate.ContainerSpec.Image", "prescal-test-backend:latest");
	expect_json(f.body[0], "TaskTemplate.ContainerSpec.Labels[\"prescal.name\"]", "web");
	expect_json(f.body[0], "TaskTemplate.ContainerSpec.Env[0]", "PORT=8080");
	expect_json(f.body[0], "TaskTemplate.Resources.Reservations.NanoCPUs", "250000000");
	expect_json(f.body[0], "TaskTemplate.Resources.Reservations.MemoryBytes", "67108864");
	expect_json(f.body[0], "TaskTemplate.RestartPolicy.Condition", "none");
	expect_json(f.body[0], "TaskTemplate.Placement.Constraints[1]", "node.labels.zone==a");
	expect_json(f.body[0], "TaskTemplate.Networks[0].Target", "hswarm-net");
	expect_json(f.body[0], "TaskTemplate.ForceUpdate", "0");
	expect_json(f.body[0], "Mode.Replicated.Replicas", "1");
	expect_json(f.body[0], "EndpointSpec.Mode", "dnsrr");
}

/* a stale version: 500 "update out of sequence", read again, retry */
static void
test_update_retry(void **state)
{
	static const char *const rep[] = { "services-update-500-stale-version.http",
		"services-inspect-200.http", "services-update-200-scale-to-3.http",
		"services-update-400-no-version.http" };
	static struct fake f;
	struct docker *d = fake_start(&f, rep, LEN(rep));
	struct swarm_spec s = spec_fx;
	int tries;

	(void)state;
	s.force = 3;
	assert_int_equal(swarm_update(d, SVC_FX, 5, &s, &tries), 0);
	assert_int_equal(tries, 2);
	/* any other error is not retried */
	assert_int_equal(swarm_update(d, SVC_FX, 13, &s, &tries), -1);
	assert_int_equal(tries, 1);
	assert_int_equal(docker_status(d), 400);
	fake_stop(&f, d);
	assert_string_equal(f.line[0], "POST /v1.41/services/" SVC_FX "/update?version=5 HTTP/1.1");
	assert_string_equal(f.line[1], "GET /v1.41/services/" SVC_FX " HTTP/1.1");
	assert_string_equal(f.line[2], "POST /v1.41/services/" SVC_FX "/update?version=13 HTTP/1.1");
	assert_string_equal(f.body[0], f.body[2]);
	expect_json(f.body[2], "TaskTemplate.ForceUpdate", "3");
}

/* stale every time: bounded */
static void
test_update_bounded(void **state)
{
	static const char *const rep[] = { "services-update-500-stale-version.http",
		"services-inspect-200.http", "services-update-500-stale-version.http",
		"services-inspect-200.http", "services-update-500-stale-version.http" };
	static struct fake f;
	struct docker *d = fake_start(&f, rep, LEN(rep));
	int tries;

	(void)state;
	assert_int_equal(swarm_update(d, SVC_FX, 5, &spec_fx, &tries), -1);
	assert_int_equal(tries, SWARM_TRIES);
	assert_int_equal(docker_status(d), 500);
	assert_non_null(strstr(docker_error(d), "update out of sequence"));
	fake_stop(&f, d);
}

static void
test_remove_list(void **state)
{
	static const char *const rep[] = { "services-remove-200.http",
		"services-inspect-404.http", "services-list-200.http",
		"services-list-503-not-swarm.http", "tasks-list-overlay-200.http",
		"services-inspect-404.http", "nodes-list-200.http" };
	static struct fake f;
	struct docker *d = fake_start(&f, rep, LEN(rep));
	struct swarm_service s[2];
	struct swarm_task t[2];
	struct swarm_node nd[2];
	size_t n;

	(void)state;
	assert_int_equal(swarm_remove(d, SVC_FX), 0);
	assert_int_equal(swarm_inspect(d, SVC_FX, &s[0]), -1);
	assert_int_equal(docker_status(d), 404);
	assert_int_equal(swarm_services(d, "web", s, LEN(s), &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(swarm_services(d, NULL, s, LEN(s), &n), -1);
	assert_int_equal(docker_status(d), 503);
	assert_non_null(strstr(docker_error(d), "not a swarm manager"));
	assert_int_equal(swarm_tasks(d, "web", NULL, "hswarm-net", t, LEN(t), &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(t[0].addr, "10.0.1.4");
	/* the service is gone: 404 "service ... not found", so no tasks */
	assert_int_equal(swarm_tasks(d, "web", SVC_FX, "hswarm-net", t, LEN(t), &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(swarm_nodes(d, nd, LEN(nd), &n), 0);
	assert_int_equal(n, 1);
	fake_stop(&f, d);
	assert_string_equal(f.line[0], "DELETE /v1.41/services/" SVC_FX " HTTP/1.1");
	assert_string_equal(f.line[2], "GET /v1.41/services?filters=%7B%22label%22%3A%5B%22"
	                    "prescal.managed%3Dtrue%22%2C%22prescal.name%3Dweb%22%5D%7D HTTP/1.1");
	assert_string_equal(f.line[3], "GET /v1.41/services?filters=%7B%22label%22%3A%5B%22"
	                    "prescal.managed%3Dtrue%22%5D%7D HTTP/1.1");
	assert_string_equal(f.line[4], "GET /v1.41/tasks?filters=%7B%22label%22%3A%5B%22"
	                    "prescal.managed%3Dtrue%22%2C%22prescal.name%3Dweb%22%5D%7D HTTP/1.1");
	assert_string_equal(f.line[5], "GET /v1.41/tasks?filters=%7B%22label%22%3A%5B%22"
	                    "prescal.managed%3Dtrue%22%2C%22prescal.name%3Dweb%22%5D%2C%22service"
	                    "%22%3A%5B%22" SVC_FX "%22%5D%7D HTTP/1.1");
	assert_string_equal(f.line[6], "GET /v1.41/nodes HTTP/1.1");
}

/* swarm_assess: pure */

static void
task(struct swarm_task *t, const char *svc, const char *node, const char *state,
     const char *desired, const char *addr, long long version)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->id, sizeof(t->id), "t-%s-%lld", svc, version);
	snprintf(t->service, sizeof(t->service), "%s", svc);
	snprintf(t->node, sizeof(t->node), "%s", node);
	snprintf(t->state, sizeof(t->state), "%s", state);
	snprintf(t->desired, sizeof(t->desired), "%s", desired);
	snprintf(t->addr, sizeof(t->addr), "%s", addr);
	t->version = version;
}

static void
expect(const struct swarm_assessment *a, const char *svc, enum swarm_verdict v,
       enum swarm_reason r, const char *addr)
{
	if (a->verdict != v || a->reason != r)
		fail_msg("%s: %s (%s), want %s (%s)", svc, swarm_verdict_str[a->verdict],
		         swarm_reason_str[a->reason], swarm_verdict_str[v], swarm_reason_str[r]);
	assert_string_equal(a->addr, addr);
}

/* nine instances over three nodes; then n2 goes down, then n1 drains */
static void
test_assess_three_nodes(void **state)
{
	struct swarm_node nd[3] = {
		{ .id = "n1", .hostname = "a", .ready = 1, .active = 1 },
		{ .id = "n2", .hostname = "b", .ready = 1, .active = 1 },
		{ .id = "n3", .hostname = "c", .ready = 1, .active = 1 },
	};
	struct swarm_service sv[9];
	struct swarm_task t[12];
	struct swarm_assessment a[9];
	size_t i, nt = 0;

	(void)state;
	memset(sv, 0, sizeof(sv));
	for (i = 0; i < LEN(sv); i++)
		snprintf(sv[i].id, sizeof(sv[i].id), "s%zu", i + 1);
	task(&t[nt++], "s1", "n1", "running", "running", "10.0.1.11", 20);
	task(&t[nt++], "s2", "n2", "running", "running", "10.0.1.12", 21);
	task(&t[nt++], "s3", "n3", "failed", "shutdown", "10.0.1.13", 22);  /* killed */
	task(&t[nt++], "s4", "n3", "preparing", "running", "10.0.1.14", 23);
	/* s5: created a moment ago, no task yet */
	task(&t[nt++], "s6", "n3", "rejected", "shutdown", "", 10);         /* an old one */
	task(&t[nt++], "s6", "n3", "running", "running", "10.0.1.16", 30);
	task(&t[nt++], "s7", "n9", "running", "running", "10.0.1.17", 24);  /* node removed */
	task(&t[nt++], "s8", "n1", "running", "running", "", 25);
	task(&t[nt++], "s9", "", "pending", "running", "", 26);             /* no node fits */
	task(&t[nt++], "s2", "n1", "complete", "shutdown", "10.0.1.99", 5);

	swarm_assess(sv, LEN(sv), t, nt, nd, LEN(nd), a);
	expect(&a[0], "s1", SWARM_ROUTE, SWARM_R_NONE, "10.0.1.11");
	expect(&a[1], "s2", SWARM_ROUTE, SWARM_R_NONE, "10.0.1.12");
	expect(&a[2], "s3", SWARM_REPLACE, SWARM_R_TASKENDED, "");
	expect(&a[3], "s4", SWARM_STARTING, SWARM_R_PENDING, "");
	expect(&a[4], "s5", SWARM_STARTING, SWARM_R_NONE, "");
	assert_null(a[4].task);
	expect(&a[5], "s6", SWARM_ROUTE, SWARM_R_NONE, "10.0.1.16");
	assert_ptr_equal(a[5].task, &t[5]);
	expect(&a[6], "s7", SWARM_REPLACE, SWARM_R_NODEDOWN, "");
	expect(&a[7], "s8", SWARM_STARTING, SWARM_R_NOADDR, "");
	expect(&a[8], "s9", SWARM_STARTING, SWARM_R_PENDING, "");

	/* n2 goes down: only s2 changes; its task still says running */
	nd[1].ready = 0;
	swarm_assess(sv, LEN(sv), t, nt, nd, LEN(nd), a);
	expect(&a[1], "s2", SWARM_REPLACE, SWARM_R_NODEDOWN, "");
	assert_ptr_equal(a[1].task, &t[1]);
	expect(&a[0], "s1", SWARM_ROUTE, SWARM_R_NONE, "10.0.1.11");
	expect(&a[5], "s6", SWARM_ROUTE, SWARM_R_NONE, "10.0.1.16");

	/* Swarm then marks the task orphaned, or prescal has replaced it:
	 * the new task on n3 is routed, the old one is history */
	task(&t[nt++], "s2", "n3", "running", "running", "10.0.1.22", 40);
	task(&t[1], "s2", "n2", "orphaned", "shutdown", "10.0.1.12", 41);
	swarm_assess(sv, LEN(sv), t, nt, nd, LEN(nd), a);
	expect(&a[1], "s2", SWARM_ROUTE, SWARM_R_NONE, "10.0.1.22");

	/* n1 is drained: its instances must move (drain first, then remove) */
	nd[0].active = 0;
	nd[0].drain = 1;
	swarm_assess(sv, LEN(sv), t, nt, nd, LEN(nd), a);
	expect(&a[0], "s1", SWARM_REPLACE, SWARM_R_NODEDRAIN, "");
	expect(&a[7], "s8", SWARM_REPLACE, SWARM_R_NODEDRAIN, "");
	expect(&a[5], "s6", SWARM_ROUTE, SWARM_R_NONE, "10.0.1.16");
	/* paused (not drained): keeps serving, gets no new tasks */
	nd[0].drain = 0;
	swarm_assess(sv, LEN(sv), t, nt, nd, LEN(nd), a);
	expect(&a[0], "s1", SWARM_ROUTE, SWARM_R_NONE, "10.0.1.11");
}

/* live: a one-node swarm on this machine */

#define IMAGE    "prescal-test-backend:latest"
#define WAIT_MS  60000   /* for a task to run, or to go */

struct live {
	struct docker *d;
	char net[64];
	int ownnet;            /* the test made net: it removes it */
	char probe[64];        /* helper container on net */
	long probepid;
	char name[64], app[64];
	char id[SWARM_IDLEN];
};

static struct live live;

/* a swarm call that must return want, else its error text */
#define CALL(l, call, want) do { \
	long r_ = (call); \
	if (r_ != (want)) \
		fail_msg("%s = %ld: %s", #call, r_, docker_error((l)->d)); \
} while (0)

/* runs a shell command, output to stderr. Returns its exit status or -1 */
static int
sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	return r == -1 || !WIFEXITED(r) ? -1 : WEXITSTATUS(r);
}

/* runs a command and reads the first line of its output. Returns 0, -1 */
static int
sh_line(char *out, size_t n, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	FILE *p;
	int ok;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	out[0] = '\0';
	if (!(p = popen(cmd, "r")))
		return -1;
	ok = fgets(out, n, p) != NULL;
	pclose(p);
	out[strcspn(out, "\n")] = '\0';
	return ok && out[0] ? 0 : -1;
}

/* 1 if this node is an active swarm manager */
static int
manager(struct docker *d)
{
	struct json_val v;
	const char *js;
	size_t n;

	if (docker_request(d, "GET", DOCKER_API "/info", NULL, &js, &n) != 200)
		return 0;
	return json_get(js, n, "Swarm.LocalNodeState", &v) == 1 && json_streq(&v, "active") &&
	       json_get(js, n, "Swarm.ControlAvailable", &v) == 1 && json_bool(&v) == 1;
}

static int
live_setup(void **state)
{
	const char *net = getenv("PRESCAL_SWARM_NET");
	const char *req = getenv("PRESCAL_REQUIRE_DOCKER");
	int pid = (int)getpid(), i;
	char s[32];

	*state = &live;
	memset(&live, 0, sizeof(live));
	snprintf(live.name, sizeof(live.name), "hswarm-svc-%d", pid);
	snprintf(live.app, sizeof(live.app), "hswarm-%d", pid);
	snprintf(live.probe, sizeof(live.probe), "hswarm-probe-%d", pid);
	if (!getenv("PRESCAL_SWARM") || strcmp(getenv("PRESCAL_SWARM"), "1") != 0) {
		fprintf(stderr, "\n*** SKIPPED: the live swarm test needs PRESCAL_SWARM=1 "
		        "(and this node a swarm manager: see .ci/run) ***\n\n");
		return 0;
	}
	if (!(live.d = docker_open(docker_default_socket(), 10000)))
		return -1;
	/* after a dockerd restart (chaos_test) the manager takes a moment */
	for (i = 0; i < 100 && !manager(live.d); i++)
		usleep(200000);
	if (!manager(live.d)) {
		if (req && strcmp(req, "1") == 0) {
			fprintf(stderr, "swarm_test: PRESCAL_SWARM=1 and PRESCAL_REQUIRE_DOCKER=1, "
			        "but this node is not an active swarm manager: %s\n",
			        docker_error(live.d));
			return -1;
		}
		fprintf(stderr, "\n*** SKIPPED: PRESCAL_SWARM=1 but this node is not an "
		        "active swarm manager ***\n\n");
		docker_close(live.d);
		live.d = NULL;
		return 0;
	}
	if (sh("sh tests/mkimage.sh >&2") != 0)
		return -1;
	if (net && net[0]) {
		snprintf(live.net, sizeof(live.net), "%s", net);
	} else {
		snprintf(live.net, sizeof(live.net), "hswarm-net-%d", pid);
		if (sh("docker network create -d overlay --attachable --label hswarm=1 %s > /dev/null",
		       live.net) != 0)
			return -1;
		live.ownnet = 1;
	}
	if (sh("docker run -d --name %s --label hswarm=1 --network %s " IMAGE " > /dev/null",
	       live.probe, live.net) != 0)
		return -1;
	if (sh_line(s, sizeof(s), "docker inspect -f '{{.State.Pid}}' %s", live.probe) < 0 ||
	    parse_int(s, 1, 1 << 30, &live.probepid) < 0)
		return -1;
	return 0;
}

/* removes what the test made, whatever happened */
static int
live_teardown(void **state)
{
	int i;

	(void)state;
	if (!live.d)
		return 0;
	sh("docker service rm %s > /dev/null 2>&1", live.name);
	sh("docker rm -f %s > /dev/null 2>&1", live.probe);
	/* the network goes once the task containers have left it */
	for (i = 0; live.ownnet && i < 120; i++) {
		if (sh("docker network rm %s > /dev/null 2>&1", live.net) == 0)
			break;
		usleep(250000);
	}
	docker_close(live.d);
	live.d = NULL;
	return 0;
}

/* the verdict on the service once it is v (or the deadline passed) */
static struct swarm_assessment
await(struct live *l, enum swarm_verdict v, struct swarm_task *t, size_t nt)
{
	struct swarm_service svc = { 0 };
	struct swarm_node nd[8];
	struct swarm_assessment a = { 0 };
	int64_t end = now_ms() + WAIT_MS;
	size_t n, nn;

	snprintf(svc.id, sizeof(svc.id), "%s", l->id);
	while (now_ms() < end) {
		if (swarm_tasks(l->d, l->app, l->id, l->net, t, nt, &n) < 0 ||
		    swarm_nodes(l->d, nd, LEN(nd), &nn) < 0)
			fail_msg("swarm: %s", docker_error(l->d));
		swarm_assess(&svc, 1, t, n, nd, nn, &a);
		if (a.verdict == v)
			return a;
		usleep(50000);
	}
	fail_msg("service %s: still %s (%s) after %d ms, want %s", l->name,
	         swarm_verdict_str[a.verdict], swarm_reason_str[a.reason], WAIT_MS,
	         swarm_verdict_str[v]);
	return a;
}

/* GET / at addr:8080 from inside the probe's network namespace, retried
 * until it answers. Returns the ms it took */
static int64_t
answer(struct live *l, const char *addr, char *out, size_t n)
{
	int64_t t0 = now_ms();

	while (now_ms() - t0 < 10000) {
		if (sh_line(out, n, "nsenter -t %ld -n curl -s --max-time 2 http://%s:8080/",
		            l->probepid, addr) == 0)
			return now_ms() - t0;
		usleep(50000);
	}
	fail_msg("no answer from %s:8080 on %s within 10 s", addr, l->net);
	return -1;
}

static void
test_live(void **state)
{
	struct live *l = *state;
	const char *env[] = { "PORT=8080" };
	struct swarm_spec s = {
		.name = l->name, .app = l->app, .image = IMAGE, .port = 8080,
		.network = l->net, .env = env, .nenv = 1, .replicas = 1,
	};
	struct swarm_service svc[2];
	struct swarm_task t[8];
	struct swarm_assessment a;
	char out[256], first[SWARM_IDLEN];
	int64_t t0, route, http;
	long long v0;
	size_t n, nt;
	int tries;

	if (!l->d)
		skip();
	/* create to first answer */
	t0 = now_ms();
	if (swarm_create(l->d, &s, l->id) < 0)
		fail_msg("create: %s", docker_error(l->d));
	a = await(l, SWARM_ROUTE, t, LEN(t));
	route = now_ms() - t0;
	snprintf(first, sizeof(first), "%s", a.task->id);
	http = answer(l, a.addr, out, sizeof(out));
	assert_non_null(strstr(out, "hello from "));
	print_message("    service create to routable %lld ms, to first answer %lld ms (%s: %s)\n",
	              (long long)route, (long long)(route + http), a.addr, out);

	/* listed by its app's labels */
	CALL(l, swarm_services(l->d, l->app, svc, LEN(svc), &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(svc[0].id, l->id);
	assert_string_equal(svc[0].app, l->app);
	assert_string_equal(svc[0].image, IMAGE);
	assert_int_equal(svc[0].port, 8080);
	assert_int_equal(svc[0].replicas, 1);

	/* update, then again with the version that is stale now */
	CALL(l, swarm_inspect(l->d, l->id, &svc[0]), 0);
	v0 = svc[0].version;
	s.force = 1;
	if (swarm_update(l->d, l->id, v0, &s, &tries) < 0)
		fail_msg("update: %s", docker_error(l->d));
	assert_int_equal(tries, 1);
	s.force = 2;
	if (swarm_update(l->d, l->id, v0, &s, &tries) < 0)
		fail_msg("stale update: %s", docker_error(l->d));
	assert_int_equal(tries, 2);
	CALL(l, swarm_inspect(l->d, l->id, &svc[0]), 0);
	assert_true(svc[0].version > v0);
	print_message("    update with stale version %lld: retried, %d attempts, now %lld\n",
	              v0, tries, svc[0].version);

	/* ForceUpdate replaced the task: routed to the new one once it runs */
	t0 = now_ms();
	do
		a = await(l, SWARM_ROUTE, t, LEN(t));
	while (strcmp(a.task->id, first) == 0 && now_ms() - t0 < WAIT_MS && usleep(50000) == 0);
	assert_string_not_equal(a.task->id, first);
	answer(l, a.addr, out, sizeof(out));
	assert_non_null(strstr(out, "hello from "));

	/* its container killed: the task fails and stays failed; replace it */
	if (sh("docker kill %s > /dev/null", a.task->container) != 0)
		fail_msg("docker kill %s failed", a.task->container);
	a = await(l, SWARM_REPLACE, t, LEN(t));
	assert_int_equal(a.reason, SWARM_R_TASKENDED);

	/* removed: no service, no task, no container left */
	CALL(l, swarm_remove(l->d, l->id), 0);
	CALL(l, swarm_remove(l->d, l->id), 0);  /* 404: already gone */
	t0 = now_ms();
	for (;;) {
		CALL(l, swarm_services(l->d, l->app, svc, LEN(svc), &n), 0);
		CALL(l, swarm_tasks(l->d, l->app, NULL, l->net, t, LEN(t), &nt), 0);
		if (n == 0 && nt == 0 && sh_line(out, sizeof(out), "docker ps -aq --filter "
		    "label=com.docker.swarm.service.id=%s", l->id) < 0)
			break;
		if (now_ms() - t0 > WAIT_MS)
			fail_msg("service %s: %zu services, %zu tasks or a container left after "
			         "%d ms", l->id, n, nt, WAIT_MS);
		usleep(100000);
	}
	print_message("    removed: nothing left after %lld ms\n", (long long)(now_ms() - t0));
}

/*
 * prescal itself with driver swarm: its own FROM scratch image (make
 * prescal-static) on the overlay network with the socket mounted and only
 * its listener published on 127.0.0.1, named hdrv-*. Scale from zero,
 * scale up under load with a task's container killed (0 failed), drain
 * and scale down under light load (0 failed), SIGKILL and a new prescal
 * adopts (no duplicates), SIGTERM removes every service. Requests go only
 * to 127.0.0.1.
 */
struct pscal {
	char app[64], ctr[64], img[96], conf[64];
	int port;
};

static struct pscal ps;

static int pscal_run1(void);

static int
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sl) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == 0)
		port = ntohs(sin.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* runs prescal's container, again if the daemon does not find the
 * overlay network at once (it may not be on this node a moment after the
 * last container left it) */
static int
pscal_run(void)
{
	for (int i = 0; i < 5; i++, sh("docker rm -f %s > /dev/null 2>&1", ps.ctr), sleep(1))
		if (pscal_run1() == 0)
			return 0;
	return -1;
}

static int
pscal_run1(void)
{
	return sh("docker run -d --name %s --label hdrv=1 --network %s -p 127.0.0.1:%d:8080 "
	          "-v %s:/var/run/docker.sock -v %s:/p.conf:ro %s -f /p.conf -l 0.0.0.0:8080 "
	          "-a off -i " IMAGE " -p 8080 -n %s > /dev/null", ps.ctr, live.net, ps.port,
	          docker_default_socket(), ps.conf, ps.img, ps.app);
}

/* the app's services now, or -1 */
static int
nservices(void)
{
	char out[32];
	long n;

	if (sh_line(out, sizeof(out), "docker service ls -q --filter label=prescal.name=%s | "
	            "wc -l", ps.app) < 0 || parse_int(out, 0, 1000, &n) < 0)
		return -1;
	return (int)n;
}

/* lines of prescal's log with s in them */
static int
logged(const char *s)
{
	char out[32];
	long n;

	if (sh_line(out, sizeof(out), "docker logs %s 2>&1 | grep -cF '%s'", ps.ctr, s) < 0 ||
	    parse_int(out, 0, 1000000, &n) < 0)
		return 0;
	return (int)n;
}

static int
pscal_setup(void **state)
{
	int pid = (int)getpid();
	char dir[] = "/tmp/hdrv-img-XXXXXX";
	const char *net = getenv("PRESCAL_SWARM_NET");
	char path[64];
	FILE *f;

	*state = &live;
	memset(&live, 0, sizeof(live));
	if (!getenv("PRESCAL_SWARM") || strcmp(getenv("PRESCAL_SWARM"), "1") != 0 ||
	    !(live.d = docker_open(docker_default_socket(), 10000)) || !manager(live.d)) {
		fprintf(stderr, "\n*** SKIPPED: prescal with driver swarm needs PRESCAL_SWARM=1 and "
		        "this node a swarm manager ***\n\n");
		docker_close(live.d);
		live.d = NULL;
		return 0;
	}
	if (sh("sh tests/mkimage.sh >&2") != 0)
		return -1;
	/* the network's name goes into the configuration; made last, since a
	 * failed setup has no teardown */
	if (net && net[0])
		snprintf(live.net, sizeof(live.net), "%s", net);
	else
		snprintf(live.net, sizeof(live.net), "hdrv-net-%d", pid);
	snprintf(ps.app, sizeof(ps.app), "hdrv-%d", pid);
	snprintf(ps.ctr, sizeof(ps.ctr), "hdrv-prescal-%d", pid);
	snprintf(ps.img, sizeof(ps.img), "hdrv-prescal-%d:latest", pid);
	snprintf(ps.conf, sizeof(ps.conf), "/tmp/hdrv-conf-%d", pid);
	if (sh("make -s prescal-static >&2") != 0) {
		fprintf(stderr, "\n*** SKIPPED: make prescal-static failed (musl-gcc?) ***\n\n");
		docker_close(live.d);
		live.d = NULL;
		return 0;
	}
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/Dockerfile", dir);
	if (!(f = fopen(path, "w")))
		return -1;
	fprintf(f, "FROM scratch\nCOPY prescal /prescal\nENTRYPOINT [\"/prescal\"]\n");
	fclose(f);
	if (sh("cp prescal-static %s/prescal && DOCKER_BUILDKIT=0 docker build -q -t %s %s "
	       "> /dev/null 2>&1; r=$?; rm -rf %s; exit $r", dir, ps.img, dir, dir) != 0)
		return -1;
	if (!(f = fopen(ps.conf, "w")))
		return -1;
	fprintf(f, "pull never\ndriver swarm\nnetwork %s\nmin 0\nmax 3\ntarget 2\n"
	        "constraint node.role==manager\nscale_down_delay 5000\nidle_timeout 60000\n"
	        "start_timeout 30000\n", live.net);
	fclose(f);
	chmod(ps.conf, 0644);
	if ((ps.port = free_port()) < 0)
		return -1;
	if (!(net && net[0])) {
		if (sh("docker network create -d overlay --attachable --label hdrv=1 %s > /dev/null",
		       live.net) != 0)
			return -1;
		live.ownnet = 1;
	}
	return 0;
}

static int
pscal_teardown(void **state)
{
	if (live.d) {
		/* its log, for a failure's post-mortem */
		sh("docker logs %s > /tmp/hdrv-prescal.log 2>&1", ps.ctr);
		sh("docker rm -f %s > /dev/null 2>&1", ps.ctr);
		sh("docker service ls -q --filter label=prescal.name=%s | xargs -r docker service rm "
		   "> /dev/null 2>&1", ps.app);
		sh("docker rmi %s > /dev/null 2>&1", ps.img);
		unlink(ps.conf);
	}
	return live_teardown(state);
}

/* clients loops of GET path for secs seconds at most (until load_stop),
 * status codes into file */
struct loadgen {
	int clients, secs;
	const char *path;
	char file[64];
	pthread_t t;
};

static void *
load_run(void *arg)
{
	struct loadgen *g = arg;

	sh("rm -f %s %s.stop; for c in $(seq %d); do (end=$(($(date +%%s) + %d)); "
	   "while [ $(date +%%s) -lt $end ] && [ ! -e %s.stop ]; do curl -s -o /dev/null "
	   "-w '%%{http_code}\\n' -m 20 http://127.0.0.1:%d%s; done >> %s) & done; wait",
	   g->file, g->file, g->clients, g->secs, g->file, ps.port, g->path, g->file);
	return NULL;
}

static void
load_start(struct loadgen *g, int clients, int secs, const char *path)
{
	g->clients = clients;
	g->secs = secs;
	g->path = path;
	snprintf(g->file, sizeof(g->file), "/tmp/hdrv-load-%d", (int)getpid());
	if (pthread_create(&g->t, NULL, load_run, g) != 0)
		fail_msg("pthread_create");
}

static void
load_stop(struct loadgen *g)
{
	sh("touch %s.stop", g->file);
}

/* joins; sets *sent and returns how many were not 200 */
static long
load_join(struct loadgen *g, long *sent)
{
	char out[32];
	long bad = -1;

	pthread_join(g->t, NULL);
	if (sh_line(out, sizeof(out), "wc -l < %s", g->file) < 0 || parse_int(out, 0, 1 << 30, sent) < 0 ||
	    sh_line(out, sizeof(out), "grep -vcx 200 %s", g->file) < 0 ||
	    parse_int(out, 0, 1 << 30, &bad) < 0)
		fail_msg("no load results in %s", g->file);
	if (bad)
		sh("sort %s | uniq -c >&2", g->file);
	sh("rm -f %s %s.stop", g->file, g->file);
	return bad;
}

static void
test_prescal_swarm(void **state)
{
	struct loadgen g;
	char out[256], victim[256], times[256];
	long sent, bad;
	int64_t t0;
	int i, n, peak = 0;

	(void)state;
	if (!live.d)
		skip();
	if (pscal_run() != 0)
		fail_msg("docker run %s", ps.img);
	/* from zero: the first request is held until a service's task answers */
	for (i = 0; i < 100 && !logged("listening on"); i++)
		usleep(100000);
	usleep(200000);  /* docker-proxy */
	t0 = now_ms();
	if (sh_line(out, sizeof(out), "curl -s -m 60 http://127.0.0.1:%d/", ps.port) < 0 ||
	    !strstr(out, "hello from "))
		fail_msg("no answer from zero: '%s'", out);
	print_message("    from zero: first answer in %lld ms (%s)\n", (long long)(now_ms() - t0), out);
	assert_int_equal(nservices(), 1);
	assert_true(logged(" ready on 10.") == 1);
	/* the constraint passed through */
	if (sh_line(out, sizeof(out), "docker service inspect -f "
	            "'{{.Spec.TaskTemplate.Placement.Constraints}}' %s-1", ps.app) < 0 ||
	    strcmp(out, "[node.role==manager]"))
		fail_msg("constraints of %s-1: '%s'", ps.app, out);

	/* up under load; one task's container killed meanwhile */
	load_start(&g, 8, 60, "/slow?ms=100");
	/* the kill comes once two more are ready: one alone loses its requests */
	for (i = 0; i < 300 && logged(" ready on ") < 3; i++)
		usleep(100000);
	sleep(1);
	/* a ready instance's task container: the last one ready and not
	 * removed since */
	if (sh_line(victim, sizeof(victim), "l=$(docker logs %s 2>&1); for n in $(echo \"$l\" | "
	            "grep -o 'instance [^ ]* ready on' | cut -d' ' -f2 | tac); do echo \"$l\" | "
	            "grep -q \"instance $n remov\\|instance $n .*: removing\" || { echo $n; break; }; "
	            "done", ps.ctr) < 0)
		fail_msg("no ready instance to kill");
	snprintf(out, sizeof(out), "%s", victim);
	if (sh_line(victim, sizeof(victim), "docker ps -q --filter "
	            "label=com.docker.swarm.service.name=%s", out) < 0)
		fail_msg("no task container of %s to kill", out);
	sh("docker kill %s > /dev/null", victim);
	snprintf(victim, sizeof(victim), "%s", out);
	for (i = 0; i < 40; i++, usleep(100000))
		peak = MAX(peak, nservices());
	load_stop(&g);
	bad = load_join(&g, &sent);
	/* taken out by the look its death prompted or by the passive health
	 * checks, whichever sees it first */
	snprintf(out, sizeof(out), "instance %.80s died (task ended", victim);
	n = logged(out);
	snprintf(out, sizeof(out), "instance %.80s failed its health checks", victim);
	print_message("    up under load: %d services at most; a task killed; %ld sent, %ld failed; "
	              "removed as died %d, by health checks %d\n", peak, sent, bad, n, logged(out));
	if (n + logged(out) != 1)
		sh("docker logs %s > /tmp/hdrv-prescal-1.log 2>&1", ps.ctr);
	/* create to ready, each instance so far (the first: from zero) */
	sh_line(times, sizeof(times), "docker logs %s 2>&1 | grep ' ready on ' | "
	        "sed 's/.* in //' | tr '\\n' ' '", ps.ctr);
	print_message("    create to ready: %s\n", times);
	assert_int_equal(bad, 0);
	assert_true(peak >= 2);
	assert_int_equal(n + logged(out), 1);

	/* light load: scale down by draining, nothing lost */
	load_start(&g, 1, 12, "/");
	bad = load_join(&g, &sent);
	n = nservices();
	print_message("    scale down under light load: %ld sent, %ld failed; %d services, %d drained\n",
	              sent, bad, n, logged("removed (drained in"));
	assert_int_equal(bad, 0);
	assert_true(logged("removed (drained in") >= 1);

	/* SIGKILL, a new prescal: it adopts what runs, starts nothing */
	sh("docker logs %s > /tmp/hdrv-prescal-1.log 2>&1; docker kill %s > /dev/null; "
	   "docker rm %s > /dev/null", ps.ctr, ps.ctr, ps.ctr);
	n = nservices();
	if (pscal_run() != 0)
		fail_msg("docker run %s again", ps.img);
	for (i = 0; i < 100 && sh("curl -s -o /dev/null -m 1 http://127.0.0.1:%d/", ps.port); i++)
		usleep(100000);
	sleep(1);
	print_message("    restart: %d services before, %d after, %d adopted\n", n, nservices(),
	              logged("adopting instance"));
	assert_int_equal(logged("adopting instance"), n);
	assert_int_equal(nservices(), n);
	assert_int_equal(logged("scale up"), 0);

	/* a service removed outside prescal: its remove event prompts a look */
	if (sh_line(victim, sizeof(victim), "docker service ls -q --filter label=prescal.name=%s | "
	            "head -1", ps.app) < 0)
		fail_msg("no service left to remove");
	t0 = now_ms();
	sh("docker service rm %s > /dev/null", victim);
	for (i = 0; i < 100 && !logged("was removed outside prescal"); i++)
		usleep(50000);
	print_message("    a service removed outside prescal: taken out after %lld ms\n",
	              (long long)(now_ms() - t0));
	assert_int_equal(logged("was removed outside prescal"), 1);

	/* SIGTERM: every service goes */
	sh("docker stop -t 30 %s > /dev/null", ps.ctr);
	print_message("    after SIGTERM: %d services\n", nservices());
	assert_int_equal(nservices(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_service),
		cmocka_unit_test(test_parse_tasks),
		cmocka_unit_test(test_parse_nodes),
		cmocka_unit_test(test_create_request),
		cmocka_unit_test(test_update_retry),
		cmocka_unit_test(test_update_bounded),
		cmocka_unit_test(test_remove_list),
		cmocka_unit_test(test_assess_three_nodes),
		cmocka_unit_test_setup_teardown(test_live, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_prescal_swarm, pscal_setup, pscal_teardown),
	};

	if (getenv("INTEG_FILTER"))
		cmocka_set_test_filter(getenv("INTEG_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}

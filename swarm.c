/* See LICENSE file for copyright and license details. */
/* swarm.c: the Swarm services, tasks and nodes API (Engine API 1.41) on
 * docker.c's connection, and swarm_assess(). Replies are read whole by
 * docker_request() (bounded in time and size) and parsed by the pure
 * swarm_parse_* functions. See tests/fixtures/README.md for the
 * transcripts this was written against. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"
#include "json.h"
#include "swarm.h"
#include "util.h"

#define MAXJSON  32768  /* bytes of a service spec we send */
#define MAXQUERY 2048   /* bytes of a request target */

const char *const swarm_verdict_str[NUM_SWARM_VERDICT] = {
	[SWARM_STARTING] = "starting",
	[SWARM_ROUTE] = "route",
	[SWARM_REPLACE] = "replace",
};

const char *const swarm_reason_str[NUM_SWARM_REASON] = {
	[SWARM_R_NONE] = "",
	[SWARM_R_PENDING] = "task pending",
	[SWARM_R_NOADDR] = "no address on the network",
	[SWARM_R_STOPPING] = "task stopping",
	[SWARM_R_TASKENDED] = "task ended",
	[SWARM_R_NODEDOWN] = "node down",
	[SWARM_R_NODEDRAIN] = "node draining",
};

/* checks: names and ids are config or daemon data */



/* reads the integer at path into *out. Returns 1, 0 if absent, -1 */
static int
jint(const char *js, size_t n, const char *path, long long *out)
{
	struct json_val v;
	int r;

	if ((r = json_get(js, n, path, &v)) != 1)
		return r;
	return json_int(&v, out) < 0 ? -1 : 1;
}

/* control bytes of daemon text become '?' (one log line) */
static void
printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* percent-encodes s (all but RFC 3986 unreserved) into out[n] */
static int
qenc(const char *s, char *out, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t k = 0;

	for (; *s; s++) {
		if (k + 4 > n)
			return -1;
		if (strchr("-._~", *s) || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9')) {
			out[k++] = *s;
			continue;
		}
		out[k++] = '%';
		out[k++] = hex[(unsigned char)*s >> 4];
		out[k++] = hex[*s & 15];
	}
	out[k] = '\0';
	return 0;
}

/* parsing: pure */

int
swarm_parse_service(const char *js, size_t n, struct swarm_service *svc)
{
	char port[16];
	long p;
	int r;

	memset(svc, 0, sizeof(*svc));
	svc->replicas = -1;
	if (json_get_str(js, n, "ID", svc->id, sizeof(svc->id)) != 1 ||
	    jint(js, n, "Version.Index", &svc->version) != 1 ||
	    json_get_str(js, n, "Spec.Name", svc->name, sizeof(svc->name)) < 0 ||
	    json_get_str(js, n, "Spec.Labels[\"prescal.name\"]", svc->app, sizeof(svc->app)) < 0 ||
	    json_get_str(js, n, "Spec.Labels[\"prescal.port\"]", port, sizeof(port)) < 0 ||
	    jint(js, n, "Spec.Mode.Replicated.Replicas", &svc->replicas) < 0 ||
	    (r = json_get_str(js, n, "Spec.Labels[\"prescal.image\"]", svc->image,
	              sizeof(svc->image))) < 0 ||
	    (r == 0 && json_get_str(js, n, "Spec.TaskTemplate.ContainerSpec.Image", svc->image,
	                    sizeof(svc->image)) < 0))
		return -1;
	if (port[0] && parse_int(port, 1, 65535, &p) == 0)
		svc->port = (int)p;
	return 0;
}

/* the address of a task on network: "10.0.1.5/24" -> "10.0.1.5" */
static int
taskaddr(const char *js, size_t n, const char *network, char *out, size_t on)
{
	struct json_val arr, e;
	char id[SWARM_IDLEN], name[128], a[64], *slash;
	size_t pos = 0;
	int r;

	out[0] = '\0';
	if (!network || (r = json_get(js, n, "NetworksAttachments", &arr)) == 0)
		return 0;
	if (r < 0 || arr.type != JSON_ARRAY)
		return -1;
	while ((r = json_array_next(&arr, &pos, &e)) == 1) {
		if (json_get_str(e.s, e.n, "Network.ID", id, sizeof(id)) < 0 ||
		    json_get_str(e.s, e.n, "Network.Spec.Name", name, sizeof(name)) < 0)
			return -1;
		if (strcmp(id, network) != 0 && strcmp(name, network) != 0)
			continue;
		if (json_get_str(e.s, e.n, "Addresses[0]", a, sizeof(a)) < 0)
			return -1;
		if ((slash = strchr(a, '/')))
			*slash = '\0';
		if (strlen(a) >= on)
			return -1;
		memcpy(out, a, strlen(a) + 1);
		return 0;
	}
	return r;
}

static int
taskentry(const char *js, size_t n, const char *network, struct swarm_task *t)
{
	char err[1024];

	memset(t, 0, sizeof(*t));
	if (json_get_str(js, n, "ID", t->id, sizeof(t->id)) != 1 ||
	    json_get_str(js, n, "ServiceID", t->service, sizeof(t->service)) != 1 ||
	    json_get_str(js, n, "NodeID", t->node, sizeof(t->node)) < 0 ||
	    json_get_str(js, n, "Status.State", t->state, sizeof(t->state)) != 1 ||
	    json_get_str(js, n, "DesiredState", t->desired, sizeof(t->desired)) != 1 ||
	    json_get_str(js, n, "Status.ContainerStatus.ContainerID", t->container,
	         sizeof(t->container)) < 0 ||
	    jint(js, n, "Version.Index", &t->version) < 0 ||
	    taskaddr(js, n, network, t->addr, sizeof(t->addr)) < 0)
		return -1;
	if (json_get_str(js, n, "Status.Err", err, sizeof(err)) < 0)
		snprintf(err, sizeof(err), "(unreadable)");
	snprintf(t->err, sizeof(t->err), "%.255s", err);
	printable(t->err);
	return 0;
}

static int
nodeentry(const char *js, size_t n, struct swarm_node *nd)
{
	char st[32], av[32];

	memset(nd, 0, sizeof(*nd));
	if (json_get_str(js, n, "ID", nd->id, sizeof(nd->id)) != 1 ||
	    json_get_str(js, n, "Description.Hostname", nd->hostname, sizeof(nd->hostname)) < 0 ||
	    json_get_str(js, n, "Status.State", st, sizeof(st)) != 1 ||
	    json_get_str(js, n, "Spec.Availability", av, sizeof(av)) != 1)
		return -1;
	printable(nd->hostname);
	nd->ready = strcmp(st, "ready") == 0;
	nd->active = strcmp(av, "active") == 0;
	nd->drain = strcmp(av, "drain") == 0;
	return 0;
}

enum { L_SERVICES, L_TASKS, L_NODES };

/* walks a JSON array of services, tasks or nodes into out */
static int
parselist(const char *js, size_t n, int what, const char *network, void *out, size_t max,
          size_t *nout)
{
	struct json_val arr, e;
	size_t pos = 0;
	int r;

	*nout = 0;
	if (json_get(js, n, "", &arr) != 1 || arr.type != JSON_ARRAY)
		return -1;
	while ((r = json_array_next(&arr, &pos, &e)) == 1) {
		if (*nout == max)
			return 1;
		if (what == L_SERVICES)
			r = swarm_parse_service(e.s, e.n, (struct swarm_service *)out + *nout);
		else if (what == L_TASKS)
			r = taskentry(e.s, e.n, network, (struct swarm_task *)out + *nout);
		else
			r = nodeentry(e.s, e.n, (struct swarm_node *)out + *nout);
		if (r < 0)
			break;
		(*nout)++;
	}
	if (r < 0)
		*nout = 0;
	return r < 0 ? -1 : 0;
}

int
swarm_parse_services(const char *js, size_t n, struct swarm_service *out, size_t max,
                     size_t *nout)
{
	return parselist(js, n, L_SERVICES, NULL, out, max, nout);
}

int
swarm_parse_tasks(const char *js, size_t n, const char *network, struct swarm_task *out,
                  size_t max, size_t *nout)
{
	return parselist(js, n, L_TASKS, network, out, max, nout);
}

int
swarm_parse_nodes(const char *js, size_t n, struct swarm_node *out, size_t max, size_t *nout)
{
	return parselist(js, n, L_NODES, NULL, out, max, nout);
}

/* requests */

static void
labels(struct json_w *w, const struct swarm_spec *s)
{
	char port[16];

	snprintf(port, sizeof(port), "%d", s->port);
	json_w_key(w, "Labels");
	json_w_open(w, '{');
	json_w_key(w, "prescal.managed");
	json_w_str(w, "true");
	json_w_key(w, "prescal.name");
	json_w_str(w, s->app);
	json_w_key(w, "prescal.image");
	json_w_str(w, s->image);
	json_w_key(w, "prescal.port");
	json_w_str(w, port);
	json_w_close(w);
}

static void
strings(struct json_w *w, const char *key, const char *const *v, size_t n)
{
	size_t i;

	json_w_key(w, key);
	json_w_open(w, '[');
	for (i = 0; i < n; i++)
		json_w_str(w, v[i]);
	json_w_close(w);
}

/* the TaskTemplate: restart condition none, so that a task that ends stays
 * ended and prescal, not Swarm, decides what replaces it */
static void
template(struct json_w *w, const struct swarm_spec *s)
{
	json_w_key(w, "TaskTemplate");
	json_w_open(w, '{');
	json_w_key(w, "ContainerSpec");
	json_w_open(w, '{');
	json_w_key(w, "Image");
	json_w_str(w, s->image);
	labels(w, s);
	strings(w, "Env", s->env, s->nenv);
	json_w_close(w);
	json_w_key(w, "Resources");
	json_w_open(w, '{');
	json_w_key(w, "Reservations");
	json_w_open(w, '{');
	json_w_key(w, "NanoCPUs");
	json_w_int(w, s->nanocpus);
	json_w_key(w, "MemoryBytes");
	json_w_int(w, s->membytes);
	json_w_close(w);
	json_w_close(w);
	json_w_key(w, "RestartPolicy");
	json_w_open(w, '{');
	json_w_key(w, "Condition");
	json_w_str(w, "none");
	json_w_close(w);
	json_w_key(w, "Placement");
	json_w_open(w, '{');
	strings(w, "Constraints", s->constraints, s->nconstraints);
	json_w_close(w);
	json_w_key(w, "Networks");
	json_w_open(w, '[');
	json_w_open(w, '{');
	json_w_key(w, "Target");
	json_w_str(w, s->network);
	json_w_close(w);
	json_w_close(w);
	json_w_key(w, "ForceUpdate");
	json_w_int(w, s->force);
	json_w_close(w);
}

/* the service spec of s as JSON into buf[cap]. Returns 0 or -1 */
static int
specbody(const struct swarm_spec *s, char *buf, size_t cap)
{
	struct json_w w;

	json_w_init(&w, buf, cap);
	json_w_open(&w, '{');
	json_w_key(&w, "Name");
	json_w_str(&w, s->name);
	labels(&w, s);
	template(&w, s);
	json_w_key(&w, "Mode");
	json_w_open(&w, '{');
	json_w_key(&w, "Replicated");
	json_w_open(&w, '{');
	json_w_key(&w, "Replicas");
	json_w_int(&w, s->replicas);
	json_w_close(&w);
	json_w_close(&w);
	/* dnsrr: no virtual IP, no IPVS (this kernel has none); prescal
	 * reaches each task at its own address */
	json_w_key(&w, "EndpointSpec");
	json_w_open(&w, '{');
	json_w_key(&w, "Mode");
	json_w_str(&w, "dnsrr");
	json_w_close(&w);
	json_w_close(&w);
	return json_w_end(&w) < 0 ? -1 : 0;
}

/* checks s. Returns 0 or -1 with the error set */
static int
checkspec(struct docker *d, const struct swarm_spec *s)
{
	if (!name_valid(s->name, 127))
		return docker_seterror(d, "invalid service name \"%.128s\"", s->name);
	if (!name_valid(s->app, 127))
		return docker_seterror(d, "invalid app name \"%.128s\"", s->app);
	if (!name_valid(s->network, 127))
		return docker_seterror(d, "invalid network name \"%.128s\"", s->network);
	if (!s->image || !s->image[0] || strlen(s->image) > 255)
		return docker_seterror(d, "invalid image name \"%.128s\"", s->image);
	if (s->port < 1 || s->port > 65535 || s->replicas < 0 || s->replicas > 1 ||
	    s->nconstraints > SWARM_MAXCONSTR || s->nanocpus < 0 || s->membytes < 0)
		return docker_seterror(d, "invalid service spec for %.128s", s->name);
	return 0;
}

/* checks s and writes its spec into a new buffer. Returns it or NULL */
static char *
spec(struct docker *d, const struct swarm_spec *s)
{
	char *buf;

	if (checkspec(d, s) < 0)
		return NULL;
	if (!(buf = malloc(MAXJSON))) {
		docker_seterror(d, "out of memory for the spec of %.128s", s->name);
		return NULL;
	}
	if (specbody(s, buf, MAXJSON) < 0) {
		free(buf);
		docker_seterror(d, "service spec of %.128s too large or not UTF-8", s->name);
		return NULL;
	}
	return buf;
}

/* a reply's status st is want. Returns 0, or -1 with the error set (the
 * daemon's message for a status >= 300, set by docker_request()) */
static int
expect(struct docker *d, int st, int want)
{
	if (st == want)
		return 0;
	if (st >= 0 && st < 300)
		docker_seterror(d, "unexpected status %d, want %d", st, want);
	return -1;
}

int
swarm_create(struct docker *d, const struct swarm_spec *s, char id[SWARM_IDLEN])
{
	const char *b;
	char *body;
	size_t n;
	int st;

	id[0] = '\0';
	if (!(body = spec(d, s)))
		return -1;
	st = docker_request(d, "POST", DOCKER_API "/services/create", body, &b, &n);
	free(body);
	if (expect(d, st, 201) < 0)
		return -1;
	if (json_get_str(b, n, "ID", id, SWARM_IDLEN) != 1 || !name_valid(id, 127)) {
		id[0] = '\0';
		return docker_seterror(d, "malformed service create reply for %.128s", s->name);
	}
	return 0;
}

int
swarm_inspect(struct docker *d, const char *id, struct swarm_service *svc)
{
	char target[256];
	const char *b;
	size_t n;

	memset(svc, 0, sizeof(*svc));
	if (!name_valid(id, 127))
		return docker_seterror(d, "invalid service id \"%.128s\"", id);
	snprintf(target, sizeof(target), DOCKER_API "/services/%s", id);
	if (expect(d, docker_request(d, "GET", target, NULL, &b, &n), 200) < 0)
		return -1;
	if (swarm_parse_service(b, n, svc) < 0)
		return docker_seterror(d, "malformed service inspect reply for %.128s", id);
	return 0;
}

int
swarm_update(struct docker *d, const char *id, long long version, const struct swarm_spec *s,
             int *tries)
{
	struct swarm_service svc;
	char target[256], *body;
	const char *b;
	size_t n;
	int i, st = -1;

	if (tries)
		*tries = 0;
	if (!name_valid(id, 127))
		return docker_seterror(d, "invalid service id \"%.128s\"", id);
	if (!(body = spec(d, s)))
		return -1;
	for (i = 1; ; i++) {
		if (tries)
			*tries = i;
		snprintf(target, sizeof(target), DOCKER_API "/services/%s/update?version=%lld", id,
		         version);
		st = docker_request(d, "POST", target, body, &b, &n);
		/* 500, not 409: someone updated it since we read its version */
		if (st != 500 || !strstr(docker_error(d), "update out of sequence") ||
		    i == SWARM_TRIES)
			break;
		if (swarm_inspect(d, id, &svc) < 0) {
			st = -1;
			break;
		}
		version = svc.version;
	}
	free(body);
	return expect(d, st, 200);
}

int
swarm_remove(struct docker *d, const char *id)
{
	char target[256];
	const char *b;
	size_t n;
	int st;

	if (!name_valid(id, 127))
		return docker_seterror(d, "invalid service id \"%.128s\"", id);
	snprintf(target, sizeof(target), DOCKER_API "/services/%s", id);
	st = docker_request(d, "DELETE", target, NULL, &b, &n);
	return st == 404 ? 0 : expect(d, st, 200);
}

/* GET target and parse the array reply */
static int
getlist(struct docker *d, const char *target, int what, const char *network, void *out,
        size_t max, size_t *nout)
{
	const char *b;
	size_t n;
	int r;

	*nout = 0;
	if (expect(d, docker_request(d, "GET", target, NULL, &b, &n), 200) < 0)
		return -1;
	if ((r = parselist(b, n, what, network, out, max, nout)) < 0)
		return docker_seterror(d, "malformed %s list reply", what == L_TASKS ? "task" :
		           what == L_NODES ? "node" : "service");
	return r;
}

/* filters={"label":["prescal.managed=true","prescal.name=<app>"],
 * "service":[<service>]}, percent-encoded; app and service may be NULL */
static int
filters(struct docker *d, const char *app, const char *service, char *out, size_t n)
{
	char js[512], label[160];
	struct json_w w;

	if ((app && !name_valid(app, 127)) || (service && !name_valid(service, 127)))
		return docker_seterror(d, "invalid app or service name \"%.128s\"",
		                       app && !name_valid(app, 127) ? app : service);
	json_w_init(&w, js, sizeof(js));
	json_w_open(&w, '{');
	json_w_key(&w, "label");
	json_w_open(&w, '[');
	json_w_str(&w, "prescal.managed=true");
	if (app) {
		snprintf(label, sizeof(label), "prescal.name=%s", app);
		json_w_str(&w, label);
	}
	json_w_close(&w);
	if (service) {
		json_w_key(&w, "service");
		json_w_open(&w, '[');
		json_w_str(&w, service);
		json_w_close(&w);
	}
	json_w_close(&w);
	if (json_w_end(&w) < 0 || qenc(js, out, n) < 0)
		return docker_seterror(d, "filter too long");
	return 0;
}

int
swarm_services(struct docker *d, const char *app, struct swarm_service *out, size_t max,
               size_t *n)
{
	char target[MAXQUERY], q[MAXQUERY - 64];

	*n = 0;
	if (filters(d, app, NULL, q, sizeof(q)) < 0)
		return -1;
	snprintf(target, sizeof(target), DOCKER_API "/services?filters=%s", q);
	return getlist(d, target, L_SERVICES, NULL, out, max, n);
}

int
swarm_tasks(struct docker *d, const char *app, const char *service, const char *network,
            struct swarm_task *out, size_t max, size_t *n)
{
	char target[MAXQUERY], q[MAXQUERY - 64];
	int r;

	*n = 0;
	if (filters(d, app, service, q, sizeof(q)) < 0)
		return -1;
	snprintf(target, sizeof(target), DOCKER_API "/tasks?filters=%s", q);
	r = getlist(d, target, L_TASKS, network, out, max, n);
	/* a service filter names a service that is gone */
	if (r < 0 && service && docker_status(d) == 404)
		return 0;
	return r;
}

int
swarm_nodes(struct docker *d, struct swarm_node *out, size_t max, size_t *n)
{
	return getlist(d, DOCKER_API "/nodes", L_NODES, NULL, out, max, n);
}

/* the decision: pure */

static int
ended(const char *state)
{
	static const char *const end[] = {
		"complete", "shutdown", "failed", "rejected", "remove", "orphaned",
	};
	size_t i;

	for (i = 0; i < LEN(end); i++)
		if (strcmp(state, end[i]) == 0)
			return 1;
	return 0;
}

static const struct swarm_node *
findnode(const struct swarm_node *nodes, size_t nnodes, const char *id)
{
	size_t i;

	for (i = 0; i < nnodes; i++)
		if (strcmp(nodes[i].id, id) == 0)
			return &nodes[i];
	return NULL;
}

/* the task that speaks for service id: the latest one Swarm wants
 * running, else the latest one at all */
static const struct swarm_task *
current(const char *id, const struct swarm_task *tasks, size_t ntasks)
{
	const struct swarm_task *best = NULL, *t;
	int want, bestwant = 0;
	size_t i;

	for (i = 0; i < ntasks; i++) {
		t = &tasks[i];
		if (strcmp(t->service, id) != 0)
			continue;
		want = strcmp(t->desired, "running") == 0;
		if (!best || want > bestwant || (want == bestwant && t->version > best->version)) {
			best = t;
			bestwant = want;
		}
	}
	return best;
}

static void
judge(const struct swarm_task *t, const struct swarm_node *nodes, size_t nnodes,
      struct swarm_assessment *a)
{
	const struct swarm_node *nd;

	a->task = t;
	if (!t)
		return;  /* just created: Swarm has not made its task yet */
	if (ended(t->state)) {
		a->verdict = SWARM_REPLACE;
		a->reason = SWARM_R_TASKENDED;
		return;
	}
	if (strcmp(t->desired, "running") != 0) {
		a->reason = SWARM_R_STOPPING;  /* it ends soon: then it is replaced */
		return;
	}
	if (t->node[0]) {
		nd = findnode(nodes, nnodes, t->node);
		if (!nd || !nd->ready) {
			a->verdict = SWARM_REPLACE;
			a->reason = SWARM_R_NODEDOWN;
			return;
		}
		if (nd->drain) {
			a->verdict = SWARM_REPLACE;
			a->reason = SWARM_R_NODEDRAIN;
			return;
		}
	}
	if (strcmp(t->state, "running") != 0) {
		a->reason = SWARM_R_PENDING;
		return;
	}
	if (!t->addr[0]) {
		a->reason = SWARM_R_NOADDR;
		return;
	}
	a->verdict = SWARM_ROUTE;
	memcpy(a->addr, t->addr, sizeof(a->addr));
}

void
swarm_assess(const struct swarm_service *svc, size_t nsvc, const struct swarm_task *tasks,
             size_t ntasks, const struct swarm_node *nodes, size_t nnodes,
             struct swarm_assessment *out)
{
	size_t i;

	for (i = 0; i < nsvc; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].verdict = SWARM_STARTING;
		out[i].reason = SWARM_R_NONE;
		judge(current(svc[i].id, tasks, ntasks), nodes, nnodes, &out[i]);
	}
}

/* See LICENSE file for copyright and license details. */
/* swarm.h: Docker Swarm services, tasks and nodes over a docker.h handle,
 * and the pure decision about them. One prescal instance is one service
 * with one replica (Swarm removes a random task when a service shrinks;
 * prescal must choose which instance goes, so it drains one and removes
 * its service). Services are labelled like containers: prescal.managed=true,
 * prescal.name=<app>, prescal.image=<image>, and prescal.port=<port>.
 *
 * swarm_* calls that take a struct docker do blocking I/O bounded by the
 * handle's timeout and return 0 (or the value said) or -1 with the text
 * in docker_error() and the HTTP status in docker_status() (503: this
 * node is not a swarm manager). swarm_parse_* and swarm_assess() do no
 * I/O and do not allocate. */
#ifndef SWARM_H
#define SWARM_H

#include <stddef.h>

struct docker;  /* docker.h */

#define SWARM_IDLEN      65  /* bytes for an object id: 25 today, hex up to 64 */
#define SWARM_ADDRLEN    46  /* bytes for an IPv4 or IPv6 address text */
#define SWARM_MAXCONSTR  16  /* placement constraints per service */
#define SWARM_TRIES      3   /* update attempts on "update out of sequence" */

struct swarm_spec {
	const char *name;        /* service name: [a-zA-Z0-9][a-zA-Z0-9_.-]* */
	const char *app;         /* label prescal.name */
	const char *image;       /* e.g. "prescal-demo:latest"; label prescal.image */
	int port;                /* container port (label prescal.port); not published */
	const char *network;     /* overlay network (name or id) the task joins */
	const char *const *env;  /* "K=V" strings, passed as they are */
	size_t nenv;
	const char *const *constraints; /* e.g. "node.role==worker", passed through */
	size_t nconstraints;
	long long nanocpus;      /* Resources.Reservations.NanoCPUs, 0: none */
	long long membytes;      /* Resources.Reservations.MemoryBytes, 0: none */
	int replicas;            /* 1; 0 keeps the service without a task */
	unsigned force;          /* TaskTemplate.ForceUpdate: a change restarts the task */
};

struct swarm_service {
	char id[SWARM_IDLEN];
	char name[128];
	char app[128];           /* label prescal.name, "" if none */
	char image[256];         /* label prescal.image, else the task image */
	int port;                /* label prescal.port, 0 if none */
	long long version;       /* Version.Index, for the next update */
	long long replicas;      /* Spec.Mode.Replicated.Replicas, -1 if not replicated */
};

struct swarm_task {
	char id[SWARM_IDLEN];
	char service[SWARM_IDLEN]; /* ServiceID */
	char node[SWARM_IDLEN];  /* NodeID, "" while not assigned */
	char state[16];          /* Status.State: new ... running, complete, failed, ... */
	char desired[16];        /* DesiredState: running, shutdown, ... */
	char container[65];      /* Status.ContainerStatus.ContainerID, "" if none */
	char addr[SWARM_ADDRLEN]; /* the task's IP on the network asked for, "" if none */
	char err[256];           /* Status.Err, control bytes '?' */
	long long version;       /* Version.Index: the larger, the later */
};

struct swarm_node {
	char id[SWARM_IDLEN];
	char hostname[128];      /* Description.Hostname */
	int ready;               /* Status.State is "ready" (else down, unknown, disconnected) */
	int active;              /* Spec.Availability is "active" (else pause, drain) */
	int drain;               /* Spec.Availability is "drain": its tasks are stopped */
};

/* what swarm_assess() says of one instance (service) */
enum swarm_verdict {
	SWARM_STARTING,          /* no running task yet: wait (the caller bounds how long) */
	SWARM_ROUTE,             /* running on a ready node with an address: send traffic */
	SWARM_REPLACE,           /* its task ended or its node is gone: replace it */
	NUM_SWARM_VERDICT
};

/* why, for the log line */
enum swarm_reason {
	SWARM_R_NONE,            /* routable, or just created */
	SWARM_R_PENDING,         /* a task is on its way (new ... starting) */
	SWARM_R_NOADDR,          /* running, but has no address on the network */
	SWARM_R_STOPPING,        /* Swarm is stopping its only task */
	SWARM_R_TASKENDED,       /* its task failed, was rejected, shut down or completed */
	SWARM_R_NODEDOWN,        /* its node is not ready, or no longer listed */
	SWARM_R_NODEDRAIN,       /* its node is being drained */
	NUM_SWARM_REASON
};

struct swarm_assessment {
	enum swarm_verdict verdict;
	enum swarm_reason reason;
	const struct swarm_task *task; /* the task it is about (NULL: none), into tasks */
	char addr[SWARM_ADDRLEN];  /* for SWARM_ROUTE */
};

/* names for log lines: "starting", "route", "replace"; "", "node down", ... */
extern const char *const swarm_verdict_str[NUM_SWARM_VERDICT];
extern const char *const swarm_reason_str[NUM_SWARM_REASON];

/* Creates the service of s; its id goes into id. Returns 0 or -1 (409:
 * name in use). Never pulls. Blocks. */
int swarm_create(struct docker *d, const struct swarm_spec *s, char id[SWARM_IDLEN]);

/* Inspects service id (or name) into *svc. Returns 0 or -1 (404: no such
 * service). Blocks. */
int swarm_inspect(struct docker *d, const char *id, struct swarm_service *svc);

/* Replaces service id's spec with s, sent with ?version=version. On a 500
 * "update out of sequence" it reads the service again and retries with its
 * new version, SWARM_TRIES attempts in all; *tries (NULL: not wanted)
 * gets the number made. Returns 0 or -1. Blocks: at most 2 * SWARM_TRIES
 * - 1 calls, each bounded by the handle's timeout. */
int swarm_update(struct docker *d, const char *id, long long version,
                 const struct swarm_spec *s, int *tries);

/* Removes service id (its tasks go with it). Returns 0, also when it is
 * already gone (404), or -1. Blocks. */
int swarm_remove(struct docker *d, const char *id);

/* Lists the services of app (NULL: of every app) labelled
 * prescal.managed=true. Stores up to max in out and their number in *n.
 * Returns 0, 1 if there were more than max (the rest is not stored), or
 * -1. Blocks. */
int swarm_services(struct docker *d, const char *app, struct swarm_service *out, size_t max,
                   size_t *n);

/* Lists the tasks of app's services (Swarm matches the label filter on
 * the service's labels), or only of service (id or name) if not NULL, all
 * desired states, each with its address on network (NULL: none). A
 * service that is gone has no tasks (the daemon's 404). Returns as
 * swarm_services(). Blocks. */
int swarm_tasks(struct docker *d, const char *app, const char *service, const char *network,
                struct swarm_task *out, size_t max, size_t *n);

/* Lists the swarm's nodes. Returns as swarm_services(). Blocks. */
int swarm_nodes(struct docker *d, struct swarm_node *out, size_t max, size_t *n);

/* Parses one service object (a GET /services/{id} reply body) in
 * js[0..n). Returns 0 or -1 if malformed. No I/O. */
int swarm_parse_service(const char *js, size_t n, struct swarm_service *svc);

/* Parse a GET /services, /tasks or /nodes reply body in js[0..n): up to
 * max entries into out, their number into *nout. Return 0, 1 if there were
 * more than max, -1 if malformed (then *nout is 0). Addresses are the
 * ones on network (name or id; NULL: none). No I/O. */
int swarm_parse_services(const char *js, size_t n, struct swarm_service *out, size_t max,
                         size_t *nout);
int swarm_parse_tasks(const char *js, size_t n, const char *network, struct swarm_task *out,
                      size_t max, size_t *nout);
int swarm_parse_nodes(const char *js, size_t n, struct swarm_node *out, size_t max,
                      size_t *nout);

/* Decides, for each of the nsvc services in svc, whether it is routable
 * and at which address, or must be replaced, from its tasks and the
 * nodes; out[i] is about svc[i] and points into tasks. nodes must be the
 * whole list (a task on a node not in it is on a node gone). Pure. */
void swarm_assess(const struct swarm_service *svc, size_t nsvc, const struct swarm_task *tasks,
                  size_t ntasks, const struct swarm_node *nodes, size_t nnodes,
                  struct swarm_assessment *out);

#endif

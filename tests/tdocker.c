/* See LICENSE file for copyright and license details. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tclient.h"
#include "tdocker.h"
#include "util.h"

int
docker_required(void)
{
	const char *r = getenv("PRESCAL_REQUIRE_DOCKER");

	return r && !strcmp(r, "1");
}

/* the daemon's socket: $DOCKER_HOST if unix://, else the default */
const char *
docker_sock(void)
{
	const char *h = getenv("DOCKER_HOST");

	if (h && !strncmp(h, "unix://", 7))
		return h + 7;
	return "/var/run/docker.sock";
}

/* GET /_ping on the daemon's socket; 0 if it answers 200 */
int
docker_ping(void)
{
	static const char req[] = "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[64] = "";
	ssize_t n;
	int fd, r = -1;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", docker_sock());
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	sock_timeouts(fd, 3000, 3000);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    writeall(fd, req, sizeof(req) - 1) == 0 &&
	    (n = recv(fd, buf, sizeof(buf) - 1, MSG_WAITALL)) >= 12) {
		buf[n] = '\0';
		r = !strncmp(buf, "HTTP/1.", 7) && !strncmp(buf + 8, " 200", 4) ? 0 : -1;
	}
	close(fd);
	return r;
}

/* runs a shell command quietly; returns its exit status or -1 */
int
sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* runs a command and reads its first output line into out; -1 if none */
int
sh_line(char *out, size_t n, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	FILE *f;
	int r = -1;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (!(f = popen(cmd, "r")))
		return -1;
	if (fgets(out, (int)n, f)) {
		out[strcspn(out, "\n")] = '\0';
		r = 0;
	}
	pclose(f);
	return r;
}

/* lists the containers labelled with set (all states); count or -1 */
int
dk_list(const char *set, struct ctr *c, int max)
{
	char cmd[512], line[512];
	FILE *f;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "docker ps -a --no-trunc --filter label=prescal.name=%s "
	         "--format '{{.ID}} {{.Names}} {{.State}}' 2>/dev/null", set);
	if (!(f = popen(cmd, "r")))
		return -1;
	while (fgets(line, sizeof(line), f) && n < max) {
		if (sscanf(line, "%79s %95s %31s", c[n].id, c[n].name, c[n].state) == 3)
			n++;
	}
	return pclose(f) == 0 ? n : -1;
}

/* how many containers of set are in state (NULL: any) */
int
dk_count(const char *set, const char *state)
{
	struct ctr c[NCTR];
	int n = dk_list(set, c, NCTR), k = 0;

	for (int i = 0; i < n; i++)
		if (!state || !strcmp(c[i].state, state))
			k++;
	return n < 0 ? -1 : k;
}


/* removes every container of set, a few rounds in case one was being created */
void
dk_rmset(const char *set)
{
	struct ctr c[NCTR];
	int n;

	for (int round = 0; round < 3; round++) {
		if ((n = dk_list(set, c, NCTR)) <= 0)
			return;
		for (int i = 0; i < n; i++)
			sh("docker rm -f %s >/dev/null 2>&1", c[i].id);
		msleep(200);
	}
}

/* waits until set has exactly want containers in state; 0 or -1 */
int
dk_wait_count(const char *set, const char *state, int want, int timeout_ms)
{
	int64_t until = now_ms() + timeout_ms;

	do {
		if (dk_count(set, state) == want)
			return 0;
		msleep(100);
	} while (now_ms() < until);
	return -1;
}

/* the set's containers, sorted by name, as "id12=name/state ..." */
char *
dk_ids(const char *set, char *out, size_t sz)
{
	struct ctr c[NCTR], tmp;
	int n = dk_list(set, c, NCTR);
	size_t k = 0;

	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (strcmp(c[j].name, c[i].name) < 0) {
				tmp = c[i];
				c[i] = c[j];
				c[j] = tmp;
			}
	out[0] = '\0';
	for (int i = 0; i < n && k < sz; i++)
		k += snprintf(out + k, sz - k, "%s%.12s=%s/%s", i ? " " : "", c[i].id, c[i].name,
		              c[i].state);
	return out;
}

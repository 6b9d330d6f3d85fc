/* See LICENSE file for copyright and license details. */
/* tsan_supp_test: checks that tests/tsan.supp hides only the race it is
 * for. Built with -fsanitize=thread and run by tests/sanitize.sh with that
 * file: it makes the same fd race twice, an EPOLL_CTL_MOD in one thread
 * against close() in another, once from a function named arm() (as in
 * prescal.c, suppressed) and once from rearm() (must be reported). The
 * threads hand over through a relaxed atomic, which TSan does not count
 * as synchronisation, so both races are seen on every run. sanitize.sh
 * expects exactly one report, naming rearm and not arm. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

static int epfd;
static atomic_int armed;

/* re-arms fd the way prescal.c's arm() does */
__attribute__((noinline)) static void
arm(int fd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT };

	epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

/* the same call from anywhere else */
__attribute__((noinline)) static void
rearm(int fd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT };

	epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

static void *
arming(void *arg)
{
	int *fds = arg;

	arm(fds[0]);
	rearm(fds[1]);
	atomic_store_explicit(&armed, 1, memory_order_relaxed);
	return NULL;
}

int
main(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int p[2], fds[2];
	pthread_t t;

	if ((epfd = epoll_create1(0)) < 0 || pipe(p) < 0)
		return 2;
	fds[0] = p[0];
	fds[1] = p[1];
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fds[0], &ev) < 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, fds[1], &ev) < 0 ||
	    pthread_create(&t, NULL, arming, fds) != 0)
		return 2;
	while (!atomic_load_explicit(&armed, memory_order_relaxed))
		usleep(1000);
	close(fds[0]);
	close(fds[1]);
	pthread_join(t, NULL);
	puts("tsan_supp_test: both races made");
	return 0;
}

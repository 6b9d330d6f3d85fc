# prescal - autoscaling HTTP/1.1 reverse proxy
# See LICENSE file for copyright and license details.
.POSIX:

include config.mk

SRC = prescal.c proxy.c http.c pool.c docker.c json.c scale.c fleet.c app.c conf.c admin.c hist.c util.c swarm.c
OBJ = $(SRC:.c=.o)
HDR = http.h pool.h docker.h json.h scale.h fleet.h app.h conf.h util.h proxy.h admin.h hist.h swarm.h

TCFLAGS = $(PCPPFLAGS) $(PCFLAGS) -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all -I.
TLIBS = -lcmocka -pthread -fsanitize=address,undefined
# any ASan, LSan or UBSan finding stops the sanitized binary non-zero
SANENV = ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
UNIT = tests/http_test tests/pool_test tests/json_test tests/docker_test tests/scale_test \
	tests/fleet_test tests/hist_test tests/app_test tests/conf_test tests/util_test

all: prescal

config.h:
	cp config.def.h $@

.c.o:
	$(CC) $(PCPPFLAGS) $(PCFLAGS) $(CFLAGS) -c $<

$(OBJ): config.mk $(HDR)
prescal.o: config.h

prescal: $(OBJ)
	$(CC) -o $@ $(OBJ) $(PLDFLAGS) $(LDFLAGS)

# fully static binary for FROM scratch images; SMALL drops unused sections
# and the unwind tables (C needs none): 195,496 -> 174,968 bytes; and keeps
# code and read-only data in one segment instead of page-aligning each
# (ld's -z separate-code): 206,400 -> 198,208 bytes at the many-apps merge;
# and -flto=auto: 219,008 -> 214,912 bytes
SMALL = -Os -flto=auto -ffunction-sections -fdata-sections -Wl,--gc-sections -fno-asynchronous-unwind-tables \
	-fno-unwind-tables -Wl,-z,noseparate-code
static: prescal-static
prescal-static: config.h $(SRC) $(HDR)
	$(MUSLCC) $(PCPPFLAGS) $(PCFLAGS) $(SMALL) -static -s -o $@ $(SRC) $(PLDFLAGS)

# tests: each unit test links the module under test and util.c only
tests/http_test: tests/http_test.c http.c util.c http.h util.h
	$(CC) $(TCFLAGS) -o $@ tests/http_test.c http.c util.c $(TLIBS)
tests/pool_test: tests/pool_test.c pool.c util.c pool.h util.h
	$(CC) $(TCFLAGS) -o $@ tests/pool_test.c pool.c util.c $(TLIBS)
tests/json_test: tests/json_test.c json.c util.c json.h util.h
	$(CC) $(TCFLAGS) -o $@ tests/json_test.c json.c util.c $(TLIBS)
tests/docker_test: tests/docker_test.c docker.c json.c http.c util.c docker.h json.h http.h util.h
	$(CC) $(TCFLAGS) -o $@ tests/docker_test.c docker.c json.c http.c util.c $(TLIBS)
# swarm.c: recorded replies, a fake daemon, the decision, then a live swarm
tests/swarm_test: tests/swarm_test.c swarm.c docker.c json.c http.c util.c swarm.h docker.h json.h \
		http.h util.h
	$(CC) $(TCFLAGS) -o $@ tests/swarm_test.c swarm.c docker.c json.c http.c util.c $(TLIBS)
tests/scale_test: tests/scale_test.c scale.c util.c scale.h docker.h util.h
	$(CC) $(TCFLAGS) -o $@ tests/scale_test.c scale.c util.c $(TLIBS)
# fleet.c with fake docker, pool and scaler, under TSan: a stress test of its slots
tests/fleet_test: tests/fleet_test.c fleet.c hist.c util.c scale.h fleet.h docker.h pool.h hist.h util.h swarm.h
	$(CC) $(PCPPFLAGS) $(PCFLAGS) -g -O1 -fsanitize=thread -I. -o $@ tests/fleet_test.c fleet.c \
		hist.c util.c -lcmocka -pthread -fsanitize=thread

tests/conf_test: tests/conf_test.c conf.c app.c scale.c docker.c json.c http.c util.c conf.h app.h \
		scale.h docker.h util.h
	$(CC) $(TCFLAGS) -o $@ tests/conf_test.c conf.c app.c scale.c docker.c json.c http.c util.c $(TLIBS)
tests/app_test: tests/app_test.c app.c util.c app.h scale.h util.h
	$(CC) $(TCFLAGS) -o $@ tests/app_test.c app.c util.c $(TLIBS)
tests/hist_test: tests/hist_test.c hist.c util.c hist.h util.h
	$(CC) $(TCFLAGS) -o $@ tests/hist_test.c hist.c util.c $(TLIBS)
tests/util_test: tests/util_test.c util.c util.h
	$(CC) $(TCFLAGS) -o $@ tests/util_test.c util.c $(TLIBS)
tests/integ_test: tests/integ_test.c tests/tclient.c tests/tclient.h util.c
	$(CC) $(TCFLAGS) -o $@ tests/integ_test.c tests/tclient.c util.c $(TLIBS)
tests/scale_integ_test: tests/scale_integ_test.c tests/tclient.c tests/tclient.h tests/tdocker.c tests/tdocker.h util.c
	$(CC) $(TCFLAGS) -o $@ tests/scale_integ_test.c tests/tclient.c tests/tdocker.c util.c $(TLIBS)
tests/apps_test: tests/apps_test.c tests/tclient.c tests/tclient.h tests/tdocker.c tests/tdocker.h util.c
	$(CC) $(TCFLAGS) -o $@ tests/apps_test.c tests/tclient.c tests/tdocker.c util.c $(TLIBS)
tests/admin_integ_test: tests/admin_integ_test.c tests/tclient.c tests/tclient.h util.c
	$(CC) $(TCFLAGS) -o $@ tests/admin_integ_test.c tests/tclient.c util.c $(TLIBS)
tests/config_test: tests/config_test.c tests/tclient.c tests/tclient.h util.c
	$(CC) $(TCFLAGS) -o $@ tests/config_test.c tests/tclient.c util.c $(TLIBS)
tests/chaos_test: tests/chaos_test.c tests/tclient.c tests/tclient.h tests/tdocker.c tests/tdocker.h util.c
	$(CC) $(TCFLAGS) -o $@ tests/chaos_test.c tests/tclient.c tests/tdocker.c util.c $(TLIBS)
tests/abuse_test: tests/abuse_test.c tests/tclient.c tests/tclient.h util.c
	$(CC) $(TCFLAGS) -o $@ tests/abuse_test.c tests/tclient.c util.c $(TLIBS)
tests/exhaust_test: tests/exhaust_test.c tests/tclient.c tests/tclient.h util.c
	$(CC) $(TCFLAGS) -o $@ tests/exhaust_test.c tests/tclient.c util.c $(TLIBS)
tests/fail_test: tests/fail_test.c tests/tclient.c tests/tclient.h tests/tdocker.c tests/tdocker.h util.c
	$(CC) $(TCFLAGS) -o $@ tests/fail_test.c tests/tclient.c tests/tdocker.c util.c $(TLIBS)
tests/backend: tests/backend.c
	$(CC) $(PCPPFLAGS) $(PCFLAGS) -O2 -o $@ tests/backend.c $(PLDFLAGS)

# the test/demo backend as a static binary for FROM scratch images
tests/backend-static: tests/backend.c
	$(MUSLCC) $(PCPPFLAGS) $(PCFLAGS) -Os -static -s -o $@ tests/backend.c $(PLDFLAGS)

# prescal itself under ASan+UBSan, for the integration suite
prescal-asan: config.h $(SRC) $(HDR)
	$(CC) $(PCPPFLAGS) $(PCFLAGS) -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
		-fno-sanitize-recover=all -o $@ $(SRC) $(PLDFLAGS) -fsanitize=address,undefined
prescal-tsan: config.h $(SRC) $(HDR)
	$(CC) $(PCPPFLAGS) $(PCFLAGS) -g -O1 -fsanitize=thread -o $@ $(SRC) $(PLDFLAGS) -fsanitize=thread
tests/pool_test-tsan: tests/pool_test.c pool.c util.c pool.h util.h
	$(CC) $(PCPPFLAGS) $(PCFLAGS) -g -O1 -fsanitize=thread -I. -o $@ tests/pool_test.c pool.c \
		util.c -lcmocka -pthread -fsanitize=thread
tests/tsan_supp_test: tests/tsan_supp_test.c
	$(CC) $(PCPPFLAGS) $(PCFLAGS) -g -O1 -fsanitize=thread -o $@ tests/tsan_supp_test.c \
		-pthread -fsanitize=thread

unit: $(UNIT)
	@for t in $(UNIT); do echo "== $$t"; $(SANENV) ./$$t || exit 1; done

INTEG = tests/config_test tests/integ_test tests/abuse_test tests/exhaust_test tests/admin_integ_test \
	tests/scale_integ_test tests/apps_test tests/fail_test tests/chaos_test tests/swarm_test

integ: prescal tests/backend tests/backend-static $(INTEG)
	@for t in $(INTEG); do echo "== $$t"; $(SANENV) ./$$t || exit 1; done
	@echo "== tests/image_test.sh"; sh tests/image_test.sh

test: unit integ

# the integration suite against an ASan+UBSan prescal (reports fail the run),
# the pool's concurrency tests under TSan, and valgrind memcheck
sanitize: prescal-asan prescal-tsan tests/backend tests/backend-static $(INTEG) tests/pool_test-tsan \
		tests/tsan_supp_test
	sh tests/sanitize.sh

lint:
	cppcheck --enable=warning,performance,portability --std=c11 -D_GNU_SOURCE \
		--error-exitcode=1 --quiet -I. $(SRC)
	clang-tidy --quiet $(SRC) -- $(PCPPFLAGS) -std=c11 -I.

# libFuzzer targets (clang): FUZZ_SECONDS each; corpus in fuzz/corpus/<name>/
FUZZ_SECONDS = 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh fuzz/run.sh

# ten minutes of mixed load with scaling; RSS and fds every minute, bounded
soak: prescal tests/backend-static
	sh tests/soak.sh

# a demo: the test backend as image prescal-demo, scaled from zero on :8080
run: prescal tests/backend-static
	sh tests/mkimage.sh prescal-demo:latest
	./prescal -l 0.0.0.0:8080 -i prescal-demo:latest -p 8080 -m 0 -M 4 -c 10 -n demo

# prescal's own image, FROM scratch
image: prescal-static
	DOCKER_BUILDKIT=0 docker build -q -t prescal:$(VERSION) -t prescal:latest .

# the admin page in headless Chromium during a scale-from-zero episode;
# screenshots in $(PLOT_OUT)
PLOT_OUT = /tmp/prescal-plot
plot-check: prescal tests/backend-static
	PLOT_OUT=$(PLOT_OUT) sh tests/plot_check.sh

bench: prescal tests/backend tests/backend-static
	bash bench/bench.sh

# how fast capacity follows load, against a live dockerd (bench/scale.c)
bench/scale: bench/scale.c tests/tclient.c tests/tclient.h tests/tdocker.c tests/tdocker.h util.c
	$(CC) $(PCPPFLAGS) $(PCFLAGS) -O2 -I. -o $@ bench/scale.c tests/tclient.c tests/tdocker.c \
		util.c $(PLDFLAGS)

bench-scale: prescal tests/backend-static bench/scale
	./bench/scale

# what 100 apps at zero cost at rest: CPU (< 0.5% of a core) and RSS
bench-idle: prescal
	sh bench/idle.sh

clean:
	rm -f bench/scale prescal prescal-static prescal-asan prescal-tsan tests/pool_test-tsan \
		tests/tsan_supp_test $(OBJ) $(UNIT) $(INTEG) tests/backend \
		tests/backend-static fuzz/*_fuzz prescal-$(VERSION).tar.gz

dist: clean
	mkdir -p prescal-$(VERSION)
	cp -R LICENSE Makefile README.md config.mk config.def.h prescal.1 \
		Dockerfile $(SRC) $(HDR) tests fuzz bench examples .ci .clang-tidy prescal-$(VERSION)
	tar -cf - prescal-$(VERSION) | gzip > prescal-$(VERSION).tar.gz
	rm -rf prescal-$(VERSION)

install: all
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANPREFIX)/man1
	cp -f prescal $(DESTDIR)$(PREFIX)/bin
	chmod 755 $(DESTDIR)$(PREFIX)/bin/prescal
	sed "s/VERSION/$(VERSION)/g" < prescal.1 > $(DESTDIR)$(MANPREFIX)/man1/prescal.1
	chmod 644 $(DESTDIR)$(MANPREFIX)/man1/prescal.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/prescal $(DESTDIR)$(MANPREFIX)/man1/prescal.1

.PHONY: all static test unit integ sanitize lint fuzz soak run image plot-check bench bench-scale bench-idle clean dist install uninstall

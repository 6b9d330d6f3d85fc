#!/bin/sh
# See LICENSE file for copyright and license details.
# usage: tests/mkimage.sh [name] [health]
#
# Builds the FROM scratch image of the test/demo backend (tests/backend.c as
# /server, EXPOSE 8080, ENV PORT=8080, ENTRYPOINT ["/server"]) from
# tests/Dockerfile.backend. name defaults to prescal-test-backend:latest, or
# prescal-test-backend-hc:latest with "health", which adds
# HEALTHCHECK --interval=1s CMD ["/server","check"].
#
# Needs no network: nothing is pulled. Uses the legacy builder
# (DOCKER_BUILDKIT=0 docker build); if that fails, or MKIMAGE_IMPORT=1,
# falls back to docker import of a one-file tar. Does nothing when the image
# carries the label prescal.backend.sha256 of the same binary and recipe.
set -eu

cd "$(dirname "$0")/.."

# arguments: "mkimage.sh health" alone means the default -hc image
name=${1:-}
health=${2:-}
if [ "$name" = health ] && [ -z "$health" ]; then
	name=''
	health=health
fi
case $health in
"") name=${name:-prescal-test-backend:latest} ;;
health) name=${name:-prescal-test-backend-hc:latest} ;;
*) echo "usage: $0 [name] [health]" >&2; exit 2 ;;
esac
hc='HEALTHCHECK --interval=1s CMD ["/server","check"]'

# the static binary (make knows whether it is current)
make -s tests/backend-static >&2

# the recipe: the binary, the Dockerfile, and whether there is a healthcheck
sum=$( { sha256sum tests/backend-static tests/Dockerfile.backend; echo "$health"; } |
	sha256sum | cut -c1-64)
have=$(docker image inspect -f '{{index .Config.Labels "prescal.backend.sha256"}}' \
	"$name" 2>/dev/null || true)
if [ "$have" = "$sum" ]; then
	echo "mkimage: $name is up to date"
	exit 0
fi
old=$(docker image inspect -f '{{.Id}}' "$name" 2>/dev/null || true)

# build context: the binary and the Dockerfile with label and healthcheck
ctx=$(mktemp -d "${TMPDIR:-/tmp}/mkimage.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
cp tests/backend-static "$ctx/backend-static"
chmod 755 "$ctx/backend-static"
{
	cat tests/Dockerfile.backend
	echo "LABEL prescal.backend.sha256=$sum"
	[ -z "$health" ] || echo "$hc"
} > "$ctx/Dockerfile"

built=
if [ "${MKIMAGE_IMPORT:-0}" != 1 ]; then
	if DOCKER_BUILDKIT=0 docker build -q -t "$name" "$ctx" > "$ctx/build.log" 2>&1; then
		built="docker build"
	else
		echo "mkimage: docker build failed, trying docker import:" >&2
		tail -n 5 "$ctx/build.log" >&2
	fi
fi
if [ -z "$built" ]; then
	mkdir "$ctx/root"
	cp tests/backend-static "$ctx/root/server"
	set -- --change 'ENTRYPOINT ["/server"]' --change 'EXPOSE 8080' \
		--change 'ENV PORT=8080' --change "LABEL prescal.backend.sha256=$sum"
	[ -z "$health" ] || set -- "$@" --change "$hc"
	tar -C "$ctx/root" --owner=0 --group=0 -cf - server |
		docker import "$@" - "$name" > /dev/null
	built="docker import"
fi

# drop the image this one replaced, unless something still uses it
new=$(docker image inspect -f '{{.Id}}' "$name")
if [ -n "$old" ] && [ "$old" != "$new" ]; then
	docker rmi "$old" > /dev/null 2>&1 || true
fi
size=$(docker image inspect -f '{{.Size}}' "$name")
echo "mkimage: built $name ($built, $size bytes)"

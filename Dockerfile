# prescal's own image: the static musl binary and nothing else.
# Build with `make image` (runs `make static` first). No base image is pulled.
FROM scratch
COPY prescal-static /prescal
# not root: nobody. The Docker socket is root-equivalent; give the container
# its group with --group-add $(stat -c %g /var/run/docker.sock)
USER 65534:65534
EXPOSE 8080 8404
ENTRYPOINT ["/prescal"]
CMD ["-h"]

# prescal's own image: the static musl binary and nothing else.
# Build with `make image` (runs `make static` first). No base image is pulled.
FROM scratch
COPY prescal-static /prescal
EXPOSE 8080 8404
ENTRYPOINT ["/prescal"]
CMD ["-h"]

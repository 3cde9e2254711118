# syntax=docker/dockerfile:1
#
# Switchboard as a container: a static binary (the SQLite store is pure Go,
# so no cgo) on an empty base image, run as a user without privileges, with
# the data dir of the embedded store as a volume. The image has no shell and
# no curl: its health check is the binary's own `switchboard healthcheck`.
#
#   docker build -t switchboard .
#   docker run -p 8080:8080 -v switchboard-data:/data \
#     -e SWITCHBOARD_JWT_SECRET="$(openssl rand -hex 32)" switchboard

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/switchboard ./cmd/switchboard
# What the empty image needs: a user to run as, an empty data dir it owns,
# and the CA certificates for TLS to MongoDB and to an OTLP collector.
RUN mkdir -p /out/data \
 && echo 'switchboard:x:65532:65532:switchboard:/data:/sbin/nologin' > /out/passwd \
 && echo 'switchboard:x:65532:' > /out/group

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/group /etc/group
COPY --from=build /out/switchboard /switchboard
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# Inside a container the API and the metrics listen on every interface of
# the container's own network: publish 8080, and leave 9464 unpublished for
# a Prometheus on the same network (/metrics and pprof are unauthenticated).
ENV SWITCHBOARD_ADDR=0.0.0.0:8080 \
    SWITCHBOARD_METRICS_ADDR=0.0.0.0:9464 \
    SWITCHBOARD_DATA_DIR=/data \
    SWITCHBOARD_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/switchboard", "healthcheck"]
# A stop is SIGTERM: requests and sockets drain for SWITCHBOARD_DRAIN_TIMEOUT.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/switchboard"]
CMD ["serve"]

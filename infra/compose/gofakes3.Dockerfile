# An S3-compatible store for docker-compose: gofakes3 at the version
# scripts/test pins, on a small base that has wget for the health check.
#
#   docker build -f infra/compose/gofakes3.Dockerfile infra/compose
FROM golang:1.26.8-bookworm AS build
ARG GOFAKES3_VERSION=v1.2.0
RUN CGO_ENABLED=0 GOBIN=/out go install -trimpath -ldflags='-s -w' \
    github.com/johannesboyne/gofakes3/cmd/gofakes3@${GOFAKES3_VERSION}

FROM alpine:3.22.1
RUN adduser -D -H -u 65532 s3 && mkdir -p /data && chown 65532:65532 /data
COPY --from=build /out/gofakes3 /usr/local/bin/gofakes3
USER 65532:65532
EXPOSE 9000
ENTRYPOINT ["gofakes3"]
CMD ["-host", ":9000", "-backend", "bolt", "-bolt.db", "/data/s3.db", "-autobucket"]

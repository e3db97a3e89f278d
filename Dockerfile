# syntax=docker/dockerfile:1
# dstload's workload image (`dstload churn`, `dstload client`) for
# publishing. `dstload up` on k3d does not need it: it assembles the same
# layout in-process from its own static binary (provision/image).
#
#   docker build -t ghcr.io/dstload/dstload:$(git describe --tags) \
#     --build-arg VERSION=$(git describe --tags) .

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Dependencies first: this layer is reused until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH
# Static: the runtime image has no libc.
RUN --mount=type=cache,target=/root/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X github.com/dstload/dstload/version.Version=${VERSION}" \
      -o /out/dstload ./cmd/dstload

# distroless static: CA certificates, tzdata, /etc/passwd with nonroot
# (65532), no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="dstload" \
      org.opencontainers.image.source="https://github.com/dstload/dstload" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/dstload /dstload
# Numeric, so Kubernetes' runAsNonRoot can check it.
USER 65532:65532
ENTRYPOINT ["/dstload"]

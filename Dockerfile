# syntax=docker/dockerfile:1
# procflow image: one build stage compiles TypeScript, the BPF object and the addon (with its
# vendored static libbpf); the runtime stage is node slim plus the two shared libraries the
# addon links dynamically (libelf, zlib) and the openssl CLI that deploy/tls/make-certs.sh (the
# compose certs step, the Kubernetes procflow-certs Job) uses. Commands:
# docker run procflow:local <command> ...

FROM node:26-bookworm AS build
ENV DEBIAN_FRONTEND=noninteractive
# The kernel build's own package list, so the image and bootstrap never disagree.
COPY native/apt-packages.txt /tmp/apt-packages.txt
RUN apt-get update -q \
 && grep -Ev '^\s*(#|$)' /tmp/apt-packages.txt | xargs apt-get install -y -q --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
# The image's node has its headers beside it (/usr/local/include/node), where native/build.sh
# looks; node-gyp takes them from here for dependencies that build native code during npm ci.
ENV npm_package_config_node_gyp_nodedir=/usr/local
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# tsc, then native/build.sh (vendored libbpf, vmlinux.h from the build host's BTF, BPF, addon).
RUN npm run build \
 && node dist/kibana/generate.js --check \
 && npm prune --omit=dev \
 && rm -rf dist/test dist/bench

FROM node:26-bookworm-slim
# openssl: ca-certificates already depends on it; named so that the certs step never loses it.
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends libelf1 zlib1g ca-certificates openssl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/procflow
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/native/build/Release/procflow.node ./native/build/Release/procflow.node
COPY --from=build /src/kibana/procflow.ndjson ./kibana/procflow.ndjson
COPY --from=build /src/deploy/tls/make-certs.sh ./deploy/tls/make-certs.sh
ENV NODE_ENV=production
# The indexer and setup run as the unprivileged node user; the agent overrides it with root.
USER node
EXPOSE 8080
ENTRYPOINT ["node", "/opt/procflow/bin/procflow.js"]
CMD ["--help"]

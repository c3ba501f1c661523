# Build stage: compile the core and bundle the host.
# npm ci finds the libpcap addon prebuilt in prebuilds/ (linux-x64, linux-arm64); libpcap-dev is
# only needed on a platform without one, where it compiles at install.
FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json binding.gyp ./
COPY prebuilds ./prebuilds
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# Run stage: the single bundle, siphon's libpcap addon for live capture, and a node binary
# of siphon's own that holds CAP_NET_RAW as a file capability, so siphon captures as the
# unprivileged `node` user and no other program in the image gains the capability.
FROM node:20-bookworm-slim
# The addon loads libpcap by its soname (libpcap.so.0.8 here): no libpcap-dev.
RUN apt-get update && apt-get install -y --no-install-recommends libpcap0.8 libcap2-bin \
 && mkdir -p /opt/siphon \
 && cp "$(readlink -f /usr/local/bin/node)" /opt/siphon/node \
 && setcap cap_net_raw+ep /opt/siphon/node \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/siphon
COPY --from=build /src/dist/siphon.mjs ./siphon.mjs
COPY --from=build /src/prebuilds ./prebuilds
USER node
# Metrics and health, when started with --metrics 0.0.0.0:9090.
EXPOSE 9090
ENTRYPOINT ["/opt/siphon/node", "/opt/siphon/siphon.mjs"]
CMD ["--help"]

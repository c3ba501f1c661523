# Build stage: compile the core and bundle the host.
FROM node:20-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpcap-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# Run stage: the single bundle, the optional libpcap addon for live capture, and a node binary
# of siphon's own that holds CAP_NET_RAW as a file capability, so siphon captures as the
# unprivileged `node` user and no other program in the image gains the capability.
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpcap0.8 libcap2-bin \
 && ln -s "$(ls /usr/lib/*/libpcap.so.0.8)" "$(dirname "$(ls /usr/lib/*/libpcap.so.0.8)")/libpcap.so" \
 && mkdir -p /opt/siphon \
 && cp "$(readlink -f /usr/local/bin/node)" /opt/siphon/node \
 && setcap cap_net_raw+ep /opt/siphon/node \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/siphon
COPY --from=build /src/dist/siphon.mjs ./siphon.mjs
COPY --from=build /src/node_modules/cap ./node_modules/cap
USER node
# Metrics and health, when started with --metrics 0.0.0.0:9090.
EXPOSE 9090
ENTRYPOINT ["/opt/siphon/node", "/opt/siphon/siphon.mjs"]
CMD ["--help"]

# Build stage: compile the core and bundle the host.
FROM node:20-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpcap-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# Run stage: the single bundle, plus the optional libpcap addon for live capture.
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpcap0.8 \
 && ln -s "$(ls /usr/lib/*/libpcap.so.0.8)" "$(dirname "$(ls /usr/lib/*/libpcap.so.0.8)")/libpcap.so" \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/siphon
COPY --from=build /src/dist/siphon.mjs ./siphon.mjs
COPY --from=build /src/node_modules/cap ./node_modules/cap
USER node
ENTRYPOINT ["node", "/opt/siphon/siphon.mjs"]
CMD ["--help"]

# One image for the API and the worker; the command picks the role (see docker-compose.yml).
# Build:  docker build -t dotrank .
FROM node:20-bookworm-slim AS build
WORKDIR /app
# hnswlib-node (optional dependency: the ANN backend of DOTRANK_DENSE_MODE=ann) is compiled by node-gyp at npm ci,
# against the image's own Node headers; without the toolchain npm ci still succeeds and ann uses the JS HNSW.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json .npmrc ./
COPY packages packages
COPY apps apps
COPY test/package.json test/package.json
COPY tsconfig.base.json nx.json eslint.config.js vitest.shared.ts ./
RUN npm ci --no-audit --no-fund && NX_DAEMON=false npx nx run-many -t build --outputStyle=static \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production DOTRANK_HOST=0.0.0.0 DOTRANK_PORT=3000 DOTRANK_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app /app
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data", "/models"]
EXPOSE 3000 9464
# Health: the API answers /healthz; a worker started with --metrics-port 9464 answers /metrics.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.DOTRANK_HEALTH_PORT||3000)+(process.env.DOTRANK_HEALTH_PATH||'/healthz')).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "apps/cli/bin/dotrank.js"]
CMD ["serve"]

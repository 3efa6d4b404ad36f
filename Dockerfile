# syntax=docker/dockerfile:1
# comet-gateway image: `docker build -t comet-gateway:0.1.0 .`
# Three stages so the runtime image holds no compiler, no dev dependencies and no sources.

# --- toolchain: better-sqlite3 is a native addon; when no prebuilt binary matches, it
# --- compiles with node-gyp, which needs python3, make and g++.
FROM node:20-slim AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./

# --- build: every dependency, then TypeScript → dist/.
# --ignore-scripts because `npm ci` would run our `prepare` (tsc) before the sources are
# here; the one native addon is then built explicitly.
FROM toolchain AS build
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
# bench/ is left out on purpose: the image runs the gateway, not the benchmarks.
COPY src ./src
# The admin web page's sources: vite builds them into dist/ui, served at /ui/.
COPY ui ./ui
RUN npm run build

# --- prod-deps: production dependencies only, native addon compiled for this platform.
FROM toolchain AS prod-deps
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 \
 && npm cache clean --force

# --- runtime: node, production node_modules and dist/ only, as an unprivileged user.
FROM node:20-slim AS runtime
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    DATA_DIR=/data
# A fixed numeric uid so Kubernetes `runAsNonRoot` can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid gateway --home-dir /app --shell /usr/sbin/nologin gateway \
 && mkdir -p /data \
 && chown gateway:gateway /data
WORKDIR /app
COPY --from=prod-deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
# The embedded store (no Redis configured) keeps its SQLite file here.
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8080
# No curl in slim images: node's global fetch does the probe. /healthz = the process is up
# (readiness, /readyz, is for orchestrators that route traffic).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node as PID 1 receives SIGTERM directly: the gateway drains for DRAIN_TIMEOUT_MS and exits 0.
# Give it time: `docker stop -t 40`, compose `stop_grace_period`, k8s terminationGracePeriodSeconds.
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]

# syntax=docker/dockerfile:1
# Echo: one image for the API, the worker and the CLI (migrations). See docker-compose.yml.

# --- build: compile native modules (better-sqlite3), build, then drop dev dependencies ---
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# The project's .npmrc sets nodedir=/usr (Debian's Node on the dev machines); the official image
# keeps Node's headers under /usr/local. The environment overrides the project .npmrc.
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY apps ./apps
COPY libs ./libs
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# --- runtime: no compilers, non-root ---
FROM node:20-bookworm-slim AS runtime
# MALLOC_ARENA_MAX=2: sharp on glibc, fewer malloc arenas keep RSS from growing (lovell/sharp#2607).
# MALLOC_MMAP_THRESHOLD_: blocks from 128 KB up (argon2's 19 MB per login, image buffers) go back
# to the system when freed instead of staying in glibc's heap (docs/performance.md, Memory).
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    STORAGE_DIR=/data/storage \
    TUS_DIR=/data/tus \
    PORT=3000
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Named volumes mounted here inherit this ownership on first use.
RUN mkdir -p /data/storage /data/tus && chown -R node:node /data
USER node
EXPOSE 3000
CMD ["node", "dist/apps/api/src/main.js"]

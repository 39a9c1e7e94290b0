# The authenticating reverse proxy in front of Dagster's UI and GraphQL API (Dagster has no login):
# nginx from Debian's packages, HTTP basic auth on every path, the GraphQL websocket included (its
# upgrade request is an ordinary GET that must pass the same check). Runs as a non-root user on
# :8080 with a read-only root file system (everything it writes is under /tmp).
# Build context: the repository root. BASE_IMAGE lets a locally built base stand in (see .ci/).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light openssl >/dev/null \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10004 --user-group --no-create-home mlproxy
COPY docker/proxy/nginx.conf /etc/mlpipes-proxy/nginx.conf
COPY docker/proxy/start.sh /usr/local/bin/proxy-start
USER mlproxy
EXPOSE 8080
CMD ["sh", "/usr/local/bin/proxy-start"]

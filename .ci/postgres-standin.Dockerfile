# CI stand-in for the postgres image (no registry on CI machines): Debian's PostgreSQL 15 with an
# entry point that honours the same contract compose.yaml relies on: POSTGRES_USER/PASSWORD/DB,
# /docker-entrypoint-initdb.d/*.sh on an empty data directory, data in /var/lib/postgresql/data,
# pg_isready for the healthcheck. Used only through .ci/compose.ci.yaml.
ARG BASE_IMAGE=mlpipes-ci/base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /docker-entrypoint-initdb.d /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
COPY .ci/postgres-standin-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER postgres
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]

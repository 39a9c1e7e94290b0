#!/bin/sh
# Start nginx in front of UPSTREAM with one login from the environment (compose passes .env's
# DAGSTER_ADMIN_USER / DAGSTER_ADMIN_PASSWORD). The password file holds a SHA-512 crypt hash,
# written to /tmp (mode 600) at start: no secret in the image.
set -eu
: "${PROXY_USER:?error: PROXY_USER is not set}"
: "${PROXY_PASSWORD:?error: PROXY_PASSWORD is not set}"
: "${UPSTREAM:?error: UPSTREAM is not set (host:port of the service behind the proxy)}"
umask 077
mkdir -p /tmp/nginx
printf '%s:%s\n' "$PROXY_USER" "$(printf '%s' "$PROXY_PASSWORD" | openssl passwd -6 -stdin)" >/tmp/nginx/htpasswd
sed "s|@UPSTREAM@|$UPSTREAM|" /etc/mlpipes-proxy/nginx.conf >/tmp/nginx/nginx.conf
exec nginx -e stderr -c /tmp/nginx/nginx.conf -g 'daemon off;'

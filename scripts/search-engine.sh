#!/usr/bin/env bash
# Run a real Elasticsearch / OpenSearch node for cfship's tests (and for users trying cfship).
#
#   scripts/search-engine.sh start|stop|status|url <engine> [--port P] [--name N]
#
# engines: es8 | es9 | opensearch
# The minimal "integ-test-zip" distributions are downloaded from Maven Central with Maven (cached in
# $CFSHIP_SEARCH_CACHE, default ~/.cache/cfship/search), unpacked under $CFSHIP_SEARCH_WORK (default
# /tmp/cfship-search/<name>) and started as an unprivileged system user (neither engine starts as root).
# One node on 127.0.0.1, 512m heap, no security. `start` waits (<= $CFSHIP_SEARCH_WAIT s, default 180) for
# _cluster/health yellow and prints the URL; `start` on a running instance just prints its URL.
# `--name` runs a second, independent instance of the same engine (own tree, data, logs, pid file).
set -euo pipefail

# ---- pinned versions (newest that start here) -----------------------------------------------------------
ES8_VERSION="${CFSHIP_ES8_VERSION:-8.19.21}"
ES9_VERSION="${CFSHIP_ES9_VERSION:-9.5.3}"
OPENSEARCH_VERSION="${CFSHIP_OPENSEARCH_VERSION:-3.6.0}"
# Java: ES 8.x -> 17, ES 9.x / OpenSearch 3.x -> 21+ (Temurin 25 here).
JAVA17_HOME="${CFSHIP_JAVA17_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
JAVA21_HOME="${CFSHIP_JAVA21_HOME:-}"
MAVEN_DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
RUN_USER="${CFSHIP_SEARCH_USER:-cfship-search}"
CACHE_DIR="${CFSHIP_SEARCH_CACHE:-${HOME:-/root}/.cache/cfship/search}"
WORK_ROOT="${CFSHIP_SEARCH_WORK:-/tmp/cfship-search}"
WAIT_SECS="${CFSHIP_SEARCH_WAIT:-180}"
ADMIN_USER="${CFSHIP_SEARCH_USERNAME:-cfship-admin}"
ADMIN_PASS="${CFSHIP_SEARCH_PASSWORD:-cfship-test-password}"
HEAP="${CFSHIP_SEARCH_HEAP:-512m}"
# extra node settings, space separated key=value (e.g. "thread_pool.write.queue_size=1")
EXTRA_SETTINGS="${CFSHIP_SEARCH_SETTINGS:-}"

die() { echo "search-engine.sh: $*" >&2; exit 1; }
log() { echo "search-engine.sh: $*" >&2; }

usage() {
  cat >&2 <<EOF
usage: $0 start|stop|status|url <es8|es9|opensearch> [--port P] [--name N] [--secure] [--tls]
  --secure (es8/es9 only): security on (HTTP without TLS), API keys and OAuth2 tokens enabled, file-realm
       superuser \$CFSHIP_SEARCH_USERNAME / \$CFSHIP_SEARCH_PASSWORD (default cfship-admin / cfship-test-password)
       and a read-only user cfship-viewer (role viewer, same password). The minimal distribution has no API
       keys (the security index needs analysis-common) and no OAuth2 tokens (basic licence).
  --tls (es8/es9, implies --secure): HTTPS with a fresh test CA (openssl) that *requires* a client
       certificate; PEM files in <work dir>/certs: ca.pem, client.pem, client.key, client-bundle.pem
  default ports: es8 9200, es9 9201, opensearch 9202 (transport port = http port + 100)
  env: CFSHIP_SEARCH_CACHE (downloads), CFSHIP_SEARCH_WORK (instances), CFSHIP_SEARCH_WAIT (seconds),
       CFSHIP_ES8_VERSION / CFSHIP_ES9_VERSION / CFSHIP_OPENSEARCH_VERSION, CFSHIP_JAVA17_HOME / CFSHIP_JAVA21_HOME,
       CFSHIP_SEARCH_HEAP (default 512m), CFSHIP_SEARCH_SETTINGS ("key=value ..." extra node settings)
EOF
  exit 2
}

[ $# -ge 2 ] || usage
CMD="$1"; ENGINE="$2"; shift 2
PORT=""; NAME=""; SECURE=0; TLS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --port) [ $# -ge 2 ] || usage; PORT="$2"; shift 2 ;;
    --port=*) PORT="${1#--port=}"; shift ;;
    --name) [ $# -ge 2 ] || usage; NAME="$2"; shift 2 ;;
    --name=*) NAME="${1#--name=}"; shift ;;
    --secure) SECURE=1; shift ;;
    --tls) SECURE=1; TLS=1; shift ;;
    *) usage ;;
  esac
done

case "$ENGINE" in
  es8) VERSION="$ES8_VERSION"; DEFAULT_PORT=9200; KIND=es
       GROUP="org.elasticsearch.distribution.integ-test-zip"; ARTIFACT=elasticsearch ;;
  es9) VERSION="$ES9_VERSION"; DEFAULT_PORT=9201; KIND=es
       GROUP="org.elasticsearch.distribution.integ-test-zip"; ARTIFACT=elasticsearch ;;
  opensearch) VERSION="$OPENSEARCH_VERSION"; DEFAULT_PORT=9202; KIND=os
       GROUP="org.opensearch.distribution.integ-test-zip"; ARTIFACT=opensearch ;;
  *) usage ;;
esac
PORT="${PORT:-$DEFAULT_PORT}"
case "$PORT" in ''|*[!0-9]*) die "bad port: $PORT" ;; esac
TRANSPORT_PORT=$((PORT + 100))
NAME="${NAME:-$ENGINE}"
case "$NAME" in ''|*[!A-Za-z0-9_.-]*) die "bad name: $NAME" ;; esac
INSTANCE="$ENGINE-$NAME"
[ "$NAME" = "$ENGINE" ] && INSTANCE="$ENGINE"
DIR="$WORK_ROOT/$INSTANCE"
PIDFILE="$DIR/run/node.pid"
PORTFILE="$DIR/run/port"
URL="http://127.0.0.1:$PORT"
[ -f "$PORTFILE" ] && [ "$CMD" != start ] && URL="http://127.0.0.1:$(cat "$PORTFILE")"
[ -f "$DIR/run/secure" ] && [ "$CMD" != start ] && SECURE=1
[ -f "$DIR/run/tls" ] && [ "$CMD" != start ] && TLS=1
[ "$TLS" = 1 ] && URL="${URL/http:/https:}"
[ "$SECURE" = 1 ] && [ "$KIND" != es ] && die "--secure is only supported for es8/es9"

java_home_for() {
  local major="$1" j
  if [ "$major" -lt 21 ]; then echo "$JAVA17_HOME"; return; fi
  if [ -n "$JAVA21_HOME" ]; then echo "$JAVA21_HOME"; return; fi
  for j in /usr/lib/jvm/temurin-25* /usr/lib/jvm/temurin-2[1-9]* /usr/lib/jvm/java-2[1-9]-openjdk* /usr/lib/jvm/*-2[1-9]*; do
    if [ -x "$j/bin/java" ]; then echo "$j"; return; fi
  done
  die "no Java 21+ found under /usr/lib/jvm (set CFSHIP_JAVA21_HOME)"
}

pid_alive() {
  [ -f "$PIDFILE" ] || return 1
  local pid; pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  case "$pid" in ''|*[!0-9]*) return 1 ;; esac
  kill -0 "$pid" 2>/dev/null
}

healthy() {
  local auth=()
  [ "$SECURE" = 1 ] && auth=(-u "$ADMIN_USER:$ADMIN_PASS")
  [ "$TLS" = 1 ] && auth+=(--cacert "$DIR/certs/ca.pem" --cert "$DIR/certs/client.pem" --key "$DIR/certs/client.key")
  curl -fsS --max-time 5 "${auth[@]}" "$URL/_cluster/health?wait_for_status=yellow&timeout=1s" 2>/dev/null \
    | grep -Eq '"status":"(yellow|green)"'
}

download() {
  local zip="$CACHE_DIR/$ARTIFACT-$VERSION.zip"
  if [ ! -s "$zip" ]; then
    command -v mvn >/dev/null || die "mvn not found"
    mkdir -p "$CACHE_DIR"
    log "downloading $GROUP:$ARTIFACT:$VERSION:zip with Maven into $CACHE_DIR"
    mvn -B -q "$MAVEN_DEP_PLUGIN:copy" -Dartifact="$GROUP:$ARTIFACT:$VERSION:zip" \
      -DoutputDirectory="$CACHE_DIR" -Dmdep.overWriteReleases=true >&2 \
      || die "maven download of $GROUP:$ARTIFACT:$VERSION:zip failed"
  fi
  [ -s "$zip" ] || die "download produced no $zip"
  echo "$zip"
}

ensure_user() {
  if ! id -u "$RUN_USER" >/dev/null 2>&1; then
    log "creating system user $RUN_USER"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_USER" \
      || id -u "$RUN_USER" >/dev/null 2>&1 || die "cannot create user $RUN_USER"
  fi
}

# Run a command as the unprivileged user (or directly when we already are not root).
as_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u "$RUN_USER" -- "$@"; else "$@"; fi
}

start() {
  if pid_alive; then
    if healthy || wait_healthy; then echo "$URL"; return 0; fi
    die "instance $INSTANCE is running (pid $(cat "$PIDFILE")) but not healthy; see $DIR/logs"
  fi
  if curl -fsS --max-time 2 "$URL" >/dev/null 2>&1; then
    die "port $PORT is already served by another process (not instance $INSTANCE)"
  fi
  local zip home major java_home
  zip="$(download)"
  [ "$(id -u)" -eq 0 ] && ensure_user
  mkdir -p "$WORK_ROOT"; chmod 755 "$WORK_ROOT"
  home="$DIR/home"
  if [ ! -f "$DIR/.unpacked-$VERSION" ]; then
    rm -rf "$DIR"
    mkdir -p "$DIR/unpack"
    unzip -q "$zip" -d "$DIR/unpack" || die "unzip of $zip failed"
    mv "$DIR/unpack"/* "$home"; rmdir "$DIR/unpack"
    chmod +x "$home"/bin/*
    touch "$DIR/.unpacked-$VERSION"
  fi
  mkdir -p "$DIR/data" "$DIR/logs" "$DIR/run" "$DIR/tmp"
  echo "$PORT" > "$PORTFILE"
  if [ "$SECURE" = 1 ]; then touch "$DIR/run/secure"; else rm -f "$DIR/run/secure"; fi
  if [ "$TLS" = 1 ]; then touch "$DIR/run/tls"; make_certs; else rm -f "$DIR/run/tls"; fi
  rm -f "$PIDFILE"
  if [ "$(id -u)" -eq 0 ]; then chown -R "$RUN_USER" "$DIR"; fi
  major="${VERSION%%.*}"
  local common=(-Ediscovery.type=single-node -Enetwork.host=127.0.0.1 -Ehttp.port="$PORT"
    -Etransport.port="$TRANSPORT_PORT" -Epath.data="$DIR/data" -Epath.logs="$DIR/logs"
    -Ecluster.name="cfship-$INSTANCE" -Enode.name="$INSTANCE"
    -Ecluster.routing.allocation.disk.threshold_enabled=false)
  local kv
  for kv in $EXTRA_SETTINGS; do common+=("-E$kv"); done
  local opts="-Xms$HEAP -Xmx$HEAP"
  log "starting $INSTANCE ($ARTIFACT $VERSION) on $URL, transport $TRANSPORT_PORT, logs in $DIR/logs"
  if [ "$KIND" = es ]; then
    if [ "$major" -ge 9 ]; then java_home="$(java_home_for 21)"; else java_home="$(java_home_for 17)"; fi
    local sec=(-Expack.security.enabled=false)
    if [ "$SECURE" = 1 ]; then
      sec=(-Expack.security.enabled=true -Expack.security.authc.api_key.enabled=true
        -Expack.security.authc.token.enabled=true -Expack.security.transport.ssl.enabled=false)
      if [ "$TLS" = 1 ]; then
        mkdir -p "$home/config/certs"
        cp "$DIR/certs/ca.pem" "$DIR/certs/node.pem" "$DIR/certs/node.key" "$home/config/certs/"
        [ "$(id -u)" -eq 0 ] && chown -R "$RUN_USER" "$home/config/certs"
        sec+=(-Expack.security.http.ssl.enabled=true -Expack.security.http.ssl.key=certs/node.key
          -Expack.security.http.ssl.certificate=certs/node.pem
          -Expack.security.http.ssl.certificate_authorities=certs/ca.pem
          -Expack.security.http.ssl.client_authentication=required)
      else
        sec+=(-Expack.security.http.ssl.enabled=false)
      fi
      if ! grep -q "^$ADMIN_USER:" "$home/config/users" 2>/dev/null; then
        (cd "$home" && as_user env ES_JAVA_HOME="$java_home" ./bin/elasticsearch-users useradd "$ADMIN_USER" \
          -p "$ADMIN_PASS" -r superuser >"$DIR/logs/users.log" 2>&1) \
          || { cat "$DIR/logs/users.log" >&2; die "cannot create user $ADMIN_USER"; }
      fi
      # a read-only user (built-in role viewer) for negative privilege tests
      if ! grep -q "^cfship-viewer:" "$home/config/users" 2>/dev/null; then
        (cd "$home" && as_user env ES_JAVA_HOME="$java_home" ./bin/elasticsearch-users useradd cfship-viewer \
          -p "$ADMIN_PASS" -r viewer >>"$DIR/logs/users.log" 2>&1) \
          || { cat "$DIR/logs/users.log" >&2; die "cannot create user cfship-viewer"; }
      fi
    fi
    (cd "$home" && as_user env ES_JAVA_HOME="$java_home" ES_JAVA_OPTS="$opts" ES_TMPDIR="$DIR/tmp" \
      ./bin/elasticsearch -d -p "$PIDFILE" "${common[@]}" "${sec[@]}" \
      >"$DIR/logs/stdout.log" 2>&1) || { tail -n 40 "$DIR/logs/stdout.log" >&2; die "elasticsearch failed to start"; }
  else
    if [ "$major" -ge 3 ]; then java_home="$(java_home_for 21)"; else java_home="$(java_home_for 17)"; fi
    (cd "$home" && as_user env OPENSEARCH_JAVA_HOME="$java_home" OPENSEARCH_JAVA_OPTS="$opts" \
      OPENSEARCH_TMPDIR="$DIR/tmp" ./bin/opensearch -d -p "$PIDFILE" "${common[@]}" \
      >"$DIR/logs/stdout.log" 2>&1) || { tail -n 40 "$DIR/logs/stdout.log" >&2; die "opensearch failed to start"; }
  fi
  if wait_healthy; then echo "$URL"; return 0; fi
  tail -n 40 "$DIR/logs/stdout.log" "$DIR/logs/"*.log 2>/dev/null | tail -n 60 >&2 || true
  die "$INSTANCE did not reach yellow within ${WAIT_SECS}s"
}

# A throwaway CA, a node certificate for 127.0.0.1/localhost and a client certificate (test use only).
make_certs() {
  local c="$DIR/certs"
  [ -s "$c/client-bundle.pem" ] && return 0
  command -v openssl >/dev/null || die "openssl not found (needed for --tls)"
  mkdir -p "$c"
  (
    cd "$c"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=cfship test CA" \
      -keyout ca.key -out ca.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout node.key -out node.csr
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > node.ext
    openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile node.ext -out node.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=cfship-client" -keyout client.key -out client.csr
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile client.ext -out client.pem
    cat client.pem client.key > client-bundle.pem
    chmod 644 ./*.pem ./*.key
  ) >"$DIR/logs/certs.log" 2>&1 || { cat "$DIR/logs/certs.log" >&2; die "certificate generation failed"; }
}

wait_healthy() {
  local deadline=$((SECONDS + WAIT_SECS))
  while [ $SECONDS -lt $deadline ]; do
    if healthy; then return 0; fi
    # give the daemon a moment to write its pid file before declaring it dead
    if [ $SECONDS -gt $((deadline - WAIT_SECS + 15)) ] && ! pid_alive; then
      log "$INSTANCE exited during startup"; return 1
    fi
    sleep 1
  done
  return 1
}

stop() {
  if ! pid_alive; then echo "$INSTANCE: not running"; rm -f "$PIDFILE"; return 0; fi
  local pid; pid="$(cat "$PIDFILE")"
  log "stopping $INSTANCE (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 120); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; echo "$INSTANCE: stopped"; return 0; }
    sleep 0.5
  done
  log "$INSTANCE did not stop within 60s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  echo "$INSTANCE: killed"
}

status() {
  if pid_alive; then
    if healthy; then echo "$INSTANCE: running (pid $(cat "$PIDFILE")) $URL"; return 0; fi
    echo "$INSTANCE: running (pid $(cat "$PIDFILE")) but not healthy $URL"; return 1
  fi
  echo "$INSTANCE: stopped"; return 3
}

case "$CMD" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) echo "$URL" ;;
  *) usage ;;
esac

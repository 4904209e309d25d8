#!/usr/bin/env bash
# Builds (Maven, dependencies from Maven Central cached in ~/.m2) and runs the embedded-OpenSearch
# ingest oracle: one node with Elastic's cloudflare pipelines (files kept outside the repository). See docs/oracles.md.
#
#   oracles/opensearch-ingest/run.sh --work DIR --geoip DIR [--manifest TSV --pipelines DIR]
#       [--logpush-manifest TSV --logpush-pipelines DIR]
#
# Prints "CFSHIP-ORACLE-READY <port>" on stdout when serving; stops at end of stdin.
# Java 21+ is needed (OpenSearch 3.x): $CFSHIP_JAVA21_HOME, else the first JDK 21+ under /usr/lib/jvm.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

java_home="${CFSHIP_JAVA21_HOME:-}"
if [ -z "$java_home" ]; then
  for j in /usr/lib/jvm/temurin-25* /usr/lib/jvm/temurin-2[1-9]* /usr/lib/jvm/java-2[1-9]-openjdk* /usr/lib/jvm/*-2[1-9]*; do
    if [ -x "$j/bin/java" ]; then java_home="$j"; break; fi
  done
fi
[ -n "$java_home" ] && [ -x "$java_home/bin/java" ] || { echo "run.sh: no Java 21+ (set CFSHIP_JAVA21_HOME)" >&2; exit 3; }
command -v mvn >/dev/null || { echo "run.sh: mvn not found" >&2; exit 3; }

# Rebuild only when a source or the pom is newer than the jar.
jar="$here/target/opensearch-ingest-oracle-1.jar"
cp_file="$here/target/classpath.txt"
if [ ! -s "$jar" ] || [ ! -s "$cp_file" ] || [ -n "$(find "$here/pom.xml" "$here/src" -newer "$jar" -print -quit)" ]; then
  JAVA_HOME="$java_home" mvn -B -q -f "$here/pom.xml" package dependency:build-classpath \
    -Dmdep.outputFile="$cp_file" >&2
fi

exec "$java_home/bin/java" -Xms256m -Xmx768m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  --enable-native-access=ALL-UNNAMED \
  -cp "$jar:$(cat "$cp_file")" dev.cfship.oracle.Oracle \
  --ua-regexes "$repo/crates/cfship-useragent/regexes/regexes.yml" "$@"

#!/usr/bin/env bash
# Compiles (when needed) and runs the Lucene reference program. Needs java + javac and Debian's liblucene8-java
# (jars in /usr/share/java, override with LUCENE_JARS=dir). Build output goes to tools/lucene-ref/build/ (gitignored).
#   tools/lucene-ref/run.sh index  <corpus.jsonl> <indexDir> [--k1 1.2] [--b 0.75] [--no-merge]
#   tools/lucene-ref/run.sh search <indexDir> <queries.jsonl> <run.trec> [--k 1000] [--repeat 3] [--warmup 2]
#   tools/lucene-ref/run.sh tokens < strings.jsonl   (one JSON string per line in, a JSON array of tokens per line out)
#   tools/lucene-ref/run.sh build  (compile only)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
jars="${LUCENE_JARS:-/usr/share/java}"
cp="$jars/lucene-core.jar:$jars/lucene-analyzers-common.jar"
for j in lucene-core lucene-analyzers-common; do
  if [ ! -e "$jars/$j.jar" ]; then
    found=$(ls "$jars"/$j-8*.jar 2>/dev/null | head -1 || true)
    [ -n "$found" ] || { echo "lucene-ref: $jars/$j.jar not found (install liblucene8-java or set LUCENE_JARS)" >&2; exit 3; }
    cp="${cp/$jars\/$j.jar/$found}"
  fi
done
command -v javac >/dev/null || { echo "lucene-ref: javac not found (install a JDK)" >&2; exit 3; }
build="$here/build"
src="$here/src/LuceneRef.java"
if [ ! -f "$build/LuceneRef.class" ] || [ "$src" -nt "$build/LuceneRef.class" ]; then
  mkdir -p "$build"
  javac -encoding UTF-8 -d "$build" -cp "$cp" "$src"
fi
[ "${1:-}" = "build" ] && exit 0
exec java -Xss4m -cp "$build:$cp" LuceneRef "$@"

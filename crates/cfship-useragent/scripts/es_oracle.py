#!/usr/bin/env python3
"""Record what a real Java `user_agent` ingest processor emits for a list of user agents.

The oracle is an OpenSearch node (a fork of Elasticsearch 7.10 whose `user_agent` processor still
has Elasticsearch's matching, replacement and joining code) loaded with *our* regexes file as a
custom `regex_file`, so the comparison covers the Java regex engine and the processor logic with
the exact pattern list this crate embeds. Setup (from the repository root):

    scripts/search-engine.sh start opensearch --name uaoracle --port 9290   # unpack, then:
    scripts/search-engine.sh stop opensearch --name uaoracle
    H=/tmp/cfship-search/opensearch-uaoracle/home
    mkdir -p $H/config/ingest-user-agent
    cp crates/cfship-useragent/regexes/regexes.yml $H/config/ingest-user-agent/es810.yml
    chown -R cfship-search $H/config/ingest-user-agent
    scripts/search-engine.sh start opensearch --name uaoracle --port 9290

    python3 crates/cfship-useragent/scripts/es_oracle.py URL corpus.json out.jsonl

corpus.json is a JSON list of strings. Each output line is
{"ua": ..., "name": ..., "version": ..., "os_name": ..., "os_version": ..., "os_full": ..., "device": ...}
with null for fields the processor did not emit. Only the standard library is used.
"""
import json
import sys
import urllib.request

BATCH = 500


def simulate(url, agents):
    body = {
        "pipeline": {"processors": [{"user_agent": {"field": "ua", "regex_file": "es810.yml"}}]},
        "docs": [{"_source": {"ua": ua}} for ua in agents],
    }
    req = urllib.request.Request(
        url.rstrip("/") + "/_ingest/pipeline/_simulate",
        data=json.dumps(body).encode("utf-8"),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        docs = json.load(resp)["docs"]
    out = []
    for ua, doc in zip(agents, docs):
        if "error" in doc:
            raise SystemExit(f"processor error for {ua!r}: {doc['error']}")
        got = doc["doc"]["_source"]["user_agent"]
        os_ = got.get("os") or {}
        out.append({
            "ua": ua,
            "name": got.get("name"),
            "version": got.get("version"),
            "os_name": os_.get("name"),
            "os_version": os_.get("version"),
            "os_full": os_.get("full"),
            "device": (got.get("device") or {}).get("name"),
        })
    return out


def main():
    url, corpus_path, out_path = sys.argv[1:4]
    with open(corpus_path, encoding="utf-8") as f:
        corpus = json.load(f)
    with open(out_path, "w", encoding="utf-8") as out:
        for i in range(0, len(corpus), BATCH):
            for rec in simulate(url, corpus[i:i + BATCH]):
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"{len(corpus)} user agents recorded in {out_path}", file=sys.stderr)


if __name__ == "__main__":
    main()

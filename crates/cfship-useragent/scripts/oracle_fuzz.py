#!/usr/bin/env python3
"""Generate odd user-agent-like strings for es_oracle.py from a corpus made by oracle_corpus.py.

    python3 oracle_fuzz.py corpus.json fuzz.json
"""
import json
import random
import sys

FRAGMENTS = [
    "Mozilla/5.0 ", "(Windows NT 10.0; Win64; x64) ", "AppleWebKit/537.36 ", "(KHTML, like Gecko) ",
    "Chrome/", "Safari/", "Firefox/", "Version/", "Mobile ", "Android ", "iPhone OS ", "CPU OS ",
    "like Mac OS X", "Build/", "bot", "Spider", "crawler", "CFNetwork/", "Darwin/", "MSIE ", "Trident/",
    "OPR/", "Edge/", "SM-", "HTC ", "Nokia", "; wv)", "Linux; U; ", "rv:", "Gecko/", "$1", "\\", "(", ")",
    ";", "/", ".", "_", " ", "\n", "\r", "\u0085", "\u2028", "\u00e9", "\u65e5\u672c", "\u212a", "\u017f",
    "\u0663", "\t", "\u00a0", "Ice", "Pocket Casts", "Player FM", " Build", "; ", "KFTT", "Kindle",
    "Silk/", "PlayStation", "Xbox", "SMART-TV", "Tizen", "HbbTV/", "Opera Mini/", "UCBrowser/",
    "YaBrowser/", "Edg/", "SamsungBrowser/", "MiuiBrowser/", "Electron/", "Slack/", "okhttp/",
    "Go-http-client/", "python-requests/", "Java/", "curl/", "Wget/", "WordPress/",
    "facebookexternalhit/", "Twitterbot/", "Googlebot", "bingbot", "Baiduspider", "YandexBot",
    "AhrefsBot", "SemrushBot", "MJ12bot", "DotBot", "PetalBot", "Applebot",
]


def number(rng):
    return ".".join(str(rng.randint(0, 999)) for _ in range(rng.randint(1, 4)))


def main():
    corpus_path, out_path = sys.argv[1:3]
    with open(corpus_path, encoding="utf-8") as f:
        corpus = json.load(f)
    rng = random.Random(42)
    out = []
    for _ in range(15000):
        parts = [rng.choice(FRAGMENTS) if rng.random() < 0.75 else number(rng)
                 for _ in range(rng.randint(1, 14))]
        out.append("".join(parts))
    for _ in range(10000):
        a, b = rng.choice(corpus), rng.choice(corpus)
        k = rng.random()
        if k < 0.3:
            s = a[:rng.randint(0, len(a))] + b[rng.randint(0, len(b)):]
        elif k < 0.5:
            s = a.lower()
        elif k < 0.7:
            s = a.upper()
        elif k < 0.85:
            i = rng.randint(0, len(a))
            s = a[:i] + rng.choice(FRAGMENTS) + a[i:]
        else:
            s = a.replace(" ", "")
        out.append(s)
    for _ in range(3000):
        out.append("".join(
            chr(rng.choice([rng.randint(32, 126), rng.randint(0x80, 0x2FFF), rng.randint(0, 31)]))
            for _ in range(rng.randint(0, 60))))
    out = list(dict.fromkeys(out))
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f)
    print(f"{len(out)} strings", file=sys.stderr)


if __name__ == "__main__":
    main()

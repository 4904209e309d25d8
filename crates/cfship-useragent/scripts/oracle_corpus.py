#!/usr/bin/env python3
"""Build the user-agent list for es_oracle.py: every distinct `user_agent_string` of a uap-core
checkout's test files, plus edge cases. Needs PyYAML.

    python3 oracle_corpus.py /path/to/uap-core corpus.json
"""
import json
import sys

import yaml

FILES = [
    "tests/test_ua.yaml", "tests/test_os.yaml", "tests/test_device.yaml",
    "test_resources/additional_os_tests.yaml", "test_resources/firefox_user_agent_strings.yaml",
    "test_resources/opera_mini_user_agent_strings.yaml", "test_resources/pgts_browser_list.yaml",
    "test_resources/podcasting_user_agent_strings.yaml",
]

EDGE_CASES = [
    "", " ", "Something I made up v42.0.1", "ESPN APP", "ESPN APP\n", "ESPN APP\r\n", "x PTST/1.2\n",
    "Java/17.0.11", "WordPress/5.2.2;https://cf-analytics.com", "curl/7.68.0",
    "Mozilla/5.0(WindowsNT10.0;Win64;x64)AppleWebKit/537.36(KHTML,likeGecko)Chrome/91.0.4472.124Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Linux; Android 10; \u212a\u212a-X) Build/abc",
    "Mozilla/5.0 (Linux; Android 10; HTC One\u2028X Build/1)",
    "Mozilla/5.0 (Linux; Android 10; Xoom\u0085 Build/1)", "\u00e9favicon bot", "\u017fafari",
    "Mozilla/5.0 (Linux; Android 4.4; Nexus 5 Build/\u0663\u0664) AppleWebKit/537.36 Chrome/\u0663\u0664.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/87.0.4280.141 Safari/537.36 " + "x (y; z) " * 3000,
]


def main():
    root, out = sys.argv[1:3]
    seen, corpus = set(), []
    for name in FILES:
        with open(f"{root}/{name}", encoding="utf-8") as f:
            for case in yaml.safe_load(f)["test_cases"]:
                ua = case.get("user_agent_string")
                if isinstance(ua, str) and ua not in seen:
                    seen.add(ua)
                    corpus.append(ua)
    for ua in EDGE_CASES:
        if ua not in seen:
            seen.add(ua)
            corpus.append(ua)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(corpus, f)
    print(f"{len(corpus)} user agents", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Near-duplicate detection with datasketch, timed, to compare with ajuste's dedup.

Usage (run by `ajuste bench data`): python datasketch_dedup.py TEXTS.jsonl [NUM_PERM] [THRESHOLD] [NGRAM]

Each input line is {"text": ...}: a record's matching text as ajuste's `record_text` gives it
(already normalised), so both tools shingle the same words. Shingles are word n-grams joined
by one space (the whole text when it has fewer than n words), as in ajuste. Each record is
queried against the LSH index of the records before it and then inserted; a record with any
candidate counts as removed (datasketch's usual workflow: no verification step).

Prints one JSON object: {"records", "seconds", "removed": [indices]}. The time covers
shingling, MinHash and LSH, not reading the file.
"""

import json
import sys
import time

from datasketch import MinHash, MinHashLSH


def shingles(text, n):
    words = text.split(" ") if text else []
    if not words:
        return []
    if len(words) < n:
        return [text.encode("utf-8")]
    return [" ".join(words[i : i + n]).encode("utf-8") for i in range(len(words) - n + 1)]


def main():
    path = sys.argv[1]
    num_perm = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    threshold = float(sys.argv[3]) if len(sys.argv) > 3 else 0.8
    ngram = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    with open(path, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]

    start = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    removed = []
    for i, text in enumerate(texts):
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch(shingles(text, ngram))
        if lsh.query(m):
            removed.append(i)
        lsh.insert(i, m)
    seconds = time.perf_counter() - start

    json.dump({"records": len(texts), "seconds": seconds, "removed": removed}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

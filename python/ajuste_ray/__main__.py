"""``python -m ajuste_ray INPUT... -o KEPT_DIR [--report R.json]``: the Ray dedup from a shell,
with the flags of ``ajuste data dedup``."""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ajuste_ray", description=__doc__)
    p.add_argument("inputs", nargs="+", help="dataset files, read in this order")
    p.add_argument("-o", "--output", help="directory for the kept records (JSONL parts)")
    p.add_argument("--report", help="write the clusters as a JSON report")
    p.add_argument("--threshold", type=float, default=0.8)
    p.add_argument("--ngram", type=int, default=5)
    p.add_argument("--permutations", type=int, default=112)
    p.add_argument("--bands", type=int, default=14)
    p.add_argument("--dedup-seed", type=int, default=1)
    p.add_argument("--format", help="the dataset format (default: detected)")
    p.add_argument("--partitions", type=int, help="hash partitions per shuffle")
    p.add_argument("--address", help="Ray cluster address (default: start a local one)")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local cluster")
    args = p.parse_args(argv)

    import ray

    import ajuste_py

    from .pipeline import dedup

    ray.init(address=args.address, num_cpus=args.num_cpus, include_dashboard=False)
    config = {
        "threshold": args.threshold,
        "ngram": args.ngram,
        "permutations": args.permutations,
        "bands": args.bands,
        "seed": args.dedup_seed,
    }
    start = time.perf_counter()
    try:
        result = dedup(
            args.inputs,
            output=args.output,
            report=args.report,
            config=config,
            format=args.format,
            partitions=args.partitions,
        )
    except (ajuste_py.DedupError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    r = result.report
    print(
        json.dumps(
            {
                "records": r["records"],
                "kept": r["kept"],
                "exact_duplicates": r["exact_duplicates"],
                "near_duplicates": r["near_duplicates"],
                "clusters": len(r["clusters"]),
                "seconds": round(time.perf_counter() - start, 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

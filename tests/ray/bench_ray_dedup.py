"""Benchmark: near-duplicate removal of N generated records (default 1M), `ajuste data dedup
--near` on one machine against the Ray driver on a local Ray cluster, in records per second.

    python tests/ray/bench_ray_dedup.py [--records N] [--num-cpus C] [--workdir DIR]

Needs AJUSTE_BIN (or `ajuste` on PATH) and the `ajuste_py`/`ajuste_ray` packages (tests/ray/run.sh
--bench sets all of it up). Prints one line per side and checks that both kept the same records.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--num-cpus", type=int, default=os.cpu_count())
    p.add_argument("--workdir", help="where to put the generated file (default: a temp dir)")
    args = p.parse_args()
    ajuste = os.environ.get("AJUSTE_BIN") or shutil.which("ajuste")
    if not ajuste:
        print("set AJUSTE_BIN to the ajuste binary", file=sys.stderr)
        return 2
    work = args.workdir or tempfile.mkdtemp(prefix="ajuste-ray-bench-")
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, f"planted-{args.records}.jsonl")
    if not os.path.exists(data):
        subprocess.run(
            [ajuste, "bench", "data", "--records", str(args.records), "--write", data], check=True
        )
    size_mb = os.path.getsize(data) / 1e6
    n = args.records

    local_out = os.path.join(work, "local-kept.jsonl")
    t = time.perf_counter()
    subprocess.run(
        [ajuste, "data", "dedup", data, "--near", "-o", local_out],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    local_s = time.perf_counter() - t

    import ray

    import ajuste_ray

    t = time.perf_counter()
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    start_s = time.perf_counter() - t
    ray_out = os.path.join(work, "ray-kept")
    shutil.rmtree(ray_out, ignore_errors=True)
    t = time.perf_counter()
    result = ajuste_ray.dedup(data, output=ray_out)
    ray_s = time.perf_counter() - t
    ray.shutdown()

    same = _same_output(local_out, ray_out)
    print(f"{n} records ({size_mb:.0f} MB), {args.num_cpus} CPUs")
    print(f"local  ajuste data dedup --near   {n / local_s:>10.0f} records/s  ({local_s:7.1f} s)")
    print(
        f"ray    ajuste_ray.dedup (local cluster) {n / ray_s:>6.0f} records/s  ({ray_s:7.1f} s, "
        f"+{start_s:.1f} s ray.init)"
    )
    print(
        f"kept {result.report['kept']} ({result.report['exact_duplicates']} exact, "
        f"{result.report['near_duplicates']} near removed); outputs identical: {same}"
    )
    return 0 if same else 1


def _same_output(local_file: str, ray_dir: str) -> bool:
    """True when the Ray parts, concatenated in name order, equal the local output byte for
    byte (compared in chunks, without holding either in memory)."""
    parts = sorted(os.listdir(ray_dir))
    with open(local_file, "rb") as local:
        for name in parts:
            with open(os.path.join(ray_dir, name), "rb") as part:
                while chunk := part.read(1 << 20):
                    if local.read(len(chunk)) != chunk:
                        return False
        return local.read(1) == b""


if __name__ == "__main__":
    sys.exit(main())

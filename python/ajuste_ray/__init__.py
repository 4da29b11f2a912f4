"""ajuste's exact and near-duplicate removal on Ray Data.

The stages are ajuste's own (the ``ajuste_py`` wheel, built from the same Rust crate as the
``ajuste`` CLI); Ray Data reads the files, runs the map stages on the cluster and does the
shuffles and joins between them; the final union-find runs on the driver. The kept records are
identical to ``ajuste data dedup --near`` on the same file with the same parameters.

    import ray, ajuste_ray
    ray.init()
    result = ajuste_ray.dedup("data.jsonl", output="kept/", report="report.json",
                              config={"threshold": 0.8})
    result.report["kept"], result.kept_positions[:10]
"""

from .pipeline import DedupResult, dedup, detect_format
from .sink import JsonlLines
from .source import AjusteRecords

__all__ = ["AjusteRecords", "DedupResult", "JsonlLines", "dedup", "detect_format"]

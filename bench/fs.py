"""Read throughput of branchml:// and the gateway against plain files and moto, in one run.

    python bench/fs.py [--mb 1024]

- warm: a tracked file read whole through `branchml://` (chunks in the local store) vs the checked-out file;
- cold: the same read in a clone that holds only pointers (chunks from a local-folder blob remote);
- Parquet: one column of one row group through `branchml://` in a pointer-only clone, and the bytes it fetched;
- gateway: GetObject of the file through `branchml gateway` vs moto's S3 server, both on loopback, via boto3.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fsspec


def sh(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


def timed(run) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def project(tmp: Path, mb: int) -> tuple[Path, Path]:
    repo, server = tmp / "proj", tmp / "server.git"
    sh(sys.executable, "-m", "branchml", "init", str(repo))
    sh(sys.executable, "-m", "branchml", "track", "data/**", cwd=repo)
    sh(sys.executable, "-m", "branchml", "remote", "add", "origin", str(tmp / "blobs"), cwd=repo)
    sh("git", "init", "-q", "--bare", "-b", "main", str(server))
    sh("git", "remote", "add", "origin", str(server), cwd=repo)
    (repo / "data").mkdir()
    with open(repo / "data" / "big.bin", "wb") as out:
        for _ in range(mb):
            out.write(os.urandom(1 << 20))
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 2_000_000
    pq.write_table(pa.table({"a": pa.array(range(rows)), "b": pa.array([f"row-{i}" for i in range(rows)])}),
                   repo / "data" / "t.parquet", row_group_size=250_000)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "data", cwd=repo)
    sh("git", "push", "-q", "origin", "main", cwd=repo)
    copy = tmp / "copy"
    sh("git", "clone", "-q", str(server), str(copy))
    return repo, copy


def read_all(fs: fsspec.AbstractFileSystem, path: str) -> None:
    with fs.open(path, block_size=16 << 20) as f:
        while f.read(16 << 20):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024)
    options = parser.parse_args()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="branchml-bench-fs-") as tmp:
        repo, copy = project(Path(tmp), options.mb)
        warm = fsspec.filesystem("branchml", repo=str(repo), skip_instance_cache=True)
        results["plain file s"] = timed(lambda: (repo / "data" / "big.bin").read_bytes() and None)
        results["branchml:// warm s"] = timed(lambda: read_all(warm, "main/data/big.bin"))
        cold = fsspec.filesystem("branchml", repo=str(copy), skip_instance_cache=True)
        results["branchml:// cold s"] = timed(lambda: read_all(cold, "main/data/big.bin"))
        import pyarrow.parquet as pq

        fresh = fsspec.filesystem("branchml", repo=str(copy), skip_instance_cache=True)
        results["parquet one column cold s"] = timed(lambda: pq.ParquetFile(fresh.open("main/data/t.parquet")).read_row_group(0, columns=["a"]))
        stats = json.loads(sh(sys.executable, "-m", "branchml", "stats", "--json", cwd=copy))
        results["parquet file MiB"] = (repo / "data" / "t.parquet").stat().st_size / (1 << 20)
        results["stored in clone MiB (big.bin read whole + parquet column)"] = stats["stored_bytes"] / (1 << 20)
        results.update(gateway_vs_moto(repo, Path(tmp)))
    for name, value in results.items():
        print(f"{name:<60} {value:10.2f}")
    mib = options.mb
    print(f"throughput MiB/s: plain {mib / results['plain file s']:.0f}, warm {mib / results['branchml:// warm s']:.0f}, "
          f"cold {mib / results['branchml:// cold s']:.0f}, gateway {mib / results['gateway GetObject s']:.0f}, "
          f"moto {mib / results['moto GetObject s']:.0f}")
    out = Path(__file__).with_name(f"results-fs-{time.strftime('%Y%m%d')}.json")
    out.write_text(json.dumps({"mb": mib, "results": results}, indent=2) + "\n")


def gateway_vs_moto(repo: Path, tmp: Path) -> dict[str, float]:
    import boto3

    keys = json.loads(sh(sys.executable, "-m", "branchml", "gateway", "credentials", "--json", cwd=repo))
    gw_port, moto_port = port(), port()
    servers = [subprocess.Popen([sys.executable, "-m", "branchml", "gateway", "--port", str(gw_port)], cwd=repo,
                                stderr=subprocess.DEVNULL),
               subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(moto_port)], stderr=subprocess.DEVNULL)]
    try:
        time.sleep(3)
        gw = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{gw_port}", region_name="us-east-1",
                          aws_access_key_id=keys["access_key_id"], aws_secret_access_key=keys["secret_access_key"])
        moto = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto_port}", region_name="us-east-1",
                            aws_access_key_id="x", aws_secret_access_key="x")
        moto.create_bucket(Bucket="bench")
        moto.upload_file(str(repo / "data" / "big.bin"), "bench", "big.bin")
        bucket = repo.name
        return {"gateway GetObject s": timed(lambda: gw.download_file(bucket, "main/data/big.bin", str(tmp / "gw.bin"))),
                "moto GetObject s": timed(lambda: moto.download_file("bench", "big.bin", str(tmp / "moto.bin")))}
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()

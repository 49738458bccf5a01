"""Building blocks for the data-flow tests: real images, row files and branches of a real repo."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

from conftest import bml, git


def png(seed: int, size: int = 24) -> bytes:
    from PIL import Image

    rng = random.Random(seed)
    image = Image.new("RGB", (size, size))
    image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(size * size)])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def broken_png(seed: int) -> bytes:
    data = png(seed)
    return data[: len(data) // 2]  # valid header, truncated pixel data


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def parquet(rows: list[dict]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), out)
    return out.getvalue()


def write_files(folder: Path, files: dict[str, bytes]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [str(folder / name) for name in files]


def data_repo(repo: Path) -> Path:
    """The `repo` fixture with PNGs tracked through the store and a first commit on main."""
    bml(repo, "track", "*.png")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Project set-up")
    return repo


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def status(repo: Path) -> str:
    return git(repo, "status", "--porcelain", "--untracked-files=all")


def bml_json(repo: Path, *args: str):
    return json.loads(bml(repo, *args, "--json").stdout)


def manifest(repo: Path, rev: str = "HEAD") -> dict[tuple[str, str], str]:
    text = git(repo, "show", f"{rev}:data/manifest.csv")
    return {(r["source_path"], r["example_id"]): r["split"] for r in csv.DictReader(io.StringIO(text))}

"""Build the small IMDB sample that ships in data/raw/ from the original aclImdb_v1.tar.gz.

The sample keeps the original archive layout (aclImdb/{train,test}/{pos,neg}, train/unsup), so the
quick start exercises the same reader as the full dataset. Selection is seeded and reproducible:

    python scripts/make_imdb_sample.py \
        ../shared/datasets/imdb/aclImdb_v1.tar.gz data/raw/imdb_sample.tar.gz
"""

from __future__ import annotations

import argparse
import io
import random
import tarfile
from pathlib import Path

PER_FOLDER = {
    ("train", "pos"): 1000,
    ("train", "neg"): 1000,
    ("test", "pos"): 500,
    ("test", "neg"): 500,
    ("train", "unsup"): 500,
}


def build_sample(source: Path, target: Path, seed: int = 20110619) -> dict[tuple[str, str], int]:
    members: dict[tuple[str, str], list[tarfile.TarInfo]] = {key: [] for key in PER_FOLDER}
    with tarfile.open(source, "r:gz") as archive:
        readme = None
        for member in archive:
            parts = member.name.split("/")
            if member.name == "aclImdb/README":
                readme = archive.extractfile(member).read()
            elif len(parts) == 4 and (parts[1], parts[2]) in members and member.isfile():
                members[(parts[1], parts[2])].append(member)
        rng = random.Random(seed)
        chosen = {
            key: sorted(
                rng.sample(sorted(found, key=lambda m: m.name), PER_FOLDER[key]),
                key=lambda m: m.name,
            )
            for key, found in members.items()
        }
        tmp = target.with_suffix(".tmp")
        with tarfile.open(tmp, "w:gz", compresslevel=9) as out:
            if readme is not None:
                info = tarfile.TarInfo("aclImdb/README")
                info.size = len(readme)
                out.addfile(info, io.BytesIO(readme))
            for key in sorted(chosen):
                for member in chosen[key]:
                    out.addfile(member, archive.extractfile(member))
    tmp.replace(target)
    return {key: len(found) for key, found in chosen.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args()
    print(build_sample(args.source, args.target))


if __name__ == "__main__":
    main()

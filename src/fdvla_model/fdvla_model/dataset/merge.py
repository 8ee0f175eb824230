"""Several episode datasets -> one: demonstrations recorded in several sessions, on several
machines, or by parallel generators, trained on together.

The sources must describe the same data (fps, cameras and their image sizes, state / action /
wrench names, and the frame the vectors are in: a target-frame dataset does not mix with a
base-frame one); otherwise it is an error naming the first difference. Episodes are renumbered
in source order, their files hard linked where the file system allows (copied otherwise), each
episode.json keeps where it came from (`extra.merged_from`), and meta.json lists the sources.
An episode is written under `.partial` and renamed, as the writer does, so an interrupted merge
never leaves half an episode.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .meta import EPISODE_FILE, EPISODE_PREFIX, PARTIAL_SUFFIX, DatasetError, create_dataset, \
    episode_dirs, link_or_copy, load_meta
from .target_frame import dataset_frame

#: meta.json `extra` key listing a merged dataset's sources.
SOURCES_KEY = "merged_from"


@dataclass
class MergeReport:
    per_source: dict  # source path -> episodes taken

    @property
    def episodes(self) -> int:
        return sum(self.per_source.values())


def _description(meta) -> dict:
    return {"fps": meta.fps, "cameras": [(c.name, c.height, c.width) for c in meta.cameras],
            "state names": list(meta.state_names), "action names": list(meta.action_names),
            "wrench names": list(meta.wrench_names), "frame": dataset_frame(meta)}


def merge_datasets(sources, dst, progress: bool = True) -> MergeReport:
    """Write every finished episode of `sources` (in order) into the new dataset `dst`."""
    from tqdm import tqdm

    sources = [Path(s) for s in sources]
    if not sources:
        raise DatasetError("merge: give at least one source dataset")
    dst = Path(dst)
    if any(s.resolve() == dst.resolve() for s in sources):
        raise DatasetError(f"merge: {dst} is also a source")
    if len(set(s.resolve() for s in sources)) != len(sources):
        raise DatasetError("merge: a source is given twice (its episodes would be in twice)")
    metas = [load_meta(s) for s in sources]
    first = _description(metas[0])
    for src, meta in zip(sources[1:], metas[1:]):
        other = _description(meta)
        for key in first:
            if first[key] != other[key]:
                raise DatasetError(f"merge: {src} differs from {sources[0]} in its {key}: "
                                   f"{other[key]} against {first[key]}")
    if dst.exists() and any(dst.iterdir()):
        raise DatasetError(f"{dst} exists and is not empty")
    todo = [(src, ep) for src in sources for ep in episode_dirs(src)]
    if not todo:
        raise DatasetError("merge: the sources hold no finished episode")
    extra = {k: v for k, v in metas[0].extra.items() if k != SOURCES_KEY}
    extra[SOURCES_KEY] = [str(s) for s in sources]
    m = metas[0]
    create_dataset(dst, m.fps, {c.name: (c.height, c.width) for c in m.cameras},
                   state_names=m.state_names, action_names=m.action_names,
                   wrench_names=m.wrench_names, extra=extra)
    report = MergeReport({str(s): 0 for s in sources})
    for index, (src, ep) in enumerate(tqdm(todo, desc="merge", unit="ep", disable=not progress)):
        name = f"{EPISODE_PREFIX}{index:06d}"
        tmp = dst / (name + PARTIAL_SUFFIX)
        tmp.mkdir()
        for f in sorted(ep.iterdir()):
            if f.is_file() and f.name != EPISODE_FILE:
                link_or_copy(f, tmp / f.name)
        info = json.loads((ep / EPISODE_FILE).read_text())
        info["index"] = index  # the folder's number: two sources both have an episode 0
        info.setdefault("extra", {})[SOURCES_KEY] = {"dataset": str(src), "episode": ep.name}
        (tmp / EPISODE_FILE).write_text(json.dumps(info, indent=2) + "\n")
        os.rename(tmp, dst / name)
        report.per_source[str(src)] += 1
    return report

"""EpisodeDataset: the dataset's frames as training samples (a map-style torch Dataset)."""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from .meta import _EPISODE_DIR_RE, DatasetError, episode_dirs, load_meta
from .meta import MASK_SUFFIX
from .reader import _load_episode_info, load_episode_arrays, load_episode_images, load_episode_masks


class EpisodeDataset:
    """Training samples from an episode dataset; a map-style torch Dataset.

    Sample i is frame t of some episode:
      images[cam]   float32 (3, H, W) in [0, 1]
      state         float32 (S,)          at t
      wrench        float32 (6,)          at t (NaN if the episode has no force sensor);
                    (K, 6) with wrench_history=K: frames t-K+1..t, the episode's first
                    frame repeated before its start (`wrench_window`)
      actions       float32 (chunk, A)    actions[t : t+chunk], padded with the last action
      action_is_pad bool    (chunk,)      True on the padded rows
      task          str                   the episode's instruction
      episode_index, frame_index  int
      masks[cam]    bool (H, W)           with_masks=True only: the camera's foreground mask

    torch's default collate turns a list of these into the batch FDVLAPolicy.compute_loss takes.
    With images_as_uint8=True images stay uint8 (3, H, W); `images_to_float` converts them later
    (on the GPU, in training).
    Arrays are opened lazily per process, so DataLoader workers each hold their own mmaps.
    """

    def __init__(self, root, chunk_size: int, *, camera_names: Optional[Sequence[str]] = None,
                 episodes: Optional[Iterable[int]] = None, images_as_uint8: bool = False,
                 with_masks: bool = False, wrench_history: int = 1):
        self.root = Path(root)
        if int(wrench_history) < 1:
            raise ValueError("wrench_history must be at least 1")
        self.wrench_history = int(wrench_history)
        if not self.root.is_dir():
            raise DatasetError(f"dataset directory {self.root} does not exist")
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self.meta = load_meta(self.root)
        self.chunk_size = int(chunk_size)
        # uint8 keeps DataLoader worker -> trainer traffic 4x smaller; see images_to_float
        self.images_as_uint8 = bool(images_as_uint8)
        self.camera_names = tuple(camera_names) if camera_names is not None else self.meta.camera_names
        for name in self.camera_names:
            self.meta.camera(name)  # raises for an unknown camera
        dirs = episode_dirs(self.root)
        if episodes is not None:
            wanted = set(int(e) for e in episodes)
            dirs = [d for d in dirs if int(_EPISODE_DIR_RE.match(d.name).group(1)) in wanted]
        self.episodes = [_load_episode_info(d, self.meta) for d in dirs]
        if not self.episodes:
            raise DatasetError(f"{self.root} holds no finished episodes")
        self.with_masks = bool(with_masks)
        if self.with_masks:
            missing = [f"{e.path.name}/{cam}{MASK_SUFFIX}" for e in self.episodes
                       for cam in self.camera_names if not (e.path / f"{cam}{MASK_SUFFIX}").is_file()]
            if missing:
                raise DatasetError(
                    f"{len(missing)} foreground masks are missing (e.g. {missing[0]}); semantic "
                    "augmentation needs them for every episode and camera (simulated demos "
                    "recorded with masks: scripts/make_default_policy.py demos --masks)")
        self._starts = np.cumsum([0] + [e.length for e in self.episodes]).tolist()
        self._lowdim: dict = {}
        self._images: dict = {}

    def __len__(self) -> int:
        return self._starts[-1]

    def locate(self, i: int) -> tuple:
        """Sample index -> (position in self.episodes, frame index)."""
        if not 0 <= i < len(self):
            raise IndexError(i)
        k = bisect.bisect_right(self._starts, i) - 1
        return k, i - self._starts[k]

    def _arrays(self, k: int) -> dict:
        if k not in self._lowdim:
            self._lowdim[k] = load_episode_arrays(self.episodes[k].path)
        return self._lowdim[k]

    def _frames(self, k: int, cam: str) -> np.ndarray:
        key = (k, cam)
        if key not in self._images:
            self._images[key] = load_episode_images(self.episodes[k].path, cam)
        return self._images[key]

    def measured_wrench_fraction(self) -> float:
        """Share of frames with a measured (finite) wrench."""
        measured = sum(int(np.isfinite(self._arrays(k)["wrench"]).all(axis=1).sum())
                       for k in range(len(self.episodes)))
        return measured / len(self)

    def has_force(self) -> bool:
        """True when every frame of every episode has a measured wrench."""
        return self.measured_wrench_fraction() == 1.0

    def __getitem__(self, i: int) -> dict:
        import torch

        k, t = self.locate(int(i))
        ep = self.episodes[k]
        arrays = self._arrays(k)
        end = min(t + self.chunk_size, ep.length)
        actions = np.empty((self.chunk_size, self.meta.action_dim), dtype=np.float32)
        actions[: end - t] = arrays["action"][t:end]
        actions[end - t:] = arrays["action"][ep.length - 1]
        is_pad = np.zeros(self.chunk_size, dtype=bool)
        is_pad[end - t:] = True
        images = {}
        for cam in self.camera_names:
            frame = torch.from_numpy(np.array(self._frames(k, cam)[t])).permute(2, 0, 1)  # copy out of the mmap
            images[cam] = frame.contiguous() if self.images_as_uint8 else images_to_float(frame)
        sample = {
            "images": images,
            "state": torch.from_numpy(arrays["state"][t].astype(np.float32)),
            "wrench": torch.from_numpy(wrench_window(arrays["wrench"], t, self.wrench_history)),
            "actions": torch.from_numpy(actions),
            "action_is_pad": torch.from_numpy(is_pad),
            "task": ep.instruction,
            "episode_index": ep.index,
            "frame_index": t,
        }
        if self.with_masks:
            sample["masks"] = {cam: torch.from_numpy(np.array(self._masks(k, cam)[t]))
                               for cam in self.camera_names}
        return sample

    def _masks(self, k: int, cam: str) -> np.ndarray:
        key = (k, cam, "mask")
        if key not in self._images:
            self._images[key] = load_episode_masks(self.episodes[k].path, cam)
        return self._images[key]


def wrench_window(wrenches: np.ndarray, t: int, history: int = 1) -> np.ndarray:
    """float32 (6,) at frame t for history 1, else (history, 6) of frames t-history+1..t, oldest
    first, with frame 0 standing in for frames before the episode started (the policy node's
    history repeats its oldest reading the same way)."""
    if history == 1:
        return wrenches[t].astype(np.float32)
    index = np.clip(np.arange(t - history + 1, t + 1), 0, None)
    return wrenches[index].astype(np.float32)


def images_to_float(images):
    """uint8 image tensor(s) (..., 3, H, W) -> float32 in [0, 1], on the tensor's device."""
    import torch

    return images.to(torch.float32).div_(255.0) if images.dtype == torch.uint8 else images

"""The on-disk episode dataset: writer, reader (torch Dataset), statistics, synthetic data.

Layout (format version 1; docs/dataset.md is the reference):

    DATASET/
      meta.json                    format, version, fps, cameras + image shapes, field names
      episode_000000/
        episode.json               instruction, task, length, success, extra
        lowdim.safetensors         timestamp (T,) f64, state (T,S) f32, action (T,A) f32,
                                   wrench (T,6) f32 (NaN rows where no sensor was present)
        <camera>.npy               uint8 (T,H,W,3) RGB, one per camera in meta.json
        <camera>.mask.npy          optional: bool (T,H,W) foreground (sim segmentation), for
                                   semantic augmentation (train --augment-background)
      episode_000001/ ...

Why this shape: every file is a format numpy/safetensors read without our code, images are
plain .npy so `np.load(mmap_mode="r")` pages in only the frames a sample touches (no decoder in
the data loader, no pickle), and one folder per episode lets a recorder append episodes while
a reader skips the ones still being written. An episode is written under
`episode_NNNNNN.partial/` and renamed when it is closed, so a crash never leaves a half episode
that a reader would take for a whole one.

Row t of every array is one control step: the observation (images, state, wrench) sampled at
timestamp[t] and the action commanded at that step (the target TCP pose to reach next).

Files (one job each):
  meta.py             the layout's names, meta.json (DatasetMeta), create_dataset, load_meta, episode_dirs
  writer.py           EpisodeWriter: one episode frame by frame, crash-safe
  reader.py           one finished episode: episode.json, its arrays, its memory-mapped frames
  episode_dataset.py  EpisodeDataset, the torch Dataset training reads; images_to_float
  stats.py            dataset moments and the model's normalisation statistics
  synthetic.py        write_synthetic_dataset, a small learnable dataset for tests and demos
  target_label.py     episode_target: where an episode's task target was (recorded, or the TCP
                      at first contact), dataset_targets
  target_frame.py     write_target_frame_dataset: episodes in their targets' frames (ViTaL)
  merge.py            merge_datasets: several datasets of the same description -> one
"""

from .episode_dataset import EpisodeDataset, images_to_float
from .meta import (
    DEFAULT_CAMERAS,
    EPISODE_FILE,
    EPISODE_PREFIX,
    FORMAT_NAME,
    FORMAT_VERSION,
    LOWDIM_FILE,
    META_FILE,
    PARTIAL_SUFFIX,
    POLICY_DATASET_META,
    CameraSpec,
    DatasetError,
    DatasetMeta,
    create_dataset,
    episode_dirs,
    load_meta,
)
from .reader import EpisodeInfo, load_episode_arrays, load_episode_images
from .stats import MIN_STD, compute_dataset_moments, compute_normalization_stats
from .synthetic import SyntheticSurface, write_synthetic_dataset
from .writer import EpisodeWriter

__all__ = [
    "DEFAULT_CAMERAS",
    "EPISODE_FILE",
    "EPISODE_PREFIX",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "LOWDIM_FILE",
    "META_FILE",
    "MIN_STD",
    "PARTIAL_SUFFIX",
    "POLICY_DATASET_META",
    "CameraSpec",
    "DatasetError",
    "DatasetMeta",
    "EpisodeDataset",
    "EpisodeInfo",
    "EpisodeWriter",
    "SyntheticSurface",
    "compute_dataset_moments",
    "compute_normalization_stats",
    "create_dataset",
    "episode_dirs",
    "images_to_float",
    "load_episode_arrays",
    "load_episode_images",
    "load_meta",
    "write_synthetic_dataset",
]

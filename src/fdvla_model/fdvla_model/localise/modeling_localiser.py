"""The scene localiser network: scene image -> the task target's position (and yaw) in `base`.

A small CNN (strided convolutions, GroupNorm, ReLU; two coordinate channels appended to the
image, CoordConv) with two readouts of its last feature maps, concatenated into an MLP:

- a coarse spatial grid: a 1x1 convolution to a few channels, average-pooled to a fixed grid and
  flattened. A fixed camera maps the target's image location to its table position, and this
  readout is a linear function of *where* features are, so regression starts learning at once.
  (Without it, the spatial-softmax path alone sat on a plateau predicting the mean placement for
  hundreds of steps on two of three seeds: its heat maps and the MLP weights reading them must
  grow together from their small initial values.)
- spatial-softmax keypoints (Levine et al. 2016; Finn et al. 2016): K heat maps, each
  softmax-normalised over the image, give their expected image coordinates (x, y), finer than
  the grid's cells; plus globally pooled features, which carry the appearance cues a yaw needs.

Outputs:

- `output="position"`: xyz, normalised by the training labels' mean/std (stored in the config);
  `output="pixel"` (a pointer): the target's pixel, the expected cell of one more heat map
  (`pointer_map`), in [-1, 1] of the image's width and height (cell centres, so any input size
  maps to the same point); the caller lifts it to `base` with depth.
- when `yaw_symmetry` k > 0, (cos k*yaw, sin k*yaw): continuous, and the same for yaw and
  yaw + 2*pi/k, so a socket with four-fold symmetry has one answer, not four.

No pickle anywhere: weights are safetensors, the configuration JSON.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .configuration_localiser import LocaliserConfig, LocaliserConfigError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class LocaliserLoadError(ValueError):
    """A saved localiser folder is missing, incomplete or corrupt."""


# ---------------------------------------------------------------------------- yaw encoding
def encode_yaw(yaw, symmetry: int) -> np.ndarray:
    """yaw (rad, any shape) -> (..., 2) = (cos k*yaw, sin k*yaw); yaw and yaw + 2*pi/k agree."""
    if symmetry <= 0:
        raise ValueError("encode_yaw needs a yaw symmetry k > 0")
    a = symmetry * np.asarray(yaw, dtype=np.float64)
    return np.stack([np.cos(a), np.sin(a)], axis=-1)


def decode_yaw(encoded, symmetry: int) -> np.ndarray:
    """(..., 2) -> yaw in (-pi/k, pi/k] (the representative of its class modulo 2*pi/k)."""
    if symmetry <= 0:
        raise ValueError("decode_yaw needs a yaw symmetry k > 0")
    e = np.asarray(encoded, dtype=np.float64)
    return np.arctan2(e[..., 1], e[..., 0]) / symmetry


def yaw_error(predicted, true, symmetry: int) -> np.ndarray:
    """|predicted - true| modulo 2*pi/k, in [0, pi/k] (rad)."""
    if symmetry <= 0:
        raise ValueError("yaw_error needs a yaw symmetry k > 0")
    d = symmetry * (np.asarray(predicted, dtype=np.float64) - np.asarray(true, dtype=np.float64))
    return np.abs(np.angle(np.exp(1j * d))) / symmetry


# ---------------------------------------------------------------------------- images
def images_to_tensor(images) -> torch.Tensor:
    """uint8 (H, W, 3) or (B, H, W, 3) RGB (numpy or torch) -> float (B, 3, H, W) in [0, 1]."""
    t = torch.as_tensor(np.asarray(images)) if not isinstance(images, torch.Tensor) else images
    if t.dim() == 3:
        t = t.unsqueeze(0)
    if t.dim() != 4 or t.shape[-1] != 3:
        raise ValueError(f"expected RGB images (H, W, 3) or (B, H, W, 3), got shape {tuple(t.shape)}")
    if t.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images, got {t.dtype}")
    return t.permute(0, 3, 1, 2).float().div_(255.0)


class SpatialSoftmax(nn.Module):
    """(B, K, H, W) heat maps -> (B, K, 2) expected (x, y) in [-1, 1], with a learned temperature.

    `cell_centres`: a cell's coordinate is its centre's in the image ((i + 0.5) / n * 2 - 1,
    as bilinear resizing without aligned corners maps them), for a pointer that must name an
    image point; otherwise the first and last cells sit at -1 and 1 (the keypoints' features)."""

    def __init__(self, cell_centres: bool = False):
        super().__init__()
        self.log_temperature = nn.Parameter(torch.zeros(()))
        self.cell_centres = cell_centres

    def _axis(self, n: int, like: torch.Tensor) -> torch.Tensor:
        if self.cell_centres:
            return (torch.arange(n, device=like.device, dtype=like.dtype) + 0.5) / n * 2.0 - 1.0
        return torch.linspace(-1.0, 1.0, n, device=like.device, dtype=like.dtype)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        b, k, h, w = maps.shape
        weights = F.softmax(maps.reshape(b, k, h * w) / self.log_temperature.exp(), dim=-1)
        ys, xs = self._axis(h, maps), self._axis(w, maps)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        coords = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=-1)  # (HW, 2)
        return weights @ coords


def _groups(channels: int) -> int:
    for g in (8, 4, 2):
        if channels % g == 0:
            return g
    return 1


class SceneLocaliser(nn.Module):
    """Scene image -> target position (m, `base`) and, with a yaw symmetry, its yaw (rad)."""

    def __init__(self, config: LocaliserConfig):
        super().__init__()
        self.config = config
        layers = []
        # Two extra input channels hold the pixel coordinates (CoordConv): position is what the
        # network must read out, so let the first layers see it directly.
        c_in = 3 + 2
        for i, c_out in enumerate(config.conv_channels):
            kernel = 5 if i == 0 else 3
            stride = 2 if i < 2 else 1
            layers += [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2),
                       nn.GroupNorm(_groups(c_out), c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        self.backbone = nn.Sequential(*layers)
        self.head = None  # a pointer without yaw has only its own heat map
        if config.output_dim:
            self.keypoint_maps = nn.Conv2d(c_in, config.keypoints, 1)
            self.spatial_softmax = SpatialSoftmax()
            self.grid_readout = nn.Sequential(nn.Conv2d(c_in, config.grid_channels, 1),
                                              nn.AdaptiveAvgPool2d(config.grid_size), nn.Flatten())
            grid = config.grid_channels * config.grid_size[0] * config.grid_size[1]
            self.head = nn.Sequential(
                nn.Linear(grid + 2 * config.keypoints + c_in, config.hidden), nn.ReLU(inplace=True),
                nn.Linear(config.hidden, config.hidden), nn.ReLU(inplace=True),
                nn.Linear(config.hidden, config.output_dim))
        if config.points:
            self.pointer_map = nn.Conv2d(c_in, 1, 1)
            self.pointer_softmax = SpatialSoftmax(cell_centres=True)
        self.register_buffer("position_mean", torch.tensor(config.position_mean, dtype=torch.float32),
                             persistent=False)
        self.register_buffer("position_std", torch.tensor(config.position_std, dtype=torch.float32),
                             persistent=False)

    def set_normalisation(self, mean, std) -> None:
        """Store the label statistics (in the config too, so a saved model carries them)."""
        self.config = self.config.replace(position_mean=tuple(float(v) for v in mean),
                                          position_std=tuple(float(v) for v in std))
        self.position_mean.copy_(torch.tensor(self.config.position_mean))
        self.position_std.copy_(torch.tensor(self.config.position_std))

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """float (B, 3, H, W) in [0, 1] at any size -> the network input (resized, centred,
        coordinate channels appended)."""
        h, w = self.config.image_size
        if images.shape[-2:] != (h, w):
            images = F.interpolate(images, size=(h, w), mode="bilinear", align_corners=False,
                                   antialias=True)
        x = (images - 0.5) / 0.25
        b = x.shape[0]
        ys = torch.linspace(-1.0, 1.0, h, dtype=x.dtype, device=x.device)
        xs = torch.linspace(-1.0, 1.0, w, dtype=x.dtype, device=x.device)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        coords = torch.stack([grid_x, grid_y]).unsqueeze(0).expand(b, -1, -1, -1)
        return torch.cat([x, coords], dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """float (B, 3, H, W) in [0, 1] -> (B, 3 [+ 2]) raw outputs: normalised xyz (a pointer:
        the pixel's (x, y) in [-1, 1], 2 values), then (cos k*yaw, sin k*yaw) when the config
        predicts yaw."""
        features = self.backbone(self.prepare(images))
        parts = []
        if self.config.points:
            parts.append(self.pointer_softmax(self.pointer_map(features))[:, 0])
        if self.head is not None:
            keypoints = self.spatial_softmax(self.keypoint_maps(features)).flatten(1)
            pooled = features.mean(dim=(-2, -1))
            parts.append(self.head(torch.cat([self.grid_readout(features), keypoints, pooled],
                                             dim=1)))
        return torch.cat(parts, dim=1)

    def decode(self, outputs: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """Raw outputs (B, D) -> positions (B, 3) in metres (a pointer: its pixels (B, 2) in
        [-1, 1], `normalised_to_pixel` gives an image's) and yaws (B,) in rad (or None)."""
        out = outputs.detach().to(torch.float64).cpu()
        n = 2 if self.config.points else 3
        pos = out[:, :n] if self.config.points else \
            out[:, :3] * self.position_std.double().cpu() + self.position_mean.double().cpu()
        yaw = decode_yaw(out[:, n:n + 2].numpy(), self.config.yaw_symmetry) \
            if self.config.predicts_yaw else None
        return pos.numpy(), yaw

    @torch.no_grad()
    def point(self, image_uint8) -> tuple[np.ndarray, float | None]:
        """A pointer's answer for one uint8 (H, W, 3) RGB scene image: (pixel (u, v) of that
        image, integers at pixel centres as `CameraIntrinsics`, yaw rad or None). Lift it with
        the aligned depth image and the camera's calibration
        (fdvla_msgs.camera_geometry.lift_pixel)."""
        if not self.config.points:
            raise ValueError("this localiser regresses positions (output 'position'); use predict()")
        image = np.asarray(image_uint8)
        if image.ndim != 3:
            raise ValueError(f"point takes one (H, W, 3) image, got shape {image.shape}")
        xy, yaw = self.decode(self(images_to_tensor(image[None]).to(self.position_mean.device)))
        return normalised_to_pixel(xy[0], image.shape[:2]), (None if yaw is None else float(yaw[0]))

    @torch.no_grad()
    def predict_batch(self, images_uint8) -> tuple[np.ndarray, np.ndarray | None]:
        """uint8 (B, H, W, 3) RGB -> positions (B, 3) m and yaws (B,) rad, or None without yaw."""
        device = self.position_mean.device
        return self.decode(self(images_to_tensor(images_uint8).to(device)))

    def predict(self, image_uint8) -> tuple[np.ndarray, float | None]:
        """One uint8 (H, W, 3) RGB scene image -> (position (3,) m in `base`, yaw rad or None)."""
        if self.config.points:
            raise ValueError("this localiser points at a pixel (output 'pixel'), which needs depth "
                             "to become a position: use point() and lift the pixel")
        image = np.asarray(image_uint8)
        if image.ndim != 3:
            raise ValueError(f"predict takes one (H, W, 3) image, got shape {image.shape}")
        pos, yaw = self.predict_batch(image[None])
        return pos[0], (None if yaw is None else float(yaw[0]))


def pixel_to_normalised(pixels, image_hw) -> np.ndarray:
    """(..., 2) pixel (u, v), integers at pixel centres -> (x, y) in [-1, 1] of the image (the
    pointer's output; bilinear resizing without aligned corners keeps it)."""
    h, w = image_hw
    p = np.asarray(pixels, dtype=np.float64)
    return np.stack([(p[..., 0] + 0.5) / w * 2.0 - 1.0, (p[..., 1] + 0.5) / h * 2.0 - 1.0], -1)


def normalised_to_pixel(xy, image_hw) -> np.ndarray:
    """The inverse of `pixel_to_normalised`, for an image of (height, width) `image_hw`."""
    h, w = image_hw
    q = np.asarray(xy, dtype=np.float64)
    return np.stack([(q[..., 0] + 1.0) / 2.0 * w - 0.5, (q[..., 1] + 1.0) / 2.0 * h - 0.5], -1)


# ---------------------------------------------------------------------------- save / load
def save_localiser(model: SceneLocaliser, directory) -> Path:
    """Write `config.json` and `model.safetensors` into `directory` (created if needed)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = directory / (WEIGHTS_FILE + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": "fdvla-localiser",
                                           "version": str(model.config.format_version)})
    tmp.replace(directory / WEIGHTS_FILE)
    model.config.to_json(directory / CONFIG_FILE)
    return directory


def load_localiser(directory, device: str | torch.device = "cpu") -> SceneLocaliser:
    """The localiser saved in `directory`, in eval mode; LocaliserLoadError saying what is wrong."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    if not directory.is_dir():
        raise LocaliserLoadError(f"no localiser at {directory}: not a directory")
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (directory / name).is_file():
            raise LocaliserLoadError(f"{directory} is not a saved localiser: {name} is missing")
    try:
        config = LocaliserConfig.from_json(directory / CONFIG_FILE)
    except LocaliserConfigError as e:
        raise LocaliserLoadError(f"{directory / CONFIG_FILE}: {e}") from e
    try:
        tensors = load_file(str(directory / WEIGHTS_FILE))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise LocaliserLoadError(f"{directory / WEIGHTS_FILE} is not readable safetensors: {e}") from e
    model = SceneLocaliser(config)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise LocaliserLoadError(f"{directory / WEIGHTS_FILE} does not fit {CONFIG_FILE}: {e}") from e
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise LocaliserLoadError(f"{directory / WEIGHTS_FILE} holds non-finite weights: {bad}")
    return model.to(device).eval()


def mean_position_error(predicted: np.ndarray, true: np.ndarray) -> float:
    """Mean Euclidean distance (m) between (N, 3) position arrays."""
    return float(np.linalg.norm(np.asarray(predicted) - np.asarray(true), axis=-1).mean())


import os

# Offscreen rendering without a display (Mesa EGL on CPU, NVIDIA EGL with a GPU).
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

"""FD-VLA bringup: the node-graph definition, the pip-mode runner and the `fdvla` CLI."""

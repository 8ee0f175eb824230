"""A real AF_UNIX socket server speaking spacenavd's protocol v0 (8 int32 per event), for tests."""

import os
import socket
import struct
import threading

EVENT = struct.Struct("=8i")


class SpacenavdServer:
    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.clients = []
        self._accept = threading.Thread(target=self._run, daemon=True)
        self._accept.start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.clients.append(c)

    def wait_client(self, timeout=10.0):
        import time

        t_end = time.monotonic() + timeout
        while not self.clients:
            if time.monotonic() > t_end:
                raise AssertionError("no client connected to the spacenavd socket")
            time.sleep(0.01)

    def send(self, *ints):
        data = EVENT.pack(*ints)
        for c in self.clients:
            c.sendall(data)

    def motion(self, x=0, y=0, z=0, rx=0, ry=0, rz=0, period=8):
        self.send(0, x, y, z, rx, ry, rz, period)

    def button(self, b, pressed):
        self.send(1 if pressed else 2, b, 0, 0, 0, 0, 0, 0)

    def close(self):
        for c in self.clients:
            c.close()
        self.sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

"""A command run on a pseudo-terminal, and a small terminal screen that replays its output: what a
person sees, as text (the progress display's screenshot tests).

The screen knows what a live display uses: carriage return, line feed, cursor up/down/forward/back
(``ESC[nA``/``B``/``C``/``D``), erase line (``ESC[2K``, ``ESC[K``), and ignores colours and
cursor visibility. ``frames`` keeps the screen as it was each time the display started a redraw
(a cursor-up or line erase after text), i.e. every frame the person saw.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time

_CSI = re.compile(rb"\x1b\[([0-9;?]*)([A-Za-z])")


def run_in_pty(argv: list[str], env: dict[str, str], cols: int = 100, rows: int = 40, timeout: float = 300.0
               ) -> tuple[int, bytes]:
    """(exit status, everything written to the terminal) of ``argv`` run with stdout and stderr on a
    pseudo-terminal of ``cols`` x ``rows``."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env={**env, "COLUMNS": str(cols),
                                                                                 "LINES": str(rows), "TERM": "xterm"},
                            close_fds=True, start_new_session=True)
    os.close(slave)
    out = bytearray()
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal closed: the process is done
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
    finally:
        os.close(master)
    return proc.wait(30), bytes(out)


class Screen:
    """A terminal screen of ``cols`` columns fed with a byte stream."""

    def __init__(self, cols: int = 100):
        self.cols = cols
        self.lines: list[list[str]] = [[]]
        self.row = self.col = 0
        self.frames: list[str] = []
        self._drew = False  # text written since the last cursor-up

    def feed(self, data: bytes) -> Screen:
        text = data.replace(b"\r\n", b"\n")
        pos = 0
        for m in _CSI.finditer(text):
            self._write(text[pos:m.start()].decode("utf-8", "replace"))
            self._csi(m.group(1).decode(), m.group(2).decode())
            pos = m.end()
        self._write(text[pos:].decode("utf-8", "replace"))
        return self

    def text(self) -> str:
        return "\n".join("".join(line).rstrip() for line in self.lines).rstrip() + "\n"

    def _line(self) -> list[str]:
        while len(self.lines) <= self.row:
            self.lines.append([])
        return self.lines[self.row]

    def _write(self, s: str) -> None:
        for ch in s:
            if ch == "\r":
                self.col = 0
            elif ch == "\n":
                self.row, self.col = self.row + 1, 0
                self._line()
            elif ch == "\x1b" or ord(ch) < 32:
                continue
            else:
                line = self._line()
                while len(line) < self.col:
                    line.append(" ")
                if self.col < len(line):
                    line[self.col] = ch
                else:
                    line.append(ch)
                self.col += 1
                self._drew = True

    def _csi(self, args: str, cmd: str) -> None:
        n = int(args) if args.isdigit() else 1
        if self._drew and (cmd == "A" or (cmd == "K" and args == "2")):  # a redraw starts: the frame is complete
            self.frames.append(self.text())
            self._drew = False
        if cmd == "A":
            self.row = max(0, self.row - n)
        elif cmd == "B":
            self.row += n
        elif cmd == "C":
            self.col += n
        elif cmd == "D":
            self.col = max(0, self.col - n)
        elif cmd == "K" and args in ("", "0"):
            del self._line()[self.col:]
        elif cmd == "K" and args == "2":
            self._line().clear()

"""Streaming commands show progress and rows/s on a terminal, and nothing when stderr is not one."""

from __future__ import annotations

import io

from controller.cli.progress import CountingWriter, Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_the_total_and_the_rate() -> None:
    term = Terminal()
    progress = Progress("kunci audit verify", stream=term, unit="events")
    for _ in range(3):
        progress.add(5000)
    progress.done()
    last = term.getvalue().split("\r")[-1]
    assert last.startswith("kunci audit verify: 15,000 events in ") and "events/s)" in last


def test_a_pipe_gets_nothing_and_the_output_is_unchanged() -> None:
    pipe, out = io.StringIO(), io.StringIO()
    progress = Progress("kunci log --format csv", stream=pipe)
    writer = CountingWriter(out, progress)
    writer.write("seq,time\r\n1,a\r\n")
    writer.write("2,b\r\n")
    progress.done()
    assert pipe.getvalue() == ""
    assert out.getvalue() == "seq,time\r\n1,a\r\n2,b\r\n"
    assert progress.count == 3

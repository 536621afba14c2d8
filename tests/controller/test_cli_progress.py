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


def test_verify_reports_every_event_it_checked(tmp_path) -> None:
    """The rate shown by ``kunci audit verify`` counts every checked event, the last partial batch included."""
    from controller.store import audit, audit_verify, db

    url = f"sqlite:///{tmp_path / 'k.db'}"
    db.upgrade_database(url)
    engine = db.make_engine(url)
    key = bytes(range(32))
    with db.session_factory(engine)() as session, session.begin():
        for i in range(23):
            audit.append(session, key, "door.opened", detail={"i": i})
    reported: list[int] = []
    with db.session_factory(engine, readonly=True)() as session, session.begin():
        result = audit_verify.verify(session, key, batch=5, progress=reported.append)
    engine.dispose()
    assert result.ok and result.checked == 23
    assert reported == [5, 5, 5, 5, 3]

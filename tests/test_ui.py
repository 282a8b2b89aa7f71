import io

from rich.console import Console

from elec import ui
from elec.ui import Reporter


def test_long_work_reports_progress_lines_when_output_is_no_terminal(monkeypatch, tmp_path):
    clock = [1000.0]
    monkeypatch.setattr(ui.time, "monotonic", lambda: clock[0])
    out = io.StringIO()
    with Reporter(tmp_path / "log.txt", console=Console(file=out, width=200)) as reporter:
        advance = reporter.bar("backbone epoch 1", 100)
        advance()  # quick work says nothing
        clock[0] += 31
        advance()
        clock[0] += 5
        advance()  # not again within 30 s
        clock[0] += 31
        advance(97)  # finished: no line
    lines = out.getvalue().split("\n")
    said = "backbone epoch 1: 2/100 (0.1/s, about 25 min left)"  # 2 in 31 s, 98 to go
    assert [line for line in lines if "epoch" in line] == [said]
    assert said in (tmp_path / "log.txt").read_text()

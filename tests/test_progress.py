"""Progress lines: done / total, rate and time left, throttled, resumed runs' rate."""

from zcjax import progress


def test_format_progress():
    assert progress.format_progress("archs", 120, 300, 2.4) == (
        "120/300 archs (40%), 2.40 archs/s, 1m15s left"
    )
    assert progress.format_progress("archs", 10, 300, 0.5) == (
        "10/300 archs (3%), 2.00 s per arch, 9m40s left"
    )
    assert progress.format_progress("generations", 0, 10, None) == "0/10 generations (0%)"
    assert progress.format_seconds(3 * 3600 + 125) == "3h02m"


def test_printer_throttles_and_rates_only_this_runs_work():
    now = [0.0]
    lines = []
    report = progress.printer(lines.append, every_s=10, clock=lambda: now[0])
    report("archs", 100, 300)  # a resumed run: 100 done before it started
    assert lines == ["resuming at 100/300 archs"]
    now[0] += 30  # the first arch compiles: left out of the rate
    report("archs", 101, 300)
    assert lines[-1] == "101/300 archs (34%)"
    for done in range(102, 301):
        now[0] += 0.5
        report("archs", done, 300)
    # a line at most every 10 s (every 20 archs here) and always the last one
    assert len(lines) == 12  # resuming, 101, 121, 141, ..., 281, 300
    assert lines[2] == "121/300 archs (40%), 2.00 archs/s, 1m30s left"
    assert lines[-1] == "300/300 archs (100%), 2.00 archs/s, 0s left"

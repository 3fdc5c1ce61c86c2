"""scripts/bench_step.py: the interleaved step timing behind train.py --channels-last."""

from __future__ import annotations

import pytest

from scripts import bench_step


def test_prints_both_medians_and_their_ratio(capsys):
    assert bench_step.main(["--width", "4", "--shape", "1x32x32", "--steps", "3", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert "default" in out and "channels_last" in out and "ratio channels_last / default:" in out


@pytest.mark.parametrize(
    "args", [["--steps", "2", "--warmup", "2"], ["--shape", "1x30x32"], ["--width", "0"]]
)
def test_bad_settings_are_refused(args, capsys):
    with pytest.raises(SystemExit) as info:
        bench_step.main(args)
    assert info.value.code == 2 and "need --steps > --warmup" in capsys.readouterr().err

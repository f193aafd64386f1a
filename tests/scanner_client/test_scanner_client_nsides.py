"""The nside progression rule SkyDriver's POST and the scanner server's --nsides share."""

import pytest

from scanner_client.nsides import NsidesError, progression_from_argv, progression_from_json, progression_to_argv


@pytest.mark.parametrize(
    "progression", [{8: 0}, {8: 0, 64: 12, 512: 24}, {1: 0, 2: 48, 8192: 1}, {8: 0, 16: 3072}]
)
def test_a_progression_survives_json_and_the_command_line(progression):
    as_json = {str(nside): extension for nside, extension in progression.items()}
    assert progression_from_json(as_json) == progression
    assert progression_from_argv(progression_to_argv(progression)) == progression


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (["8:1"], "must be 0"),
        (["8:0", "6:4"], "power of two"),
        (["16:0", "8:4"], "ascending"),
        (["8:0", "16:0"], "between 1 and 3072"),
        (["8:0", "16:3073"], "between 1 and 3072"),
        (["8"], "NSIDE:EXTENSION"),
        (["8:-1"], "NSIDE:EXTENSION"),
        (["８:0"], "power of two"),
        (["16384:0"], "between 1 and 8192"),
        ([], "at least one nside"),
    ],
)
def test_bad_progressions_are_refused_with_the_reason(bad, reason):
    with pytest.raises(NsidesError, match=reason):
        progression_from_argv(bad)

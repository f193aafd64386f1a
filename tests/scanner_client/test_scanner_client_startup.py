"""Waiting for the scanner server's startup file on the shared volume."""

import json
import threading

import pytest

from scanner_client.startup_file import StartupFileTimeout, wait_for_startup_file


def test_an_existing_complete_file_is_returned(startup_json):
    assert wait_for_startup_file(startup_json, timeout=5) == startup_json


def test_a_missing_file_times_out_with_the_path_and_the_flag_to_raise(tmp_path):
    missing = tmp_path / "startup.json"
    with pytest.raises(StartupFileTimeout) as raised:
        wait_for_startup_file(missing, timeout=0.05, poll_interval=0.01)
    assert str(missing) in str(raised.value)
    assert "--startup-timeout" in str(raised.value)


def test_a_half_written_file_is_not_taken_for_the_real_one(tmp_path):
    partial = tmp_path / "startup.json"
    partial.write_text('{"mq_basename": "to-cli')
    with pytest.raises(StartupFileTimeout):
        wait_for_startup_file(partial, timeout=0.05, poll_interval=0.01)


def test_the_wait_ends_when_the_server_finishes_writing(tmp_path):
    path = tmp_path / "startup.json"
    path.write_text('{"mq_basename": ')
    checked = threading.Event()

    def finish_writing() -> None:
        checked.wait()
        path.write_text(json.dumps({"mq_basename": "to-clients", "GCDQp_packet": []}))

    writer = threading.Thread(target=finish_writing)
    writer.start()
    checked.set()
    try:
        assert wait_for_startup_file(path, timeout=60, poll_interval=0.01) == path
    finally:
        writer.join()


def test_a_stop_request_ends_the_wait(tmp_path):
    stop = threading.Event()
    stop.set()
    with pytest.raises(StartupFileTimeout):
        wait_for_startup_file(tmp_path / "startup.json", timeout=3600, stop=stop)

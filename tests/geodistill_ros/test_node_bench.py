"""node_bench: /proc parsing with known values, the sampling window, latency percentiles, and a live sample of
this very process."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from geodistill_ros import node_bench as nb


def test_parse_proc_stat_counts_fields_after_a_name_with_spaces_and_parens():
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    line = "4242 (python (x) y) S 1 2 3 4 5 6 7 8 9 10 300 200 0 0 20 0 1 0"
    assert nb.parse_proc_stat(line) == pytest.approx(500 / nb.CLOCK_TICKS_PER_S)


def test_parse_statm_rss():
    pages = 2560
    assert nb.parse_proc_statm_rss_mib(f"9999 {pages} 10 1 0 5 0") == pytest.approx(pages * nb.PAGE_BYTES / 2**20)


def test_window_cpu_percent_and_rss_known_values():
    s = nb.ProcessSamples()
    for i in range(11):  # 10 s, 0.5 CPU-s per s -> 50 % of one core; RSS 100 -> 110 MiB
        s.t_ns.append(i * 1_000_000_000)
        s.cpu_s.append(0.5 * i)
        s.rss_mib.append(100.0 + i)
    w = s.window(0, 10_000_000_000)
    assert w["cpu_percent_of_one_core"] == pytest.approx(50.0)
    assert w["rss_mib_max"] == pytest.approx(110.0) and w["rss_mib_growth"] == pytest.approx(10.0)
    part = s.window(2_000_000_000, 4_000_000_000)  # 3 samples
    assert part["samples"] == 3 and part["window_s"] == pytest.approx(2.0)
    assert s.window(20_000_000_000, 30_000_000_000) == {}


def test_latency_percentiles_ignore_nan():
    lat = np.array([0.010, 0.020, np.nan, 0.030, 0.040])
    f = nb.latency_figures(lat)
    assert f["latency_samples"] == 4 and f["latency_ms_p50"] == pytest.approx(25.0)
    assert f["latency_ms_max"] == pytest.approx(40.0)
    assert nb.latency_figures(np.array([np.nan])) == {}


def test_sampler_sees_this_process_burn_cpu():
    sampler = nb.ProcessSampler(os.getpid(), period_s=0.05).start()
    t_end = time.monotonic() + 0.6
    x = 0
    while time.monotonic() < t_end:  # busy loop: about one core
        x += 1
    samples = sampler.stop()
    w = samples.window(samples.t_ns[0], samples.t_ns[-1])
    assert w["samples"] >= 5
    assert w["cpu_percent_of_one_core"] > 30.0  # a busy loop on a shared 2-core machine
    assert 10.0 < w["rss_mib_max"] < 10_000.0


def test_node_diagnostics_reads_the_node_status_only():
    from types import SimpleNamespace as NS

    def status(**values):
        return NS(values=[NS(key=k, value=v) for k, v in values.items()])

    msg = NS(status=[status(other="1"), status(latency_ms_p50="47.5", latency_ms_p99="nan", frames_dropped="3",
                                               frames_received="19")])
    assert nb.node_diagnostics(msg) == {"node_latency_ms_p50": 47.5, "node_frames_dropped": 3,
                                        "node_frames_received": 19}
    assert nb.node_diagnostics(NS(status=[status(other="1")])) == {}


def test_node_params_use_the_ros_args_spelling():
    assert nb.parse_node_params(["inference_threads:=1", "datum:=[1.0, 2.0]"]) == {
        "inference_threads": "1", "datum": "[1.0, 2.0]"}
    for bad in (["inference_threads=1"], [":=1"]):
        with pytest.raises(ValueError, match="NAME:=VALUE"):
            nb.parse_node_params(bad)

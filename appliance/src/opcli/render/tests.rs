use super::*;
use model::status::fixture::{fixture, hh, probe_summary, scan, tcp_rtt, usage, GIB};
use model::status::{Counters, Status};

const SNAPSHOT: &str = "\
tapscope 0.1.0   tap lab-tap-01   live on eth1   up 3d 04:05:06 (since 2025-06-01 08:00:00 UTC)

capture    worker  source            mode                          packets       bytes     busy
                0  eth1 queue 0      xdp-zerocopy-native       120,345,678    98.1 GiB   42.0 %
                1  eth1 queue 1      xdp-copy-native           119,002,003    97.3 GiB        -
                   total                                       239,347,681   195.4 GiB
parsed     239,300,000 IP packets, 47,681 not IP or not parsed
rate       1.2 Gbit/s   145.6 kpps   over the last 5 s
drops      src_dropped 1,024, src_fill_ring_empty 1,024, summary_queue_full 1, records_dropped 3,
           flow_table_full 12, name_reasm_full 7
nic        link up, 2 carrier changes; 239,350,000 received, 0 dropped, 0 missed
flows      81,234 active of 262,144 (31.0 %), 1,234,567 created, 1,153,333 written

top devices                                       top services
  living-room-tv                       60.0 GiB     Netflix                              58.0 GiB
  alice-laptop                         41.2 GiB     YouTube                              21.0 GiB
  bobs-iphone                           3.5 GiB     Zoom                                  9.1 GiB
  Unknown-192.168.1.77                512.0 MiB     unknown                               4.0 GiB
  printer                               1.4 MiB

video      1 playing, 3 ended   model video-rf-20261204-abc123
  living-room-tv           netflix          720p  startup  1.4 s  45.8 MiB

heavy hitters         rank     estimate    share  key
  src_bytes              1    392.9 MiB   41.2 %  192.168.1.20
                         2    114.4 MiB   12.0 %  192.168.1.31
                         3     61.5 MiB    6.5 %  10.8.0.2
  dst_bytes              1    370.0 MiB   38.8 %  198.51.100.7
                         2     92.5 MiB    9.7 %  2001:db8:85a3::8a2e:370:7334
  src_dport_packets      1       96,200   38.5 %  192.168.1.20 > tcp/443
                         2       40,100   16.0 %  192.168.1.31 > udp/443
                         3       12,004    4.8 %  192.168.1.66 > tcp/22
                         4        3,100    1.2 %  192.168.1.20 > udp/53
                         5        2,950    1.2 %  192.168.1.31 > udp/53

recent scans
  port_scan  192.168.1.66      1,024 ports  2025-06-04 12:05:00 UTC (6 s ago)
  host_scan  192.168.1.66         87 hosts  2025-06-04 12:04:00 UTC (1 min ago)
  port_scan  203.0.113.9       3,190 ports  2025-06-04 11:40:00 UTC (25 min ago)

probes     120 runs, 2 failed (1.7 %)
files      1,042 complete, 12.3 GiB written, 31 deleted by the quota, in /var/lib/tapscope
disk       9.1 GiB used of 19.5 GiB quota (46.7 %)
";

#[test]
fn render_snapshot() {
    let out = render(&fixture(), DEFAULT_WIDTH);
    for l in out.lines() {
        assert!(l.chars().count() <= 100, "too long: {l:?}");
    }
    assert_eq!(out, SNAPSHOT, "\n{out}");
}

#[test]
fn render_probe_tasks_snapshot() {
    let mut s = fixture();
    s.probes = Some(probe_summary(&s));
    let out = render(&s, DEFAULT_WIDTH);
    let start = out.find("\nprobes").unwrap() + 1;
    let end = out.find("\nfiles").unwrap() + 1;
    let expected = "\
probes     40 runs, 3 failed (7.5 %), 12 rows waiting for the disk, 2 rows dropped (buffer full)
  gateway         icmp        ok      12 s ago  rtt 0.41 ms (min 0.30 ms, max 0.90 ms), loss 0 %
  intranet-https  https       FAIL   1 min ago  cert_expired: TLS handshake with 10.1.0.5:443: inva…
  iperf           throughput  -              -  not run yet
  write error: creating /var/lib/tapscope/.inprogress/probes/x: No space left on device
";
    assert_eq!(&out[start..end], expected, "\n{}", &out[start..end]);
    for l in out.lines() {
        assert!(l.chars().count() <= 100, "too long: {l:?}");
    }
}

#[test]
fn render_fits_any_width() {
    let mut noisy = fixture();
    noisy.top_devices.push(usage(&"x".repeat(300), 1));
    noisy.heavy_hitters.push(hh(
        &"c".repeat(64),
        1,
        "tcp [2001:db8:85a3::8a2e:370:7334]:40000 > [2001:db8:85a3::8a2e:370:7335]:443",
        1,
        0.5,
    ));
    noisy.files.output_dir = "/ü".repeat(100);
    for s in [fixture(), noisy, Status::default()] {
        for width in [0, 1, 2, 10, 40, 60, 80, 96, 97, 100, 120] {
            let out = render(&s, width);
            for l in out.lines() {
                assert!(l.chars().count() <= width, "{width}: {l:?}");
            }
        }
    }
    let narrow = render(&fixture(), 80);
    assert!(narrow.contains("\ntop devices\n"), "{narrow}");
    assert!(narrow.contains("\ntop services\n"), "{narrow}");
    assert!(narrow.contains('…'), "{narrow}");
}

#[test]
fn render_default_says_nothing_yet() {
    let out = render(&Status::default(), DEFAULT_WIDTH);
    let expected = "\
tapscope   up 00:00:00

capture    no packets yet
rate       not measured yet
drops      none
flows      0 active, 0 created, 0 written

top devices                                       top services
  none yet                                          none yet

heavy hitters
  none yet

recent scans
  none

probes     not configured
files      none complete yet
disk       0 B used, no quota
";
    assert_eq!(out, expected, "\n{out}");
}

#[test]
fn render_replay_and_edge_cases() {
    let mut s = fixture();
    s.mode = "replay".into();
    s.interface = None;
    s.uptime_s = 65;
    s.queues.truncate(1);
    s.totals = Counters {
        packets: 1_793,
        bytes: 1_100_000,
        ip_packets: 1_791,
        parse_errors: 2,
        ..Counters::default()
    };
    s.probes = Some(ProbeSummary::default());
    s.files.quota_bytes = None;
    s.scans = (0..8)
        .map(|i| scan("port_scan", "10.0.0.1", 100 + i, 1_748_764_800))
        .collect();
    let out = render(&s, DEFAULT_WIDTH);
    assert!(out.starts_with("tapscope 0.1.0   tap lab-tap-01   replay   up 00:01:05 (since "));
    assert!(
        !out.contains("total"),
        "one queue needs no total row\n{out}"
    );
    assert!(!out.contains("\nnic"), "replay has no interface\n{out}");
    assert!(out.contains("\ndrops      none\n"));
    assert!(!out.contains("\ntime"), "no bad timestamp, no line\n{out}");
    assert!(out.contains("\nflows      0 active, 0 created"));
    assert!(out.contains("\n  and 3 more\n"));
    assert!(out.contains("\nprobes     none run yet\n"));
    assert!(out.contains("used, no quota\n"));

    let mut live = Status {
        mode: "live".into(),
        ..Status::default()
    };
    assert!(render(&live, 100).contains("\nnic        counters not read\n"));
    live.totals.link_up = Some(false);
    live.totals.carrier_changes = 1;
    assert!(render(&live, 100).contains("\nnic        link DOWN, 1 carrier change;"));

    s.totals.bad_timestamp = 1_234;
    let out = render(&s, DEFAULT_WIDTH);
    assert!(
        out.contains("\nparsed     1,791 IP packets, 2 not IP or not parsed\ntime       1,234 packets with a bad timestamp (counted at the latest good time)\n"),
        "{out}"
    );
}

#[test]
fn render_cleans_control_characters() {
    let mut s = fixture();
    s.top_devices[0].name = "evil\x1b[2J\x1b]0;owned\x07\u{202E}gpj.exe\r\n".into();
    s.heavy_hitters[0].key = "\x1b[31mred".into();
    s.tap_id = "tap\u{9b}31m".into();
    let out = render(&s, DEFAULT_WIDTH);
    assert!(
        !out.chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{202E}'),
        "{out:?}"
    );
    assert!(out.contains("evil?[2J?]0;owned??gpj.exe??"), "{out}");
    assert_eq!(out.lines().count(), SNAPSHOT.lines().count());
}

#[test]
fn counts_are_grouped() {
    assert_eq!(group(0), "0");
    assert_eq!(group(999), "999");
    assert_eq!(group(1_000), "1,000");
    assert_eq!(group(123_456), "123,456");
    assert_eq!(group(1_234_567), "1,234,567");
    assert_eq!(group(u64::MAX), "18,446,744,073,709,551,615");
}

#[test]
fn bytes_use_binary_units() {
    assert_eq!(human_bytes(0), "0 B");
    assert_eq!(human_bytes(1023), "1023 B");
    assert_eq!(human_bytes(1024), "1.0 KiB");
    assert_eq!(human_bytes(1536), "1.5 KiB");
    assert_eq!(human_bytes(1024 * 1024 - 1), "1.0 MiB");
    assert_eq!(human_bytes(GIB + GIB / 5), "1.2 GiB");
    assert_eq!(human_bytes(5 << 40), "5.0 TiB");
    assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
}

#[test]
fn bit_rates_use_decimal_units() {
    assert_eq!(format_rate_bits(0.0), "0 bit/s");
    assert_eq!(format_rate_bits(0.5), "0.5 bit/s");
    assert_eq!(format_rate_bits(950.0), "950 bit/s");
    assert_eq!(format_rate_bits(999.7), "1.0 kbit/s");
    assert_eq!(format_rate_bits(12_300_000.0), "12.3 Mbit/s");
    assert_eq!(format_rate_bits(999_960.0), "1.0 Mbit/s");
    assert_eq!(format_rate_bits(9.87e9), "9.9 Gbit/s");
    assert_eq!(format_rate_bits(4.0e15), "4000.0 Tbit/s");
    assert_eq!(format_rate_bits(-1.0), "n/a");
    assert_eq!(format_rate_bits(f64::NAN), "n/a");
    assert_eq!(format_rate_bits(f64::INFINITY), "n/a");
}

#[test]
fn packet_rates_use_decimal_units() {
    assert_eq!(format_rate_packets(0.0), "0 pps");
    assert_eq!(format_rate_packets(3.5), "3.5 pps");
    assert_eq!(format_rate_packets(120.0), "120 pps");
    assert_eq!(format_rate_packets(45_600.0), "45.6 kpps");
    assert_eq!(format_rate_packets(14_880_000.0), "14.9 Mpps");
    assert_eq!(format_rate_packets(f64::NAN), "n/a");
}

#[test]
fn durations_and_ages() {
    assert_eq!(format_duration(0), "00:00:00");
    assert_eq!(format_duration(59), "00:00:59");
    assert_eq!(format_duration(3_600 * 23 + 61), "23:01:01");
    assert_eq!(format_duration(86_400), "1d 00:00:00");
    assert_eq!(format_duration(273_906), "3d 04:05:06");
    assert_eq!(format_duration(400 * 86_400 + 1), "400d 00:00:01");
    assert_eq!(format_age(0), "0 s ago");
    assert_eq!(format_age(59), "59 s ago");
    assert_eq!(format_age(60), "1 min ago");
    assert_eq!(format_age(3_599), "59 min ago");
    assert_eq!(format_age(7_300), "2 h ago");
    assert_eq!(format_age(3 * 86_400), "3 d ago");
}

#[test]
fn percentages() {
    assert_eq!(format_percent(0.0), "0.0 %");
    assert_eq!(format_percent(0.42), "42.0 %");
    assert_eq!(format_percent(0.0645), "6.5 %");
    assert_eq!(format_percent(1.0), "100.0 %");
    assert_eq!(format_percent(f64::INFINITY), "-");
    assert_eq!(format_percent(f64::NAN), "-");
}

#[test]
fn utc_dates() {
    assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
    assert_eq!(format_utc(1_748_764_800), "2025-06-01 08:00:00 UTC");
    assert_eq!(format_utc(1_767_225_599), "2025-12-31 23:59:59 UTC");
    assert_eq!(format_utc(4_107_542_400), "2100-03-01 00:00:00 UTC");
}

#[test]
fn truncation_counts_chars_not_bytes() {
    assert_eq!(truncate("abc", 3), "abc");
    assert_eq!(truncate("abcd", 3), "ab…");
    assert_eq!(truncate("abcd", 1), "…");
    assert_eq!(truncate("abcd", 0), "");
    assert_eq!(truncate("", 0), "");
    assert_eq!(truncate("grüße", 5), "grüße");
    assert_eq!(truncate("grüßeñ", 5), "grüß…");
    assert_eq!(truncate("日本語テキスト", 4), "日本語…");
    assert_eq!(truncate("µs…", 3), "µs…");
}

#[test]
fn render_takes_a_partial_snapshot() {
    let text = r#"{
        "protocol": 2,
        "version": "0.9.0",
        "from_the_future": {"nested": [1, 2, 3]},
        "queues": [{"worker": 3, "packets": 10, "new_gauge": 1.5}],
        "totals": {"packets": 7, "link_up": false},
        "probes": {"runs": 4},
        "files": {"quota_bytes": null},
        "tcp_rtt": {"handshake": {"count": 2}}
    }"#;
    let s: Status = serde_json::from_str(text).unwrap();
    assert_eq!(s.queues[0].worker, 3);
    let out = render(&s, DEFAULT_WIDTH);
    assert!(
        out.contains("\ntcp rtt    2 handshakes   p50 -   p90 -   p99 -   max -\n"),
        "{out}"
    );
}

#[test]
fn render_tcp_rtt_line() {
    let mut s = fixture();
    s.tcp_rtt = tcp_rtt();
    let out = render(&s, DEFAULT_WIDTH);
    let flows = out.find("\nflows ").unwrap() + 1;
    let after: Vec<&str> = out[flows..].lines().take(3).collect();
    assert_eq!(
        after,
        [
            "flows      81,234 active of 262,144 (31.0 %), 1,234,567 created, 1,153,333 written",
            "tcp rtt    4,812 handshakes   p50 12.4 ms   p90 38.0 ms   p99 212 ms   max 1.21 s",
            "",
        ],
        "\n{out}"
    );
    assert_eq!(out.lines().count(), SNAPSHOT.lines().count() + 1);
    for l in out.lines() {
        assert!(l.chars().count() <= 100, "too long: {l:?}");
    }
    s.tcp_rtt.handshake.count = 1;
    assert!(render(&s, DEFAULT_WIDTH).contains("\ntcp rtt    1 handshake   p50"));
    // Nothing measured: no line.
    s.tcp_rtt = Default::default();
    assert_eq!(render(&s, DEFAULT_WIDTH), SNAPSHOT);
}

#[test]
fn times_keep_three_significant_digits() {
    assert_eq!(format_ms(0.0), "0.000 ms");
    assert_eq!(format_ms(0.4123), "0.412 ms");
    assert_eq!(format_ms(0.9996), "1.00 ms");
    assert_eq!(format_ms(4.123), "4.12 ms");
    assert_eq!(format_ms(9.996), "10.0 ms");
    assert_eq!(format_ms(38.04), "38.0 ms");
    assert_eq!(format_ms(99.96), "100 ms");
    assert_eq!(format_ms(212.4), "212 ms");
    assert_eq!(format_ms(999.4), "999 ms");
    assert_eq!(format_ms(999.6), "1.00 s");
    assert_eq!(format_ms(1_210.0), "1.21 s");
    assert_eq!(format_ms(60_000.0), "60.0 s");
    assert_eq!(format_ms(-1.0), "n/a");
    assert_eq!(format_ms(f64::NAN), "n/a");
}

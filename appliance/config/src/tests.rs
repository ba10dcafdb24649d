use super::*;
use datapath::sketch::{CounterSpec, Direction, Increment, KeyType, ProtoFilter};

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("tapscope.toml"))
}

#[test]
fn empty_file_gives_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.flows, FlowsSection::default());
    assert_eq!(c.capture.epoch_ms, 1000);
}

#[test]
fn example_file_parses_and_matches_defaults() {
    let text = include_str!("../../../tapscope.example.toml");
    let c = parse(text).unwrap();
    let d = Config::default();
    assert_eq!(c.capture, d.capture);
    assert_eq!(c.flows, d.flows);
    assert_eq!(c.output, d.output);
    assert_eq!(c.sketch, d.sketch);
    assert_eq!(c.probe, d.probe);
    // The example's tasks are commented out: none run by default.
    assert!(c.probes.is_empty());
}

#[test]
fn sketch_defaults_and_plan() {
    let c = parse("[capture]\nepoch_ms = 500\n[sketch]\nwindow_epochs = 4\n").unwrap();
    let p = c.sketch_plan();
    assert_eq!(p.counters, CounterSpec::defaults());
    assert_eq!(p.params.window_ns, 2 * NS);
    assert_eq!(p.params.top_k, 20);
    assert!(p.params.conservative && p.params.scans && p.params.flow_sizes);
    assert_eq!(p.validate(), Ok(()));
}

#[test]
fn sketch_counters_replace_the_defaults() {
    let text = "[sketch]\ntop_k = 5\n\n[[sketch.counters]]\nname = \"udp_services\"\nkey = \"dport\"\nincrement = \"packets\"\nprotocol = \"udp\"\n\n[[sketch.counters]]\nname = \"uploads\"\nkey = \"src\"\ndirection = \"c2s\"\n";
    let p = parse(text).unwrap().sketch_plan();
    assert_eq!(p.params.top_k, 5);
    assert_eq!(
        p.counters,
        vec![
            CounterSpec {
                protocol: ProtoFilter::Udp,
                ..CounterSpec::new("udp_services", KeyType::Dport, Increment::Packets)
            },
            CounterSpec {
                direction: Direction::ClientToServer,
                ..CounterSpec::new("uploads", KeyType::Src, Increment::Bytes)
            },
        ]
    );
    let none = parse("[sketch]\ncounters = []\n").unwrap().sketch_plan();
    assert!(none.counters.is_empty());
}

#[test]
fn bad_sketch_counter_names_its_entry_line_and_field() {
    let text = "[sketch]\n[[sketch.counters]]\nname = \"a\"\nkey = \"src\"\n[[sketch.counters]]\nname = \"b\"\nkey = \"sources\"\n";
    let e = parse(text).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("sketch.counters[1].key"));
    assert_eq!(e.line, Some(7));
    assert!(
        e.message.contains("\"sources\" is not one of \"src\""),
        "{}",
        e.message
    );
    let shown = e.to_string();
    assert!(
        shown.starts_with("tapscope.toml:7: `sketch.counters[1].key`:"),
        "{shown}"
    );
    // Unknown fields and duplicate names, located the same way.
    let e = parse("[[sketch.counters]]\nname = \"a\"\nkey = \"src\"\nkind = 1\n").unwrap_err();
    assert_eq!(e.line, Some(4));
    assert_eq!(e.key.as_deref(), Some("sketch.counters[0].kind"));
    assert!(e.message.contains("unknown field `kind`"), "{}", e.message);
    let e = parse("[[sketch.counters]]\nname = \"a\"\nkey = \"src\"\n[[sketch.counters]]\nname = \"a\"\nkey = \"dst\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("sketch.counters[1].name"));
    assert_eq!(e.line, Some(5));
    let e = parse("[sketch]\nerror = 2.0\n").unwrap_err();
    assert_eq!((e.key.as_deref(), e.line), (Some("sketch.error"), Some(2)));
    let e = parse("[sketch]\nconfidence = 1\n").unwrap_err();
    assert_eq!(e.line, Some(2));
}

#[test]
fn wrong_type_names_line_and_key() {
    let e = parse("tap_id = \"t1\"\n\n[flows]\ncapacity = \"lots\"\n").unwrap_err();
    assert_eq!(e.line, Some(4));
    assert_eq!(e.key.as_deref(), Some("flows.capacity"));
    let shown = e.to_string();
    assert!(
        shown.starts_with("tapscope.toml:4: `flows.capacity`:"),
        "{shown}"
    );
    assert!(shown.contains("invalid type"), "{shown}");
}

#[test]
fn unknown_key_is_rejected_with_its_line() {
    let e = parse("[flows]\ncapacty = 10\n").unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(
        e.message.contains("unknown field `capacty`"),
        "{}",
        e.message
    );
}

#[test]
fn out_of_range_value_names_key_and_range() {
    let e = parse("[capture]\nworkers = 2\nepoch_ms = 5\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("capture.epoch_ms"));
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("must be 10 to"), "{}", e.message);
}

#[test]
fn max_time_jump_reaches_the_workers_and_is_checked() {
    let c = parse("[capture]\nmax_time_jump_s = 3600\n").unwrap();
    let t = c.worker(0).time;
    assert_eq!(t.max_jump_ns, 3_600_000_000_000);
    assert_eq!(t.ceiling_ns, u64::MAX, "no ceiling but in replay");
    assert_eq!(
        Config::default().worker(0).time.max_jump_ns,
        86_400_000_000_000,
        "a day by default"
    );
    let e = parse("[capture]\nmax_time_jump_s = 0\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("capture.max_time_jump_s"));
    assert_eq!(e.line, Some(2));
}

#[test]
fn tap_id_must_be_file_name_safe() {
    let e = parse("tap_id = \"a/b\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("tap_id"));
    assert_eq!(e.line, Some(1));
}

#[test]
fn probe_tasks_parse_with_defaults() {
    let text = "[probe]\nmax_concurrent = 2\n\n[[probes]]\nname = \"gw\"\nkind = \"icmp\"\ntarget = \"192.0.2.1\"\ninterval_s = 30\ncount = 10\n\n[[probes]]\nname = \"web\"\nkind = \"https\"\ntarget = \"https://example.org/\"\nexpect_status = [200, 301]\nverify_tls = false\n";
    let c = parse(text).unwrap();
    assert_eq!(c.probe_settings().max_concurrent, 2);
    let t = c.probe_tasks();
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].kind, ProbeKind::Icmp);
    assert_eq!(t[0].interval, Duration::from_secs(30));
    assert_eq!(t[0].params.count, 10);
    // 9 x 200 ms + 1 s wait + 2 s.
    assert_eq!(t[0].timeout, Duration::from_millis(4800));
    assert_eq!(t[1].params.expect_status, vec![200, 301]);
    assert!(!t[1].params.verify_tls);
    assert_eq!(t[1].timeout, Duration::from_secs(30));
}

#[test]
fn bad_probe_entries_name_their_line_and_key() {
    let head = "[[probes]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"192.0.2.1:22\"\n";
    let e = parse(&format!(
        "{head}[[probes]]\nname = \"b\"\nkind = \"smtp\"\ntarget = \"x\"\n"
    ))
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("probes[1].kind"));
    assert_eq!(e.line, Some(7));
    assert!(
        e.message.contains("\"smtp\" is not one of \"icmp\""),
        "{}",
        e.message
    );
    let e = parse(&format!("{head}qtype = \"MX\"\n")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("probes[0].qtype"));
    assert_eq!(e.line, Some(5));
    assert!(
        e.message.contains("does not apply to kind \"tcp\""),
        "{}",
        e.message
    );
    let e =
        parse("[[probes]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"192.0.2.1\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("probes[0].target"));
    assert!(e.message.contains("needs a port"), "{}", e.message);
    let e = parse(&format!(
        "{head}[[probes]]\nname = \"a\"\nkind = \"icmp\"\ntarget = \"192.0.2.1\"\n"
    ))
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("probes[1].name"));
    assert_eq!(e.line, Some(6));
    let e = parse("[[probes]]\nname = \"d\"\nkind = \"dns\"\ntarget = \"example.org\"\nserver = \"dns.example\"\n").unwrap_err();
    assert_eq!(
        (e.key.as_deref(), e.line),
        (Some("probes[0].server"), Some(5))
    );
    let e =
        parse("[[probes]]\nname = \"h\"\nkind = \"http\"\ntarget = \"ftp://x/\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("probes[0].target"));
    let e = parse("[[probes]]\nname = \"h\"\nkind = \"icmp\"\ntarget = \"x\"\ncount = 0\n")
        .unwrap_err();
    assert_eq!(
        (e.key.as_deref(), e.line),
        (Some("probes[0].count"), Some(5))
    );
    let e = parse("[[probes]]\nname = \"h\"\nkind = \"icmp\"\ntarget = \"x\"\ncolor = 1\n")
        .unwrap_err();
    assert_eq!(e.line, Some(5));
    assert!(e.message.contains("unknown field `color`"), "{}", e.message);
    // A wrong value inside an entry: placed on its own key and line.
    let e = parse(
        "[[probes]]\nname = \"h\"\nkind = \"icmp\"\ntarget = \"x\"\nsize = 1\ncount = \"x\"\n",
    )
    .unwrap_err();
    assert_eq!(
        (e.key.as_deref(), e.line),
        (Some("probes[0].count"), Some(6))
    );
    assert!(e.message.contains("invalid type"), "{}", e.message);
    let e = parse(
        "[[probes]]\nname = \"t\"\nkind = \"throughput\"\ntarget = \"x\"\nprotocol = \"sctp\"\n",
    )
    .unwrap_err();
    assert_eq!(
        (e.key.as_deref(), e.line),
        (Some("probes[0].protocol"), Some(5))
    );
    assert_eq!(e.message, "\"sctp\" is not one of \"tcp\", \"udp\"");
    let e = parse("[probe]\njitter = 0.9\n").unwrap_err();
    assert_eq!((e.key.as_deref(), e.line), (Some("probe.jitter"), Some(2)));
}

#[test]
fn worker_config_carries_timeouts() {
    let c = parse("[flows]\nudp_idle_timeout_s = 7\n").unwrap();
    let w = c.worker(3);
    assert_eq!(w.flows.udp_idle_ns, 7 * NS);
    assert_eq!(w.flows.worker, 3);
    assert_eq!(w.id, 3);
}

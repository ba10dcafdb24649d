#![no_main]

use datapath::names::{dhcp, dns, http, tls};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut qname = dns::NameBuf::default();
    let _ = dns::parse_message(data, &mut qname, |a| assert!(a.owner.len() <= 255));
    let _ = dns::parse_tcp_message(data, &mut qname, |_| {});
    if let Err(tls::TlsError::Incomplete { needed }) = tls::client_hello_from_records(data) {
        assert!(needed > data.len());
    }
    if let Ok(ch) = tls::client_hello_from_handshake(data) {
        tls::alpn_names(ch.alpn.unwrap_or(&[])).for_each(|n| assert!(!n.is_empty()));
    }
    let mut buf = [0u8; 4096];
    let _ = tls::defragment(data, &mut buf);
    let _ = http::request_host(data);
    let _ = dhcp::parse(data);
});

//! `dns`: one query to a DNS server (UDP, then TCP if the answer was
//! truncated): response code, answers, time; optionally an answer that
//! must be among them. Messages are built and read with hickory-proto.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Instant;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{
    connected_udp, ms_since, split_host_port, ErrorClass, ProbeError, ProbeResult, ProbeTask,
};

/// The server of a task: `server` (`ip` or `ip:port`), else the first
/// nameserver of /etc/resolv.conf.
pub fn server_of(server: Option<&str>, default_port: u16) -> Result<SocketAddr, ProbeError> {
    let text = match server {
        Some(s) => s.to_string(),
        None => std::fs::read_to_string("/etc/resolv.conf")
            .ok()
            .and_then(|t| first_nameserver(&t))
            .ok_or_else(|| {
                ProbeError::new(
                    ErrorClass::Resolve,
                    "no `server` given and no nameserver in /etc/resolv.conf",
                )
            })?,
    };
    let (host, port) = split_host_port(&text).map_err(|e| ProbeError::new(ErrorClass::Io, e))?;
    let ip: IpAddr = host.parse().map_err(|_| {
        ProbeError::new(
            ErrorClass::Io,
            format!("DNS server `{text}` must be an address"),
        )
    })?;
    Ok(SocketAddr::new(ip, port.unwrap_or(default_port)))
}

/// The first `nameserver` line of resolv.conf text.
pub fn first_nameserver(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("nameserver")).then(|| w.next().map(str::to_string))?
    })
}

/// The query for `name` / `rtype` with id `id`, as bytes.
pub fn query(name: &str, rtype: RecordType, id: u16) -> Result<Vec<u8>, String> {
    let name = Name::from_str(name).map_err(|e| format!("`{name}`: {e}"))?;
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(name, rtype));
    m.to_vec().map_err(|e| e.to_string())
}

/// What an answer says.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The response code.
    pub rcode: ResponseCode,
    /// Records of the asked type, as text (`192.0.2.1`, `10 mail.example.`).
    pub records: Vec<String>,
    /// Every answer record, `TYPE data`, for the details.
    pub all: Vec<String>,
    /// The TC bit: the answer did not fit.
    pub truncated: bool,
    /// The answer came over TCP (the UDP one was truncated).
    pub over_tcp: bool,
}

/// Reads the answer to query `id` for `rtype`.
pub fn parse_answer(bytes: &[u8], id: u16, rtype: RecordType) -> Result<Answer, String> {
    let m = Message::from_vec(bytes).map_err(|e| format!("malformed answer: {e}"))?;
    if m.id() != id || m.message_type() != MessageType::Response {
        return Err("not the answer to our query".into());
    }
    let mut records = Vec::new();
    let mut all = Vec::new();
    for rec in m.answers() {
        let text = rec.data().to_string();
        all.push(format!("{} {text}", rec.record_type()));
        if rec.record_type() == rtype {
            records.push(text);
        }
    }
    Ok(Answer {
        rcode: m.response_code(),
        records,
        all,
        truncated: m.truncated(),
        over_tcp: false,
    })
}

/// Asks `server` for `name` / `rtype`; returns the answer and the ms it took.
pub async fn ask(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    wait: std::time::Duration,
) -> Result<(Answer, f64), ProbeError> {
    let id = fastrand::u16(..);
    let q = query(name, rtype, id).map_err(|e| ProbeError::new(ErrorClass::Io, e))?;
    let sock = connected_udp(server, &format!("DNS server {server}")).await?;
    let t = Instant::now();
    sock.send(&q)
        .await
        .map_err(|e| ProbeError::io(&format!("DNS server {server}"), &e))?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = vec![0u8; 4096];
    let answer = loop {
        let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Err(_) => return Err(ProbeError::timeout(&format!("DNS server {server}"))),
            Ok(Err(e)) => return Err(ProbeError::io(&format!("DNS server {server}"), &e)),
            Ok(Ok(n)) => n,
        };
        match parse_answer(&buf[..n], id, rtype) {
            Ok(a) => break a,
            // Someone else's datagram: keep waiting for ours.
            Err(_) if n >= 2 && buf[..2] != id.to_be_bytes() => continue,
            Err(e) => {
                return Err(ProbeError::new(
                    ErrorClass::Protocol,
                    format!("DNS server {server}: {e}"),
                ))
            }
        }
    };
    if !answer.truncated {
        return Ok((answer, ms_since(t)));
    }
    // Truncated: ask again over TCP (RFC 7766).
    let mut answer = tokio::time::timeout_at(deadline, ask_tcp(server, &q, id, rtype))
        .await
        .map_err(|_| ProbeError::timeout(&format!("DNS server {server} over TCP")))??;
    answer.over_tcp = true;
    Ok((answer, ms_since(t)))
}

async fn ask_tcp(
    server: SocketAddr,
    q: &[u8],
    id: u16,
    rtype: RecordType,
) -> Result<Answer, ProbeError> {
    let io = |e: std::io::Error| ProbeError::io(&format!("DNS server {server} over TCP"), &e);
    let mut s = TcpStream::connect(server).await.map_err(io)?;
    let mut msg = (q.len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(q);
    s.write_all(&msg).await.map_err(io)?;
    let len = s.read_u16().await.map_err(io)? as usize;
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf).await.map_err(io)?;
    parse_answer(&buf, id, rtype)
        .map_err(|e| ProbeError::new(ErrorClass::Protocol, format!("DNS server {server}: {e}")))
}

/// The error class of a response code (None for NOERROR).
pub fn rcode_class(rcode: ResponseCode) -> Option<ErrorClass> {
    match rcode {
        ResponseCode::NoError => None,
        ResponseCode::NXDomain => Some(ErrorClass::DnsNxdomain),
        ResponseCode::ServFail => Some(ErrorClass::DnsServfail),
        _ => Some(ErrorClass::DnsError),
    }
}

/// Whether an expected answer matches a record: the same text, ignoring
/// case and a final dot, or the same address.
pub fn matches(expected: &str, record: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('.').to_ascii_lowercase();
    if norm(expected) == norm(record) {
        return true;
    }
    match (expected.parse::<IpAddr>(), record.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// One query of `task`: the answer's code, records and time into `r`.
pub async fn run(task: &ProbeTask, r: &mut ProbeResult) -> Result<(), ProbeError> {
    let p = &task.params;
    let server = server_of(p.server.as_deref(), p.port.unwrap_or(53))?;
    r.address = Some(server.to_string());
    let rtype = RecordType::from_str(&p.qtype.to_ascii_uppercase())
        .map_err(|_| ProbeError::new(ErrorClass::Io, format!("record type `{}`", p.qtype)))?;
    let (answer, ms) = ask(server, &task.target, rtype, p.wait.max(task.timeout / 2)).await?;
    r.dns_ms = Some(ms);
    r.total_ms = Some(ms);
    r.dns_rcode = Some(answer.rcode.to_string());
    r.answers = Some(answer.records.clone());
    let mut details = serde_json::Map::new();
    if answer.all.len() != answer.records.len() {
        details.insert("answer_records".into(), serde_json::json!(answer.all));
    }
    if answer.over_tcp {
        details.insert("transport".into(), serde_json::json!("tcp"));
    }
    if !details.is_empty() {
        r.details = Some(serde_json::Value::Object(details));
    }
    if let Some(class) = rcode_class(answer.rcode) {
        return Err(ProbeError::new(
            class,
            format!("{} {rtype}: {}", task.target, answer.rcode),
        ));
    }
    if answer.records.is_empty() {
        return Err(ProbeError::new(
            ErrorClass::DnsNoAnswer,
            format!("{} has no {rtype} record", task.target),
        ));
    }
    if !p.expect.is_empty()
        && !p
            .expect
            .iter()
            .any(|e| answer.records.iter().any(|a| matches(e, a)))
    {
        return Err(ProbeError::new(
            ErrorClass::UnexpectedAnswer,
            format!(
                "{} {rtype}: {} does not include {}",
                task.target,
                answer.records.join(", "),
                p.expect.join(" or ")
            ),
        ));
    }
    Ok(())
}

/// Looks `host` up through `server` (A, then AAAA): the first address and
/// the ms it took. For http(s) tasks with a `server`.
pub async fn lookup(
    server: &str,
    host: &str,
    wait: std::time::Duration,
) -> Result<(IpAddr, f64), ProbeError> {
    let server = server_of(Some(server), 53)?;
    let t = Instant::now();
    for rtype in [RecordType::A, RecordType::AAAA] {
        let (a, _) = ask(server, host, rtype, wait).await?;
        if let Some(class) = rcode_class(a.rcode) {
            return Err(ProbeError::new(
                class,
                format!("resolving {host}: {}", a.rcode),
            ));
        }
        if let Some(ip) = a.records.iter().find_map(|r| r.parse::<IpAddr>().ok()) {
            return Ok((ip, ms_since(t)));
        }
    }
    Err(ProbeError::new(
        ErrorClass::DnsNoAnswer,
        format!("resolving {host}: no address"),
    ))
}

/// Checks that `q` names a DNS record type (any case): the `qtype` of a
/// dns probe.
pub fn check_qtype(q: &str) -> Result<(), String> {
    RecordType::from_str(&q.to_ascii_uppercase())
        .map(|_| ())
        .map_err(|_| format!("\"{q}\" is not a DNS record type"))
}

/// Checks that `name` is a DNS name: the target of a dns probe.
pub fn check_name(name: &str) -> Result<(), String> {
    Name::from_str(name)
        .map(|_| ())
        .map_err(|e| format!("`{name}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::{rdata, RData, Record};

    #[test]
    fn resolv_conf() {
        let t = "# generated\nsearch lan\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n";
        assert_eq!(first_nameserver(t).as_deref(), Some("192.0.2.53"));
        assert_eq!(first_nameserver("search lan\n"), None);
        assert_eq!(
            server_of(Some("192.0.2.1"), 53).unwrap(),
            "192.0.2.1:53".parse().unwrap()
        );
        assert_eq!(
            server_of(Some("[2001:db8::1]:5353"), 53).unwrap(),
            "[2001:db8::1]:5353".parse().unwrap()
        );
        assert!(server_of(Some("dns.example"), 53).is_err());
    }

    #[test]
    fn answers_are_read_and_matched() {
        let q = query("www.example.org", RecordType::A, 0x1234).unwrap();
        let mut m = Message::from_vec(&q).unwrap();
        assert!(m.recursion_desired());
        m.set_message_type(MessageType::Response);
        let name = Name::from_str("www.example.org.").unwrap();
        m.add_answer(Record::from_rdata(
            name.clone(),
            60,
            RData::CNAME(rdata::CNAME(Name::from_str("web.example.org.").unwrap())),
        ));
        m.add_answer(Record::from_rdata(
            name,
            60,
            RData::A(rdata::A::new(192, 0, 2, 7)),
        ));
        let bytes = m.to_vec().unwrap();
        let a = parse_answer(&bytes, 0x1234, RecordType::A).unwrap();
        assert_eq!(a.rcode, ResponseCode::NoError);
        assert_eq!(a.records, vec!["192.0.2.7".to_string()]);
        assert_eq!(a.all.len(), 2);
        assert!(parse_answer(&bytes, 0x1235, RecordType::A).is_err());
        assert!(parse_answer(&bytes[..5], 0x1234, RecordType::A).is_err());
        assert!(matches("192.0.2.7", "192.0.2.7"));
        assert!(matches("Web.Example.org", "web.example.org."));
        assert!(matches("2001:db8::1", "2001:0db8:0:0::1"));
        assert!(!matches("192.0.2.8", "192.0.2.7"));
        assert_eq!(
            rcode_class(ResponseCode::NXDomain),
            Some(ErrorClass::DnsNxdomain)
        );
        assert_eq!(
            rcode_class(ResponseCode::ServFail),
            Some(ErrorClass::DnsServfail)
        );
        assert_eq!(
            rcode_class(ResponseCode::Refused),
            Some(ErrorClass::DnsError)
        );
        assert_eq!(rcode_class(ResponseCode::NoError), None);
    }
}

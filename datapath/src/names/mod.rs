//! Server and device names from the first packets of a flow.
//!
//! Pure, allocation-free parsers over L4 payloads, each safe on malformed
//! input (every length is checked, every loop bounded):
//! - [`dns`]: DNS and mDNS messages: the question, A/AAAA/CNAME answers
//!   (with name compression), for the control core's IP-to-name cache and
//!   for device names (mDNS).
//! - [`tls`]: the TLS ClientHello's server name (SNI) and ALPN list, over
//!   TLS records (TCP) or a bare handshake message (QUIC CRYPTO stream).
//! - [`quic`]: QUIC Initial packets (v1, v2, drafts 22 to 34, Facebook's
//!   mvfst versions; greased and unknown versions tried with v1's keys)
//!   decrypted with the initial secrets of RFC 9001 / RFC 9369, their
//!   CRYPTO frames reassembled into the ClientHello; Google QUIC's
//!   plaintext CHLO.
//! - [`http`]: the HTTP/1.x request line and `Host` header.
//! - [`dhcp`]: DHCP client hostname (option 12), MAC and addresses.
//!
//! [`inspect`] drives them per flow on the worker: it looks only at the
//! first packets of a flow, stops once the name is known, and writes what
//! it finds as [`NameEvent`]s into the epoch summary.

pub mod dhcp;
pub mod dns;
pub mod http;
pub mod inspect;
pub mod quic;
pub mod tls;

pub use inspect::{NameEvent, NameInspector, NameKind, NameLog};

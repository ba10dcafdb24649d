//! Frame sources: where a worker's frames come from.
//!
//! A [`FrameSource`] delivers frames in batches to a closure, so the same
//! worker loop runs over a pcap file, over frames handed out by the replay
//! dispatcher, and over an AF_XDP socket. The frame bytes are borrowed for the
//! duration of the call only (on AF_XDP they live in the UMEM and go back to
//! the fill ring after the batch).

pub mod pcap;
pub mod replay;
#[cfg(feature = "xdp")]
pub mod xdp;

use crate::parse::LinkType;

/// One captured frame, borrowed from the source.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// The captured bytes.
    pub data: &'a [u8],
    /// Length on the wire (may exceed `data.len()`).
    pub wire_len: u32,
    /// Capture time, Unix nanoseconds.
    pub ts_ns: u64,
    /// Link-layer type of `data`.
    pub link: LinkType,
}

/// Result of one [`FrameSource::poll_batch`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// This many frames were delivered (at least one).
    Frames(usize),
    /// Nothing available right now; `now_ns` is the source's current time
    /// (wall clock when live, the latest packet time in replay), so the
    /// worker can close epochs and expire flows while idle.
    Idle {
        /// The source's current time, Unix ns.
        now_ns: u64,
    },
    /// The source is exhausted (end of file); no more frames will come.
    End,
}

/// Cumulative drop counters of a source (kernel or reader). The worker
/// reports per-epoch differences of these.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Frames dropped before reaching the socket (XDP rx_dropped).
    pub dropped: u64,
    /// Frames dropped because the RX ring was full (XDP rx_ring_full).
    pub ring_full: u64,
    /// Times the fill ring was empty (XDP rx_fill_ring_empty_descs).
    pub fill_ring_empty: u64,
    /// Invalid descriptors (XDP rx_invalid_descs), or unreadable records
    /// in a capture file.
    pub invalid: u64,
}

/// A source of captured frames for one worker.
pub trait FrameSource {
    /// Delivers up to `max` frames, in capture order, to `f`.
    fn poll_batch<F: FnMut(&Frame<'_>)>(&mut self, max: usize, f: F) -> Poll;

    /// Cumulative drop counters so far.
    fn stats(&self) -> SourceStats {
        SourceStats::default()
    }

    /// How many times the source started a new capture whose clock owes
    /// nothing to the previous one (the next file of a replay). Right after
    /// each such start the source returns [`Poll::Idle`] once, before the
    /// new capture's first frame, so the worker lets that frame's time jump
    /// forward ([`crate::timeguard::TimeGuard::allow_step`]).
    fn time_restarts(&self) -> u64 {
        0
    }
}

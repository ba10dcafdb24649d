//! The binary form's building blocks: decoding one counter, the scan
//! sketches and the flow sizes, varints and the bounds-checked reader.

use super::*;

/// One counter of the binary form: its spec (new and valid among
/// `counters`), totals, count-min cells and candidate keys.
pub(super) fn decode_counter(
    r: &mut Reader<'_>,
    dims: (u32, u32),
    seed: u64,
    conservative: bool,
    counters: &[CounterState],
) -> Result<CounterState, CodecError> {
    let (cm_width, cm_depth) = dims;
    let len = r.u8()? as usize;
    let name =
        std::str::from_utf8(r.take(len)?).map_err(|_| CodecError::Malformed("counter name"))?;
    let spec = CounterSpec {
        name: name.to_string(),
        key: KeyType::from_u8(r.u8()?).ok_or(CodecError::Malformed("key type"))?,
        increment: Increment::from_u8(r.u8()?).ok_or(CodecError::Malformed("increment"))?,
        protocol: ProtoFilter::from_u8(r.u8()?).ok_or(CodecError::Malformed("protocol"))?,
        direction: Direction::from_u8(r.u8()?).ok_or(CodecError::Malformed("direction"))?,
    };
    if !crate::sketch::valid_name(&spec.name) || counters.iter().any(|c| *c.spec == spec) {
        return Err(CodecError::Malformed("counter name"));
    }
    let total = r.u64()?;
    let cm_total = r.u64()?;
    let max_inc = r.u64()?;
    let max_shift = r.u8()?;
    if max_shift as u32 > crate::sketch::MAX_SAMPLE_SHIFT {
        return Err(CodecError::Malformed("sampling"));
    }
    let mut cm = CountMin::new(cm_width, cm_depth, seed, conservative);
    let n = r.varint()?;
    let cells = cm_width as u64 * cm_depth as u64;
    if n > cells {
        return Err(CodecError::Malformed("count-min cell count"));
    }
    let mut next = 0u64;
    for _ in 0..n {
        let i = next
            .checked_add(r.varint()?)
            .filter(|&i| i < cells)
            .ok_or(CodecError::Malformed("count-min cell index"))?;
        let v = r.varint()?;
        if v == 0 {
            return Err(CodecError::Malformed("zero count-min cell listed"));
        }
        cm.set_cell(i as usize, v);
        next = i + 1;
    }
    let n = r.varint()?;
    if n > r.remaining() as u64 / KEY_BYTES as u64 {
        return Err(CodecError::Truncated);
    }
    let mut candidates = BTreeSet::new();
    for _ in 0..n {
        let b: &[u8; KEY_BYTES] = r.take(KEY_BYTES)?.try_into().unwrap();
        candidates.insert(SketchKey::from_bytes(b));
    }
    Ok(CounterState {
        spec: Arc::new(spec),
        cm,
        total,
        cm_total,
        max_inc,
        max_shift,
        candidates,
    })
}

/// The port and host scan sketches of the binary form, those `flags` says
/// are present.
pub(super) fn decode_scans(
    r: &mut Reader<'_>,
    flags: u8,
    seed: u64,
) -> Result<(Option<SpreadSketch>, Option<SpreadSketch>), CodecError> {
    let (mut ports, mut hosts) = (None, None);
    if flags & 0b110 == 0 {
        return Ok((ports, hosts));
    }
    let width = r.u32()?;
    let depth = r.u8()? as u32;
    if width == 0
        || depth == 0
        || depth as usize > spread::MAX_DEPTH
        || width as u64 * depth as u64 > MAX_SCAN_BUCKETS
    {
        return Err(CodecError::Malformed("scan sketch dimensions"));
    }
    for (bit, slot, sseed) in [
        (1, &mut ports, SCAN_SEED_PORTS),
        (2, &mut hosts, SCAN_SEED_HOSTS),
    ] {
        if flags & (1 << bit) == 0 {
            continue;
        }
        let mut s = SpreadSketch::new(width, depth, sseed ^ seed ^ SEED);
        let total = s.buckets_total() as u64;
        let n = r.varint()?;
        if n > total {
            return Err(CodecError::Malformed("scan bucket count"));
        }
        let mut next = 0u64;
        for _ in 0..n {
            let index = next
                .checked_add(r.varint()?)
                .filter(|&i| i < total)
                .ok_or(CodecError::Malformed("scan bucket index"))?;
            next = index + 1;
            let level = r.u8()?;
            if level == 0 || level > 55 {
                return Err(CodecError::Malformed("scan bucket level"));
            }
            let version = r.u8()?;
            let key: [u8; 16] = r.take(16)?.try_into().unwrap();
            let mut bits = [0u64; 8];
            for word in &mut bits {
                *word = r.u64()?;
            }
            s.set_bucket(&spread::Bucket {
                index: index as u32,
                bits,
                key,
                version,
                level,
            });
        }
        *slot = Some(s);
    }
    Ok((ports, hosts))
}

/// The flow-size histograms of the binary form.
pub(super) fn decode_flow_sizes(r: &mut Reader<'_>) -> Result<FlowSizes, CodecError> {
    let mut f = FlowSizes {
        records: r.varint()?,
        ..FlowSizes::default()
    };
    for h in [&mut f.packets, &mut f.bytes] {
        let n = r.varint()?;
        if n > flowsize::BUCKETS as u64 {
            return Err(CodecError::Malformed("flow-size bucket count"));
        }
        let mut next = 0u64;
        for _ in 0..n {
            let b = next
                .checked_add(r.varint()?)
                .filter(|&b| b < flowsize::BUCKETS as u64)
                .ok_or(CodecError::Malformed("flow-size bucket"))?;
            let flows = r.varint()?;
            let volume = r.varint()?;
            h.set(b as usize, flows, volume);
            next = b + 1;
        }
    }
    Ok(f)
}

pub(super) fn put_varint(w: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        w.push(v as u8 | 0x80);
        v >>= 7;
    }
    w.push(v as u8);
}

pub(super) struct Reader<'a> {
    pub(super) b: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn remaining(&self) -> usize {
        self.b.len()
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.b.len() < n {
            return Err(CodecError::Truncated);
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }

    pub(super) fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }

    pub(super) fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    pub(super) fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    pub(super) fn varint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for i in 0..10 {
            let byte = self.u8()?;
            let bits = (byte & 0x7f) as u64;
            if i == 9 && bits > 1 {
                return Err(CodecError::Malformed("varint overflow"));
            }
            v |= bits << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError::Malformed("varint too long"))
    }
}

//! `[[sketch.counters]]` entries, and reading the sketch vocabularies
//! (key types, increments, protocol filters, directions) by name.
//!
//! Those vocabularies belong to `datapath::sketch`, which has no serde: the
//! [`Vocabulary`] trait lists their values here and takes their names from
//! datapath, so a name is written once, in datapath.

use datapath::sketch::{CounterSpec, Direction, Increment, KeyType, ProtoFilter};
use serde::{Deserialize, Serialize};

/// A closed set of values with stable names.
pub(crate) trait Vocabulary: Copy + PartialEq + 'static {
    /// Every value, in the order errors list them.
    const ALL: &'static [Self];
    /// The stable name.
    fn name(self) -> &'static str;

    /// The value named `s`, or the message saying which names there are.
    fn from_name(s: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                let names: Vec<String> = Self::ALL
                    .iter()
                    .map(|v| format!("\"{}\"", v.name()))
                    .collect();
                format!("\"{s}\" is not one of {}", names.join(", "))
            })
    }
}

impl Vocabulary for KeyType {
    const ALL: &'static [KeyType] = &KeyType::ALL;
    fn name(self) -> &'static str {
        KeyType::name(self)
    }
}

impl Vocabulary for Increment {
    const ALL: &'static [Increment] = &[Increment::Packets, Increment::Bytes];
    fn name(self) -> &'static str {
        Increment::name(self)
    }
}

impl Vocabulary for ProtoFilter {
    const ALL: &'static [ProtoFilter] = &[
        ProtoFilter::Any,
        ProtoFilter::Tcp,
        ProtoFilter::Udp,
        ProtoFilter::Icmp,
    ];
    fn name(self) -> &'static str {
        ProtoFilter::name(self)
    }
}

impl Vocabulary for Direction {
    const ALL: &'static [Direction] = &[
        Direction::Any,
        Direction::ClientToServer,
        Direction::ServerToClient,
    ];
    fn name(self) -> &'static str {
        Direction::name(self)
    }
}

/// serde by name for a [`Vocabulary`] (`#[serde(with = "by_name")]`).
mod by_name {
    use super::Vocabulary;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer, T: Vocabulary>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, T: Vocabulary>(
        d: D,
    ) -> Result<T, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        T::from_name(&s).map_err(D::Error::custom)
    }
}

/// One `[[sketch.counters]]` entry (also what the control socket lists).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CounterEntry {
    /// 1 to 64 letters, digits, `_` or `-`; unique.
    pub name: String,
    /// `src`, `dst`, `src_dst`, `src_dport`, `dport` or `five_tuple`.
    #[serde(with = "by_name")]
    pub key: KeyType,
    /// `packets` or `bytes` (default `bytes`).
    #[serde(with = "by_name", default = "bytes")]
    pub increment: Increment,
    /// `any`, `tcp`, `udp` or `icmp` (default `any`).
    #[serde(with = "by_name", default = "any_protocol")]
    pub protocol: ProtoFilter,
    /// `any`, `c2s` or `s2c` (default `any`).
    #[serde(with = "by_name", default = "any_direction")]
    pub direction: Direction,
}

fn bytes() -> Increment {
    Increment::Bytes
}

fn any_protocol() -> ProtoFilter {
    ProtoFilter::Any
}

fn any_direction() -> Direction {
    Direction::Any
}

impl CounterEntry {
    /// An entry from names (as the control socket's `counters add` sends
    /// them), or the field at fault and why.
    pub fn from_names(
        name: String,
        key: &str,
        increment: &str,
        protocol: &str,
        direction: &str,
    ) -> Result<CounterEntry, (&'static str, String)> {
        Ok(CounterEntry {
            name,
            key: Vocabulary::from_name(key).map_err(|m| ("key", m))?,
            increment: Vocabulary::from_name(increment).map_err(|m| ("increment", m))?,
            protocol: Vocabulary::from_name(protocol).map_err(|m| ("protocol", m))?,
            direction: Vocabulary::from_name(direction).map_err(|m| ("direction", m))?,
        })
    }

    /// The counter this entry describes, or the field at fault and why.
    pub fn spec(&self) -> Result<CounterSpec, (&'static str, String)> {
        if !datapath::sketch::valid_name(&self.name) {
            return Err((
                "name",
                format!(
                    "\"{}\" must be 1 to 64 letters, digits, '_' or '-'",
                    self.name
                ),
            ));
        }
        Ok(CounterSpec {
            name: self.name.clone(),
            key: self.key,
            increment: self.increment,
            protocol: self.protocol,
            direction: self.direction,
        })
    }

    /// The entry describing a counter.
    pub fn from_spec(c: &CounterSpec) -> CounterEntry {
        CounterEntry {
            name: c.name.clone(),
            key: c.key,
            increment: c.increment,
            protocol: c.protocol,
            direction: c.direction,
        }
    }
}

/// Counter specs as configuration entries (for the status socket).
pub fn counter_entries(specs: &[CounterSpec]) -> Vec<CounterEntry> {
    specs.iter().map(CounterEntry::from_spec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each list holds every value once, and datapath reads back its names.
    fn complete<T: Vocabulary + std::fmt::Debug>(from_name: fn(&str) -> Option<T>, n: usize) {
        assert_eq!(T::ALL.len(), n);
        for &v in T::ALL {
            assert_eq!(from_name(v.name()), Some(v));
            assert_eq!(<T as Vocabulary>::from_name(v.name()), Ok(v));
        }
    }

    #[test]
    fn vocabularies_are_complete_and_agree_with_datapath() {
        complete(KeyType::from_name, 6);
        complete(Increment::from_name, 2);
        complete(ProtoFilter::from_name, 4);
        complete(Direction::from_name, 3);
        // An exhaustive match: a new variant fails to compile here until
        // it is listed above.
        for &d in <Direction as Vocabulary>::ALL {
            match d {
                Direction::Any | Direction::ClientToServer | Direction::ServerToClient => {}
            }
        }
        for &p in <ProtoFilter as Vocabulary>::ALL {
            match p {
                ProtoFilter::Any | ProtoFilter::Tcp | ProtoFilter::Udp | ProtoFilter::Icmp => {}
            }
        }
        for &i in <Increment as Vocabulary>::ALL {
            match i {
                Increment::Packets | Increment::Bytes => {}
            }
        }
    }

    #[test]
    fn entries_from_names_name_the_bad_field() {
        let e = CounterEntry::from_names("x".into(), "dst", "packets", "udp", "c2s").unwrap();
        assert_eq!(e.spec().unwrap().direction, Direction::ClientToServer);
        let (field, msg) =
            CounterEntry::from_names("x".into(), "nonsense", "bytes", "any", "any").unwrap_err();
        assert_eq!(field, "key");
        assert!(
            msg.starts_with("\"nonsense\" is not one of \"src\""),
            "{msg}"
        );
        let (field, _) =
            CounterEntry::from_names("x".into(), "dst", "bytes", "sctp", "any").unwrap_err();
        assert_eq!(field, "protocol");
        let bad = CounterEntry::from_names("a b".into(), "dst", "bytes", "any", "any").unwrap();
        assert_eq!(bad.spec().unwrap_err().0, "name");
    }

    #[test]
    fn entries_travel_as_names() {
        let e = CounterEntry::from_spec(&CounterSpec::new(
            "n",
            KeyType::SrcDport,
            Increment::Packets,
        ));
        let json = serde_json_like(&e);
        assert_eq!(
            json,
            "name = \"n\"\nkey = \"src_dport\"\nincrement = \"packets\"\nprotocol = \"any\"\ndirection = \"any\"\n"
        );
        let back: CounterEntry = toml::from_str(&json).unwrap();
        assert_eq!(back, e);
    }

    fn serde_json_like(e: &CounterEntry) -> String {
        toml::to_string(e).unwrap()
    }
}

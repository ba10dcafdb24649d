//! Where things are in a TOML file, from the parser's own spans: the line
//! and dotted key (`sketch.counters[1].key`, `service[3].prefixes`) of a
//! deserialisation error or of a key a later check rejects.
//!
//! [`SpanIndex`] is the file read once more by `toml_edit`, which keeps
//! the span of every key and value, into a tree; every lookup goes by what
//! the TOML parser saw, not by scanning lines of text. The configuration and the
//! service catalog both report their errors through it.

use std::ops::Range;

use toml_edit::{ImDocument, Item, Key, Table, Value};

/// A position in a TOML file: the line (1-based) and the dotted key, each
/// when known, and what is wrong there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// Line (1-based).
    pub line: Option<usize>,
    /// Dotted key, with `[i]` for array elements.
    pub key: Option<String>,
    /// What is wrong, in the words of [`house_message`].
    pub message: String,
}

/// The spanned value tree of one TOML text.
pub struct SpanIndex<'t> {
    text: &'t str,
    root: Option<Node>,
}

/// One value of the tree, with its span when the parser kept one (an
/// implicit table, as `a` of `a.b = 1`, has none).
struct Node {
    span: Option<Range<usize>>,
    kind: Kind,
}

enum Kind {
    /// Key, the key's span, value.
    Table(Vec<(String, Option<Range<usize>>, Node)>),
    Array(Vec<Node>),
    Str(String),
    Other,
}

impl Node {
    fn of_item(item: &Item) -> Node {
        match item {
            Item::None => Node {
                span: None,
                kind: Kind::Other,
            },
            Item::Value(v) => Node::of_value(v),
            Item::Table(t) => Node::of_table(t),
            Item::ArrayOfTables(a) => Node {
                span: a.span(),
                kind: Kind::Array(a.iter().map(Node::of_table).collect()),
            },
        }
    }

    fn of_table(t: &Table) -> Node {
        let entries = t.iter().map(|(k, v)| {
            let key_span = t.key(k).and_then(Key::span);
            (k.to_string(), key_span, Node::of_item(v))
        });
        Node {
            span: t.span(),
            kind: Kind::Table(entries.collect()),
        }
    }

    fn of_value(v: &Value) -> Node {
        let kind = match v {
            Value::String(s) => Kind::Str(s.value().clone()),
            Value::Array(a) => Kind::Array(a.iter().map(Node::of_value).collect()),
            Value::InlineTable(t) => Kind::Table(
                t.iter()
                    .map(|(k, v)| {
                        let key_span = t.key(k).and_then(Key::span);
                        (k.to_string(), key_span, Node::of_value(v))
                    })
                    .collect(),
            ),
            _ => Kind::Other,
        };
        Node {
            span: v.span(),
            kind,
        }
    }
}

/// One step of a dotted key: a table key or an array index.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `a.b[2].c` → `a`, `b`, `[2]`, `c`.
fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Step::Key(name));
        }
        while let Some(end) = rest.find(']') {
            if let Ok(i) = rest[1..end].parse() {
                out.push(Step::Index(i));
            }
            rest = &rest[end + 1..];
        }
    }
    out
}

impl<'t> SpanIndex<'t> {
    /// Indexes `text`; a text that does not parse yields an empty index
    /// (lookups then find nothing).
    pub fn new(text: &'t str) -> SpanIndex<'t> {
        let root = ImDocument::parse(text)
            .ok()
            .map(|doc| Node::of_table(doc.as_table()));
        SpanIndex { text, root }
    }

    /// Line (1-based) of a byte offset.
    pub fn line_at(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.text.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// The node at a dotted key, and the key's own span.
    fn node(&self, path: &str) -> Option<(&Node, Option<Range<usize>>)> {
        let mut at = self.root.as_ref()?;
        let mut key_span = None;
        for step in steps(path) {
            at = match (&at.kind, step) {
                (Kind::Table(entries), Step::Key(k)) => {
                    let (_, ks, v) = entries.iter().find(|(name, _, _)| name == k)?;
                    key_span = ks.clone();
                    v
                }
                (Kind::Array(items), Step::Index(i)) => {
                    key_span = None;
                    items.get(i)?
                }
                _ => return None,
            };
        }
        Some((at, key_span))
    }

    /// Line (1-based) where a dotted key is: the line of its key for
    /// `key = value`, the header for an element of an array of tables.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let (node, key_span) = self.node(path)?;
        let span = key_span.or_else(|| node.span.clone())?;
        Some(self.line_at(span.start))
    }

    /// The text of the value at a dotted key, as written.
    pub fn text_of(&self, path: &str) -> Option<&'t str> {
        let span = self.node(path)?.0.span.clone()?;
        self.text.get(span)
    }

    /// The string at a dotted key, if there is one.
    pub fn str_at(&self, path: &str) -> Option<&str> {
        match &self.node(path)?.0.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The keys of the table at a dotted key.
    pub fn keys_at(&self, path: &str) -> Vec<&str> {
        match self.node(path).map(|(n, _)| &n.kind) {
            Some(Kind::Table(entries)) => entries.iter().map(|(k, _, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    /// The dotted key of the innermost key or value whose span holds
    /// `offset` (empty for the top level), and whether `offset` is in a
    /// table's (or array's) value rather than on a key of it.
    pub fn path_at(&self, offset: usize) -> (String, bool) {
        let Some(mut at) = self.root.as_ref() else {
            return (String::new(), true);
        };
        let mut path = String::new();
        let inside =
            |span: &Option<Range<usize>>| span.as_ref().is_some_and(|s| contains(s, offset));
        loop {
            let next = match &at.kind {
                Kind::Table(entries) => entries
                    .iter()
                    .find(|(_, ks, v)| inside(ks) || inside(&v.span) || v.holds(offset))
                    .map(|(k, _, v)| {
                        if !path.is_empty() {
                            path.push('.');
                        }
                        path.push_str(k);
                        v
                    }),
                Kind::Array(items) => items
                    .iter()
                    .position(|v| inside(&v.span) || v.holds(offset))
                    .map(|i| {
                        path.push_str(&format!("[{i}]"));
                        &items[i]
                    }),
                _ => None,
            };
            match next {
                // A key's own span: the key is the answer.
                Some(n) if !inside(&n.span) && !n.holds(offset) => return (path, false),
                Some(n) => at = n,
                None => return (path, matches!(at.kind, Kind::Table(_) | Kind::Array(_))),
            }
        }
    }

    /// Where a deserialisation error of this text is, and what it says.
    /// An error about a whole table that names one of its fields (serde's
    /// `unknown field`) is placed on that field.
    pub fn locate(&self, e: &toml::de::Error) -> Located {
        let message = house_message(e.message().trim());
        let Some(span) = e.span() else {
            return Located {
                line: None,
                key: None,
                message,
            };
        };
        let (mut key, table) = self.path_at(span.start);
        let mut line = self.line_at(span.start);
        if let (true, Some(field)) = (table, unknown_field(e.message())) {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(field);
            // The tree holds every key written, known or not.
            if let Some(l) = self.line_of(&key) {
                line = l;
            }
        }
        Located {
            line: Some(line),
            key: (!key.is_empty()).then_some(key),
            message,
        }
    }
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end.max(span.start + 1)
}

impl Node {
    /// Whether some key or value below this node holds `offset` (a table
    /// without a span of its own, or whose span is its header only).
    fn holds(&self, offset: usize) -> bool {
        let inside =
            |span: &Option<Range<usize>>| span.as_ref().is_some_and(|s| contains(s, offset));
        match &self.kind {
            Kind::Table(entries) => entries
                .iter()
                .any(|(_, ks, v)| inside(ks) || inside(&v.span) || v.holds(offset)),
            Kind::Array(items) => items.iter().any(|v| inside(&v.span) || v.holds(offset)),
            _ => false,
        }
    }
}

/// The field serde's `unknown field `x`, expected ...` names.
pub fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// serde's words for a value not in a set, in the words the rest of the
/// configuration uses: `unknown variant `x`, expected one of `a`, `b``
/// becomes `"x" is not one of "a", "b"`. Other messages are kept.
pub fn house_message(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown variant `") else {
        return message.to_string();
    };
    let Some((value, expected)) = rest.split_once("`, expected ") else {
        return message.to_string();
    };
    let names: Vec<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|n| format!("\"{n}\""))
        .collect();
    format!("\"{value}\" is not one of {}", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const TEXT: &str = "a = 1\nwhen = 1979-05-27T07:32:00Z\n\n[x]\ny = [1, {d = 2}]\nz.w = \"s\"\n\n[[e]]\nf = 1\n\n[[e]]\ng = \"q\"\n";

    #[test]
    fn keys_lead_to_their_lines() {
        let ix = SpanIndex::new(TEXT);
        assert_eq!(ix.line_of("a"), Some(1));
        assert_eq!(ix.line_of("when"), Some(2));
        assert_eq!(ix.line_of("x.y"), Some(5));
        assert_eq!(ix.line_of("x.y[1].d"), Some(5));
        assert_eq!(ix.line_of("x.z.w"), Some(6));
        assert_eq!(ix.line_of("e[1]"), Some(11));
        assert_eq!(ix.line_of("e[1].g"), Some(12));
        assert_eq!(ix.str_at("e[1].g"), Some("q"));
        assert_eq!(ix.text_of("x.y"), Some("[1, {d = 2}]"));
        assert_eq!(ix.keys_at("e[0]"), vec!["f"]);
        assert_eq!(ix.line_of("e[2]"), None);
        assert_eq!(ix.line_of("x.nope"), None);
    }

    #[test]
    fn offsets_lead_to_their_keys() {
        let ix = SpanIndex::new(TEXT);
        let at = |needle: &str| ix.path_at(TEXT.find(needle).unwrap());
        assert_eq!(at("\"q\""), ("e[1].g".to_string(), false));
        assert_eq!(at("{d"), ("x.y[1]".to_string(), true));
        assert_eq!(at("1979"), ("when".to_string(), false));
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        flows: Option<Flows>,
        mode: Option<Mode>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Flows {
        capacity: Option<u32>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Auto,
        Native,
    }

    fn located(text: &str) -> Located {
        let e = toml::from_str::<Doc>(text).unwrap_err();
        SpanIndex::new(text).locate(&e)
    }

    #[test]
    fn errors_are_placed_on_their_key() {
        let l = located("[flows]\n\ncapacity = \"lots\"\n");
        assert_eq!(
            (l.line, l.key.as_deref()),
            (Some(3), Some("flows.capacity"))
        );
        assert!(l.message.contains("invalid type"), "{}", l.message);
        let l = located("[flows]\ncapacity = 1\ncapacty = 10\n");
        assert_eq!((l.line, l.key.as_deref()), (Some(3), Some("flows.capacty")));
        assert!(l.message.starts_with("unknown field `capacty`"));
        let l = located("flows = { capacity = 1, colour = 2 }\n");
        assert_eq!((l.line, l.key.as_deref()), (Some(1), Some("flows.colour")));
        let l = located("\nmode = \"fast\"\n");
        assert_eq!((l.line, l.key.as_deref()), (Some(2), Some("mode")));
        assert_eq!(l.message, "\"fast\" is not one of \"auto\", \"native\"");
    }

    #[test]
    fn house_words_for_values_not_in_a_set() {
        assert_eq!(
            house_message("unknown variant `x`, expected `a`"),
            "\"x\" is not one of \"a\""
        );
        assert_eq!(
            house_message("unknown variant `x`, expected one of `a`, `b`, `c`"),
            "\"x\" is not one of \"a\", \"b\", \"c\""
        );
        assert_eq!(
            house_message("invalid type: integer"),
            "invalid type: integer"
        );
        assert_eq!(unknown_field("unknown field `k`, expected `n`"), Some("k"));
        assert_eq!(unknown_field("missing field `k`"), None);
    }
}

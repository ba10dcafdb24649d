//! Tree ensembles read from the trainer's JSON file
//! (`appliance/video/train/train_video.py`) and evaluated in place.
//!
//! The file holds a random-forest classifier of the rendered resolution
//! and a random-forest regressor of the startup delay, as scikit-learn
//! builds them, tree by tree in scikit-learn's own arrays:
//!
//! ```json
//! {
//!   "format": 1,
//!   "version": "video-rf-20261204-1a2b3c4d",
//!   "features": ["f_window_s", "f_down_mbps"],
//!   "resolution": { "classes": [360, 720],
//!                   "trees": [ {"feature": [1, -2, -2], "threshold": [2.5, -2, -2],
//!                               "left": [1, -1, -1], "right": [2, -1, -1],
//!                               "value": [[], [1.0, 0.0], [0.25, 0.75]]} ] },
//!   "startup": { "trees": [ {"feature": [-2], "threshold": [-2], "left": [-1],
//!                            "right": [-1], "value": [1.5]} ] }
//! }
//! ```
//!
//! Semantics are scikit-learn's. At node `i`, `left[i] == -1` makes a leaf;
//! otherwise the walk goes left when `x[feature[i]] <= threshold[i]`, with
//! `x` first rounded to `f32` as scikit-learn does (`(x as f32) as f64 <=
//! threshold`; a NaN goes right). `feature` indexes the file's `features`.
//! A classifier leaf's `value` is normalised to class probabilities (divided
//! by its sum, as scikit-learn did before 1.4; scikit-learn 1.4 and later
//! store the probabilities themselves, whose sum is 1 to rounding, and those
//! are taken as they are); an inner node's `value` is not read (the
//! trainer writes `[]` or `0` there). The forest's probabilities are the mean over its trees (summed in
//! tree order, then divided by the number of trees), its class the first
//! with the largest probability. A regressor's prediction is the mean of its
//! trees' leaf values.
//!
//! Every file is checked when loaded: lengths agree, every child index lies
//! after its parent and inside its tree (so every walk ends at a leaf), every
//! feature is one the appliance computes, classes exist. Evaluation then
//! neither allocates nor fails.

use serde::Deserialize;
use thiserror::Error;

/// The file format this module reads.
pub const FORMAT: u64 = 1;

/// The committed model, trained on the lab's sessions
/// (`appliance/video/model/MODEL_CARD.md` says on which, how well it does
/// and how to retrain it).
pub const DEFAULT_MODEL: &str = include_str!("../model/video-model.json");

/// The most resolution classes a model may have (evaluation sums class
/// probabilities in a stack array of this size).
pub const MAX_CLASSES: usize = 32;

/// The part of a model file a tree belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The resolution classifier.
    Resolution,
    /// The startup-delay regressor.
    Startup,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::Resolution => "resolution",
            Part::Startup => "startup",
        })
    }
}

/// What is wrong with one tree of a model file.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum TreeError {
    /// The tree has no node.
    #[error("it has no node")]
    Empty,
    /// One of the node arrays is not as long as `left`.
    #[error("`{array}` has {len} entries, `left` has {nodes}")]
    Length {
        /// The array.
        array: &'static str,
        /// Its length.
        len: usize,
        /// The number of nodes (`left`'s length).
        nodes: usize,
    },
    /// A node has one child only (`left` and `right` must both be -1 or
    /// both be children).
    #[error("node {node} has left {left} and right {right}: a node has two children or none")]
    HalfLeaf {
        /// The node.
        node: usize,
        /// Its `left`.
        left: i64,
        /// Its `right`.
        right: i64,
    },
    /// A child index is outside the tree.
    #[error("node {node}: child {child} is not a node of the tree ({nodes} nodes)")]
    ChildOutOfRange {
        /// The node.
        node: usize,
        /// The child index.
        child: i64,
        /// The number of nodes.
        nodes: usize,
    },
    /// A child index is not after its parent: the walk could loop.
    #[error(
        "node {node}: child {child} does not come after its parent (a cycle or a shared node)"
    )]
    ChildNotAfterParent {
        /// The node.
        node: usize,
        /// The child index.
        child: i64,
    },
    /// A split node names a feature the file does not list.
    #[error("node {node} splits on feature {feature}, the file lists {features}")]
    Feature {
        /// The node.
        node: usize,
        /// The feature index.
        feature: i64,
        /// The number of features the file lists.
        features: usize,
    },
    /// A split threshold is NaN.
    #[error("node {node} has a NaN threshold")]
    Threshold {
        /// The node.
        node: usize,
    },
    /// A leaf's value has the wrong number of entries.
    #[error("leaf {node} has {len} values, expected {expected}")]
    ValueWidth {
        /// The leaf.
        node: usize,
        /// Its number of values.
        len: usize,
        /// The number expected (classes, or 1).
        expected: usize,
    },
    /// A leaf value is not finite, or a class probability is negative.
    #[error("leaf {node} has the value {value}")]
    Value {
        /// The leaf.
        node: usize,
        /// The value.
        value: f64,
    },
}

/// Why a model file was refused.
#[derive(Debug, Error)]
pub enum ModelError {
    /// Not JSON, or not of the model file's shape.
    #[error("model file: {0}")]
    Json(#[from] serde_json::Error),
    /// A format this build does not read.
    #[error("model file format {found}, this build reads format {FORMAT}")]
    Format {
        /// The file's format.
        found: u64,
    },
    /// The version text is empty.
    #[error("model file has an empty version")]
    NoVersion,
    /// The feature list is empty.
    #[error("model file lists no feature")]
    NoFeatures,
    /// A feature the appliance does not compute.
    #[error("model feature `{0}` is not one the appliance computes")]
    UnknownFeature(String),
    /// A feature listed twice.
    #[error("model feature `{0}` is listed twice")]
    DuplicateFeature(String),
    /// Neither a resolution nor a startup part.
    #[error("model file has neither a resolution nor a startup part")]
    NoParts,
    /// The resolution part lists no class.
    #[error("resolution part lists no class")]
    NoClasses,
    /// More classes than [`MAX_CLASSES`].
    #[error("resolution part lists {0} classes, at most {MAX_CLASSES} are supported")]
    TooManyClasses(usize),
    /// A class listed twice.
    #[error("resolution class {0} is listed twice")]
    DuplicateClass(u32),
    /// A part without trees.
    #[error("{0} part has no tree")]
    NoTrees(Part),
    /// A tree is malformed.
    #[error("{part} tree {tree}: {error}")]
    Tree {
        /// The part.
        part: Part,
        /// The tree's place in the part's list.
        tree: usize,
        /// What is wrong.
        error: TreeError,
    },
}

#[derive(Deserialize)]
struct Header {
    format: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileJson {
    format: u64,
    version: String,
    features: Vec<String>,
    #[serde(default)]
    resolution: Option<ResolutionJson>,
    #[serde(default)]
    startup: Option<StartupJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolutionJson {
    classes: Vec<u32>,
    trees: Vec<TreeJson<Vec<f64>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartupJson {
    trees: Vec<TreeJson<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeJson<V> {
    feature: Vec<i64>,
    threshold: Vec<f64>,
    left: Vec<i64>,
    right: Vec<i64>,
    value: Vec<V>,
}

/// A leaf's values as stored: one per class, or one.
trait LeafValue {
    fn values(&self) -> &[f64];
}

impl LeafValue for Vec<f64> {
    fn values(&self) -> &[f64] {
        self
    }
}

impl LeafValue for f64 {
    fn values(&self) -> &[f64] {
        std::slice::from_ref(self)
    }
}

/// `left` of a leaf.
const LEAF: u32 = u32::MAX;

/// One node of a forest, with indices into the forest's arena.
#[derive(Clone, Copy, Debug)]
struct Node {
    /// Split nodes: index into the caller's feature vector.
    feature: u32,
    /// Split nodes: go left when `(x as f32) as f64 <= threshold`.
    threshold: f64,
    /// Split nodes: the left child; [`LEAF`] for a leaf.
    left: u32,
    /// Split nodes: the right child; leaves: the offset of the leaf's
    /// values in [`Forest::values`].
    right: u32,
}

/// The trees of one part, their nodes in one arena.
#[derive(Debug)]
struct Forest {
    nodes: Vec<Node>,
    roots: Vec<u32>,
    values: Vec<f64>,
    /// Values per leaf (classes, or 1).
    width: usize,
}

impl Forest {
    fn build<V: LeafValue>(
        part: Part,
        trees: &[TreeJson<V>],
        width: usize,
        columns: &[usize],
        probabilities: bool,
    ) -> Result<Forest, ModelError> {
        if trees.is_empty() {
            return Err(ModelError::NoTrees(part));
        }
        let mut forest = Forest {
            nodes: Vec::new(),
            roots: Vec::with_capacity(trees.len()),
            values: Vec::new(),
            width,
        };
        for (i, tree) in trees.iter().enumerate() {
            forest
                .add(tree, columns, probabilities)
                .map_err(|error| ModelError::Tree {
                    part,
                    tree: i,
                    error,
                })?;
        }
        Ok(forest)
    }

    fn add<V: LeafValue>(
        &mut self,
        tree: &TreeJson<V>,
        columns: &[usize],
        probabilities: bool,
    ) -> Result<(), TreeError> {
        let n = tree.left.len();
        if n == 0 {
            return Err(TreeError::Empty);
        }
        for (array, len) in [
            ("feature", tree.feature.len()),
            ("threshold", tree.threshold.len()),
            ("right", tree.right.len()),
            ("value", tree.value.len()),
        ] {
            if len != n {
                return Err(TreeError::Length {
                    array,
                    len,
                    nodes: n,
                });
            }
        }
        let base = self.nodes.len();
        if base + n >= LEAF as usize {
            return Err(TreeError::Length {
                array: "left",
                len: n,
                nodes: LEAF as usize - base,
            });
        }
        let child = |node: usize, c: i64| -> Result<u32, TreeError> {
            if c < 0 || c as u64 >= n as u64 {
                return Err(TreeError::ChildOutOfRange {
                    node,
                    child: c,
                    nodes: n,
                });
            }
            if c as usize <= node {
                return Err(TreeError::ChildNotAfterParent { node, child: c });
            }
            Ok((base + c as usize) as u32)
        };
        let mut nodes = Vec::with_capacity(n);
        let mut values = Vec::new();
        for i in 0..n {
            let (l, r) = (tree.left[i], tree.right[i]);
            if l == -1 && r == -1 {
                let v = tree.value[i].values();
                if v.len() != self.width {
                    return Err(TreeError::ValueWidth {
                        node: i,
                        len: v.len(),
                        expected: self.width,
                    });
                }
                if let Some(&bad) = v
                    .iter()
                    .find(|x| !x.is_finite() || (probabilities && **x < 0.0))
                {
                    return Err(TreeError::Value {
                        node: i,
                        value: bad,
                    });
                }
                let offset = (self.values.len() + values.len()) as u32;
                if probabilities {
                    values.extend(probabilities_of(v));
                } else {
                    values.extend_from_slice(v);
                }
                nodes.push(Node {
                    feature: 0,
                    threshold: 0.0,
                    left: LEAF,
                    right: offset,
                });
            } else if l == -1 || r == -1 {
                return Err(TreeError::HalfLeaf {
                    node: i,
                    left: l,
                    right: r,
                });
            } else {
                let f = tree.feature[i];
                let Some(&column) = usize::try_from(f).ok().and_then(|f| columns.get(f)) else {
                    return Err(TreeError::Feature {
                        node: i,
                        feature: f,
                        features: columns.len(),
                    });
                };
                let threshold = tree.threshold[i];
                if threshold.is_nan() {
                    return Err(TreeError::Threshold { node: i });
                }
                nodes.push(Node {
                    feature: column as u32,
                    threshold,
                    left: child(i, l)?,
                    right: child(i, r)?,
                });
            }
        }
        self.roots.push(base as u32);
        self.nodes.extend(nodes);
        self.values.extend(values);
        Ok(())
    }

    /// The values of the leaf `x` reaches in the tree at `root`.
    #[inline]
    fn leaf(&self, root: u32, x: &[f64]) -> &[f64] {
        let mut node = &self.nodes[root as usize];
        while node.left != LEAF {
            let v = f64::from(x[node.feature as usize] as f32);
            node = &self.nodes[if v <= node.threshold {
                node.left
            } else {
                node.right
            } as usize];
        }
        let at = node.right as usize;
        &self.values[at..at + self.width]
    }
}

/// A classifier leaf's class probabilities: its values divided by their
/// sum, unless they already are probabilities (summing to 1 to rounding,
/// as scikit-learn 1.4 and later store them and use them unchanged); all
/// zero stays all zero (as scikit-learn's normaliser of 0 is 1).
fn probabilities_of(v: &[f64]) -> impl Iterator<Item = f64> + '_ {
    let sum: f64 = v.iter().sum();
    let divisor = if sum == 0.0 || (sum - 1.0).abs() <= 1e-9 {
        1.0
    } else {
        sum
    };
    v.iter().map(move |x| x / divisor)
}

/// A video-quality model: a resolution classifier and a startup-delay
/// regressor, either of which may be absent.
#[derive(Debug)]
pub struct Model {
    version: String,
    features: Vec<String>,
    /// The largest index into the caller's feature vector a split uses.
    width: usize,
    resolution: Option<(Vec<u32>, Forest)>,
    startup: Option<Forest>,
}

impl Model {
    /// Reads and checks a model file. `known` names the features the
    /// caller computes, in the order of the vectors it will pass to
    /// [`Model::resolution`] and [`Model::startup_s`]; every feature of the
    /// model must be one of them.
    pub fn from_json(text: &str, known: &[&str]) -> Result<Model, ModelError> {
        let header: Header = serde_json::from_str(text)?;
        if header.format != FORMAT {
            return Err(ModelError::Format {
                found: header.format,
            });
        }
        let file: FileJson = serde_json::from_str(text)?;
        debug_assert_eq!(file.format, FORMAT);
        if file.version.trim().is_empty() {
            return Err(ModelError::NoVersion);
        }
        if file.features.is_empty() {
            return Err(ModelError::NoFeatures);
        }
        let mut columns = Vec::with_capacity(file.features.len());
        for (i, name) in file.features.iter().enumerate() {
            if file.features[..i].contains(name) {
                return Err(ModelError::DuplicateFeature(name.clone()));
            }
            let Some(c) = known.iter().position(|k| k == name) else {
                return Err(ModelError::UnknownFeature(name.clone()));
            };
            columns.push(c);
        }
        if file.resolution.is_none() && file.startup.is_none() {
            return Err(ModelError::NoParts);
        }
        let resolution = match &file.resolution {
            None => None,
            Some(r) => {
                if r.classes.is_empty() {
                    return Err(ModelError::NoClasses);
                }
                if r.classes.len() > MAX_CLASSES {
                    return Err(ModelError::TooManyClasses(r.classes.len()));
                }
                for (i, c) in r.classes.iter().enumerate() {
                    if r.classes[..i].contains(c) {
                        return Err(ModelError::DuplicateClass(*c));
                    }
                }
                let forest =
                    Forest::build(Part::Resolution, &r.trees, r.classes.len(), &columns, true)?;
                Some((r.classes.clone(), forest))
            }
        };
        let startup = match &file.startup {
            None => None,
            Some(s) => Some(Forest::build(Part::Startup, &s.trees, 1, &columns, false)?),
        };
        Ok(Model {
            version: file.version,
            width: columns.iter().max().map_or(0, |m| m + 1),
            features: file.features,
            resolution,
            startup,
        })
    }

    /// The model's version (`video-rf-YYYYMMDD-<hash of its training data>`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The model's features, in the file's order.
    pub fn features(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(String::as_str)
    }

    /// The resolution classes (heights), in the file's order.
    pub fn classes(&self) -> &[u32] {
        self.resolution.as_ref().map_or(&[], |(c, _)| c)
    }

    /// The rendered height most likely for the window with features `x`
    /// (ordered as the `known` names the model was loaded with) and its
    /// probability; None if the model has no resolution part.
    ///
    /// # Panics
    /// If `x` is shorter than the `known` names up to the last one the
    /// model uses.
    pub fn resolution(&self, x: &[f64]) -> Option<(u32, f64)> {
        let (classes, forest) = self.resolution.as_ref()?;
        assert!(x.len() >= self.width, "feature vector too short");
        let mut sum = [0.0f64; MAX_CLASSES];
        let sum = &mut sum[..classes.len()];
        for &root in &forest.roots {
            for (s, p) in sum.iter_mut().zip(forest.leaf(root, x)) {
                *s += p;
            }
        }
        let trees = forest.roots.len() as f64;
        for s in sum.iter_mut() {
            *s /= trees;
        }
        // The first largest, as numpy's argmax (values are finite).
        let mut best = 0;
        for (i, s) in sum.iter().enumerate().skip(1) {
            if *s > sum[best] {
                best = i;
            }
        }
        Some((classes[best], sum[best]))
    }

    /// The startup delay, seconds, estimated from the features `x` of a
    /// session's first window (ordered as the `known` names); None if the
    /// model has no startup part.
    ///
    /// # Panics
    /// As [`Model::resolution`].
    pub fn startup_s(&self, x: &[f64]) -> Option<f64> {
        let forest = self.startup.as_ref()?;
        assert!(x.len() >= self.width, "feature vector too short");
        let sum: f64 = forest
            .roots
            .iter()
            .fold(0.0, |acc, &root| acc + forest.leaf(root, x)[0]);
        Some(sum / forest.roots.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["f_a", "f_b", "f_c"];

    /// Two classifier trees on `f_b` and `f_a` and two regressor trees,
    /// written as the trainer writes them (leaves -1/-1, feature -2).
    const TINY: &str = r#"{
      "format": 1,
      "version": "video-rf-20260101-00000000",
      "features": ["f_b", "f_a"],
      "resolution": {
        "classes": [360, 720, 1080],
        "trees": [
          {"feature": [0, -2, -2], "threshold": [2.5, -2, -2],
           "left": [1, -1, -1], "right": [2, -1, -1],
           "value": [[], [3, 1, 0], [0, 1, 1]]},
          {"feature": [1, -2, 0, -2, -2], "threshold": [10.0, -2, 5.0, -2, -2],
           "left": [1, -1, 3, -1, -1], "right": [2, -1, 4, -1, -1],
           "value": [[0.2, 0.4, 0.4], [1.0, 0.0, 0.0], [0, 0, 0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]]}
        ]
      },
      "startup": {
        "trees": [
          {"feature": [0, -2, -2], "threshold": [1.0, -2, -2],
           "left": [1, -1, -1], "right": [2, -1, -1], "value": [0, 4.0, 1.0]},
          {"feature": [-2], "threshold": [-2], "left": [-1], "right": [-1], "value": [2.0]}
        ]
      }
    }"#;

    fn tiny() -> Model {
        Model::from_json(TINY, KNOWN).unwrap()
    }

    /// The feature vector ordered as KNOWN.
    fn x(a: f64, b: f64) -> [f64; 3] {
        [a, b, 99.0]
    }

    #[test]
    fn tiny_forest_known_answers() {
        let m = tiny();
        assert_eq!(m.version(), "video-rf-20260101-00000000");
        assert_eq!(m.features().collect::<Vec<_>>(), ["f_b", "f_a"]);
        assert_eq!(m.classes(), [360, 720, 1080]);
        // b = 1: tree 1 leaf [3,1,0] -> [.75,.25,0]; a = 1: tree 2 -> [1,0,0].
        let (h, p) = m.resolution(&x(1.0, 1.0)).unwrap();
        assert_eq!(h, 360);
        assert_eq!(p, (0.75 + 1.0) / 2.0);
        // b = 3: [0,.5,.5]; a = 20, b = 3 <= 5: [0,.5,.5]: 720 and 1080 tie,
        // the first wins.
        assert_eq!(m.resolution(&x(20.0, 3.0)), Some((720, 0.5)));
        // b = 6: [0,.5,.5] and [0,0,1] -> [0,.25,.75].
        assert_eq!(m.resolution(&x(20.0, 6.0)), Some((1080, 0.75)));
        // Startup: (4 + 2) / 2 and (1 + 2) / 2.
        assert_eq!(m.startup_s(&x(0.0, 1.0)), Some(3.0));
        assert_eq!(m.startup_s(&x(0.0, 1.5)), Some(1.5));
    }

    #[test]
    fn a_model_may_lack_a_part() {
        let text = TINY.replace(r#""startup""#, r#""unused""#);
        // An unknown field is refused...
        assert!(matches!(
            Model::from_json(&text, KNOWN),
            Err(ModelError::Json(_))
        ));
        // ...an absent part is not.
        let mut v: serde_json::Value = serde_json::from_str(TINY).unwrap();
        v.as_object_mut().unwrap().remove("startup");
        let m = Model::from_json(&v.to_string(), KNOWN).unwrap();
        assert_eq!(m.startup_s(&x(0.0, 0.0)), None);
        assert!(m.resolution(&x(0.0, 0.0)).is_some());
        let mut v: serde_json::Value = serde_json::from_str(TINY).unwrap();
        v.as_object_mut().unwrap().remove("resolution");
        let m = Model::from_json(&v.to_string(), KNOWN).unwrap();
        assert_eq!(m.resolution(&x(0.0, 0.0)), None);
        assert!(m.classes().is_empty());
        assert_eq!(m.startup_s(&x(0.0, 0.0)), Some(3.0));
    }

    fn stump(threshold: &str) -> Model {
        let text = format!(
            r#"{{"format": 1, "version": "v", "features": ["f_a"],
                "startup": {{"trees": [{{"feature": [0, -2, -2], "threshold": [{threshold}, -2, -2],
                  "left": [1, -1, -1], "right": [2, -1, -1], "value": [0, -1, 1]}}]}}}}"#
        );
        Model::from_json(&text, &["f_a"]).unwrap()
    }

    fn goes_left(m: &Model, x: f64) -> bool {
        m.startup_s(&[x]).unwrap() < 0.0
    }

    #[test]
    fn thresholds_compare_in_f32_as_scikit_learn() {
        // 0.1 as f32 is 0.100000001490116..., above the f64 0.1: rounded
        // first, 0.1 goes right of a threshold of 0.1.
        let m = stump("0.1");
        assert!(!goes_left(&m, 0.1));
        assert!(goes_left(&m, 0.099_999_99));
        // A value just above 1 (as f64) rounds to 1.0f32 and goes left of 1.
        let m = stump("1.0");
        assert!(goes_left(&m, 1.0 + f64::EPSILON * 1000.0));
        assert!(!goes_left(&m, 1.000_001));
        // Equal to the threshold (an f32 value) goes left.
        let t = f64::from(0.1f32);
        let m = stump(&format!("{t:?}"));
        assert!(goes_left(&m, 0.1));
        assert!(!goes_left(
            &m,
            f64::from(f32::from_bits(0.1f32.to_bits() + 1))
        ));
        // A midpoint between two neighbouring f32 values, as scikit-learn
        // places thresholds.
        let lo = 3.7f32;
        let hi = f32::from_bits(lo.to_bits() + 1);
        let mid = f64::from(lo) / 2.0 + f64::from(hi) / 2.0;
        let m = stump(&format!("{mid:?}"));
        assert!(goes_left(&m, f64::from(lo)));
        assert!(!goes_left(&m, f64::from(hi)));
        // Just below the midpoint in f64 still rounds to hi: right.
        assert!(!goes_left(&m, mid + (f64::from(hi) - mid) / 2.0));
        assert!(goes_left(&m, mid - (mid - f64::from(lo)) / 4.0));
        // NaN goes right; huge values round to infinity and go right.
        assert!(!goes_left(&m, f64::NAN));
        assert!(!goes_left(&m, 1e300));
        assert!(goes_left(&m, -1e300));
    }

    #[test]
    fn features_map_to_the_callers_order() {
        // The model lists f_b then f_a; the caller's vector is (a, b, c).
        let m = tiny();
        let mut v = x(1.0, 6.0);
        assert_eq!(m.resolution(&v).unwrap().0, 360);
        v[2] = -5.0; // f_c is not used
        assert_eq!(m.resolution(&v).unwrap().0, 360);
        // The same model loaded against a longer known list.
        let m = Model::from_json(TINY, &["f_z", "f_c", "f_b", "f_a"]).unwrap();
        assert_eq!(m.resolution(&[0.0, 0.0, 6.0, 1.0]).unwrap().0, 360);
        assert_eq!(m.resolution(&[0.0, 0.0, 1.0, 20.0]).unwrap().0, 360);
    }

    #[test]
    #[should_panic(expected = "feature vector too short")]
    fn a_short_vector_panics() {
        tiny().resolution(&[1.0]);
    }

    fn refuse(edit: impl FnOnce(&mut serde_json::Value)) -> ModelError {
        let mut v: serde_json::Value = serde_json::from_str(TINY).unwrap();
        edit(&mut v);
        Model::from_json(&v.to_string(), KNOWN).unwrap_err()
    }

    fn tree_error(e: ModelError) -> (Part, usize, TreeError) {
        match e {
            ModelError::Tree { part, tree, error } => (part, tree, error),
            e => panic!("not a tree error: {e}"),
        }
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        use serde_json::json;
        let e = Model::from_json("{\"format\": 1,", KNOWN).unwrap_err();
        assert!(matches!(e, ModelError::Json(_)), "{e}");
        let e = refuse(|v| v["format"] = json!(2));
        assert!(matches!(e, ModelError::Format { found: 2 }), "{e}");
        assert_eq!(
            e.to_string(),
            "model file format 2, this build reads format 1"
        );
        let e = refuse(|v| v["version"] = json!(" "));
        assert!(matches!(e, ModelError::NoVersion), "{e}");
        let e = refuse(|v| v["features"] = json!([]));
        assert!(matches!(e, ModelError::NoFeatures), "{e}");
        let e = refuse(|v| v["features"] = json!(["f_b", "f_nope"]));
        assert_eq!(
            e.to_string(),
            "model feature `f_nope` is not one the appliance computes"
        );
        let e = refuse(|v| v["features"] = json!(["f_b", "f_b"]));
        assert!(
            matches!(e, ModelError::DuplicateFeature(ref n) if n == "f_b"),
            "{e}"
        );
        let e = refuse(|v| {
            let o = v.as_object_mut().unwrap();
            o.remove("resolution");
            o.remove("startup");
        });
        assert!(matches!(e, ModelError::NoParts), "{e}");
        let e = refuse(|v| v["resolution"]["classes"] = json!([]));
        assert!(matches!(e, ModelError::NoClasses), "{e}");
        let e = refuse(|v| v["resolution"]["classes"] = json!([360, 720, 360]));
        assert!(matches!(e, ModelError::DuplicateClass(360)), "{e}");
        let e = refuse(|v| v["resolution"]["classes"] = json!((0..33).collect::<Vec<_>>()));
        assert!(matches!(e, ModelError::TooManyClasses(33)), "{e}");
        let e = refuse(|v| v["startup"]["trees"] = json!([]));
        assert!(matches!(e, ModelError::NoTrees(Part::Startup)), "{e}");
        let e = refuse(|v| v["startup"]["trees"][0]["extra"] = json!(1));
        assert!(matches!(e, ModelError::Json(_)), "{e}");
        let e = refuse(|v| v["resolution"]["trees"][0]["feature"] = json!("0"));
        assert!(matches!(e, ModelError::Json(_)), "{e}");

        let e = refuse(|v| {
            let t = &mut v["resolution"]["trees"][1];
            for k in ["feature", "threshold", "left", "right", "value"] {
                t[k] = json!([]);
            }
        });
        assert_eq!(tree_error(e), (Part::Resolution, 1, TreeError::Empty));
        let e = refuse(|v| v["resolution"]["trees"][1]["threshold"] = json!([10.0, -2, 5.0, -2]));
        assert_eq!(
            tree_error(e),
            (
                Part::Resolution,
                1,
                TreeError::Length {
                    array: "threshold",
                    len: 4,
                    nodes: 5
                }
            )
        );
        let e = refuse(|v| v["startup"]["trees"][0]["right"] = json!([2, -1, 3]));
        assert_eq!(
            tree_error(e),
            (
                Part::Startup,
                0,
                TreeError::HalfLeaf {
                    node: 2,
                    left: -1,
                    right: 3
                }
            )
        );
        let e = refuse(|v| v["startup"]["trees"][0]["right"] = json!([3, -1, -1]));
        let e = tree_error(e);
        assert_eq!(
            e.2,
            TreeError::ChildOutOfRange {
                node: 0,
                child: 3,
                nodes: 3
            }
        );
        assert_eq!(
            e.2.to_string(),
            "node 0: child 3 is not a node of the tree (3 nodes)"
        );
        let e = refuse(|v| v["startup"]["trees"][0]["left"] = json!([-7, -1, -1]));
        assert_eq!(
            tree_error(e).2,
            TreeError::ChildOutOfRange {
                node: 0,
                child: -7,
                nodes: 3
            }
        );
        // A loop back to the root.
        let e = refuse(|v| {
            let t = &mut v["resolution"]["trees"][1];
            t["left"] = json!([1, -1, 0, -1, -1]);
        });
        assert_eq!(
            tree_error(e),
            (
                Part::Resolution,
                1,
                TreeError::ChildNotAfterParent { node: 2, child: 0 }
            )
        );
        // A node that is its own child.
        let e = refuse(|v| v["startup"]["trees"][0]["left"] = json!([0, -1, -1]));
        assert_eq!(
            tree_error(e).2,
            TreeError::ChildNotAfterParent { node: 0, child: 0 }
        );
        let e = refuse(|v| v["resolution"]["trees"][0]["feature"] = json!([2, -2, -2]));
        assert_eq!(
            tree_error(e).2,
            TreeError::Feature {
                node: 0,
                feature: 2,
                features: 2
            }
        );
        let e = refuse(|v| v["resolution"]["trees"][0]["feature"] = json!([-2, -2, -2]));
        assert!(matches!(
            tree_error(e).2,
            TreeError::Feature {
                node: 0,
                feature: -2,
                ..
            }
        ));
        let e = refuse(|v| v["resolution"]["trees"][0]["value"] = json!([[], [3, 1], [0, 1, 1]]));
        assert_eq!(
            tree_error(e).2,
            TreeError::ValueWidth {
                node: 1,
                len: 2,
                expected: 3
            }
        );
        let e =
            refuse(|v| v["resolution"]["trees"][0]["value"] = json!([[], [3, -1, 0], [0, 1, 1]]));
        assert_eq!(
            tree_error(e).2,
            TreeError::Value {
                node: 1,
                value: -1.0
            }
        );
        let text = TINY.replace("[0, 4.0, 1.0]", "[0, 4.0, 1e999]");
        assert_ne!(text, TINY);
        let e = Model::from_json(&text, KNOWN).unwrap_err();
        assert!(matches!(e, ModelError::Json(_)), "{e}");
        let e = refuse(|v| v["startup"]["trees"][1]["value"] = json!([[2.0]]));
        assert!(matches!(e, ModelError::Json(_)), "{e}");
        let e = refuse(|v| v["startup"]["trees"][0]["left"] = json!([1, -1, -1, -1]));
        assert_eq!(
            tree_error(e).2,
            TreeError::Length {
                array: "feature",
                len: 3,
                nodes: 4
            }
        );
        let msg = refuse(|v| v["startup"]["trees"][0]["left"] = json!([0, -1, -1])).to_string();
        assert_eq!(
            msg,
            "startup tree 0: node 0: child 0 does not come after its parent (a cycle or a shared node)"
        );
    }

    #[test]
    fn probabilities_are_normalised_counts_or_taken_as_stored() {
        let p: Vec<f64> = probabilities_of(&[3.0, 1.0, 0.0]).collect();
        assert_eq!(p, [0.75, 0.25, 0.0]);
        // Stored probabilities summing to 1 to rounding stay bit for bit.
        let stored = [0.3, 0.3, 0.3, 0.1];
        assert_ne!(stored.iter().sum::<f64>(), 1.0);
        let p: Vec<f64> = probabilities_of(&stored).collect();
        assert_eq!(p, stored);
        let p: Vec<f64> = probabilities_of(&[0.0, 0.0]).collect();
        assert_eq!(p, [0.0, 0.0]);
    }
}

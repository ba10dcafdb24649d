//! The committed model answers as scikit-learn did: every row of
//! `model/golden.json` (real windows, with the trainer's scikit-learn
//! predictions) evaluated by `video::model::Model` from
//! `model/video-model.json`.

use std::path::PathBuf;

use serde::Deserialize;
use video::features;
use video::model::{Model, DEFAULT_MODEL};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Golden {
    version: String,
    rows: Vec<Row>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    x: Vec<f64>,
    resolution: u32,
    probability: f64,
    startup_s: f64,
}

#[derive(Deserialize)]
struct Features {
    features: Vec<String>,
}

fn read(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "model", name].iter().collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (train the model: see appliance/video/model/MODEL_CARD.md)",
            path.display()
        )
    })
}

#[test]
fn the_model_answers_as_scikit_learn() {
    let text = read("video-model.json");
    let golden: Golden = serde_json::from_str(&read("golden.json")).expect("golden.json");
    let names: Features = serde_json::from_str(&text).expect("video-model.json");
    let known: Vec<&str> = names.features.iter().map(String::as_str).collect();
    let model = Model::from_json(&text, &known).expect("video-model.json loads");
    assert_eq!(
        model.version(),
        golden.version,
        "golden.json is not from this model"
    );
    assert_eq!(model.features().collect::<Vec<_>>(), known);
    assert!(!golden.rows.is_empty(), "golden.json has no row");
    let mut classes = std::collections::BTreeSet::new();
    for (i, row) in golden.rows.iter().enumerate() {
        assert_eq!(row.x.len(), known.len(), "row {i}: width");
        let (h, p) = model.resolution(&row.x).expect("a resolution part");
        assert_eq!(h, row.resolution, "row {i}: class");
        assert!(
            (p - row.probability).abs() < 1e-9,
            "row {i}: probability {p}, scikit-learn {}",
            row.probability
        );
        let s = model.startup_s(&row.x).expect("a startup part");
        assert!(
            (s - row.startup_s).abs() <= 1e-9 * row.startup_s.abs().max(1.0),
            "row {i}: startup {s} s, scikit-learn {} s",
            row.startup_s
        );
        classes.insert(h);
    }
    assert!(model.classes().len() >= 2, "one class only");
    println!(
        "{} rows agree; classes predicted {:?} of {:?}",
        golden.rows.len(),
        classes,
        model.classes()
    );
}

#[test]
fn the_default_model_reads_the_appliance_features() {
    let golden: Golden = serde_json::from_str(&read("golden.json")).expect("golden.json");
    let model = Model::from_json(DEFAULT_MODEL, features::NAMES)
        .expect("the committed model loads with the appliance's feature names");
    assert_eq!(model.version(), golden.version);
    // The golden rows are in the model's order; the appliance passes its
    // own (features::NAMES): place each value where the appliance has it
    // (NaN elsewhere: a feature the model does not use).
    let at: Vec<usize> = model
        .features()
        .map(|f| features::NAMES.iter().position(|n| *n == f).unwrap())
        .collect();
    for (i, row) in golden.rows.iter().enumerate() {
        let mut x = [f64::NAN; features::COUNT];
        for (v, &k) in row.x.iter().zip(&at) {
            x[k] = *v;
        }
        let (h, p) = model.resolution(&x).expect("a resolution part");
        assert_eq!(h, row.resolution, "row {i}: class");
        assert!((p - row.probability).abs() < 1e-9, "row {i}: probability");
        let s = model.startup_s(&x).expect("a startup part");
        assert!(
            (s - row.startup_s).abs() <= 1e-9 * row.startup_s.abs().max(1.0),
            "row {i}: startup"
        );
    }
}

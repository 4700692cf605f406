//! The CI smoke run of the fuzz targets (examples/fuzz): every target, a few thousand inputs
//! from the committed corpus, no panic, no violated invariant; and the regression inputs of
//! the crashes the long runs found (docs/SECURITY.md, "Fuzzing").

#[path = "../examples/fuzz/engine.rs"]
mod engine;
#[path = "../examples/fuzz/targets.rs"]
mod targets;

const SMOKE_INPUTS: u64 = 2_000;

#[test]
fn every_fuzz_target_survives_a_smoke_run_from_its_corpus() {
    let mut failures = Vec::new();
    for t in targets::TARGETS {
        let seeds = engine::load_corpus(&engine::corpus_root().join(t.name))
            .unwrap_or_else(|e| panic!("corpus of {}: {e}", t.name));
        assert!(!seeds.is_empty(), "{} has no committed corpus", t.name);
        let r = engine::run(t, &seeds, SMOKE_INPUTS, 7, None, |_, _| true);
        assert_eq!(r.inputs, SMOKE_INPUTS, "{}", t.name);
        assert!(
            r.outcomes > 1,
            "{}: one outcome only; mutations do nothing",
            t.name
        );
        for c in r.crashes {
            failures.push(format!("{}: {} (input {:?})", t.name, c.what, c.input));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn the_template_seeds_parse_and_the_mutator_is_deterministic() {
    for name in ["iso-2005", "iso-2011", "ansi-2004", "ansi-2009"] {
        let t = targets::find(name).unwrap();
        let seeds = engine::load_corpus(&engine::corpus_root().join(name)).unwrap();
        let sample = seeds.iter().find(|s| s.len() > 100).expect("a full sample");
        let sig = (t.run)(sample).unwrap();
        assert!(sig.starts_with("ok:views="), "{name}: {sig}");
    }
    let t = targets::find("enrollment").unwrap();
    let mut a = b"{\"capture_id\":\"x\"}".to_vec();
    let mut b = a.clone();
    engine::mutate(&mut engine::Rng::new(5), &mut a, b"{}", t);
    engine::mutate(&mut engine::Rng::new(5), &mut b, b"{}", t);
    assert_eq!(a, b);
}

/// Inputs kept under fuzz/corpus/<target>/ named `regress-*` reproduce crashes the long runs
/// found; each must now give a typed outcome.
#[test]
fn the_regression_inputs_give_typed_outcomes() {
    for t in targets::TARGETS {
        let dir = engine::corpus_root().join(t.name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with("regress-") {
                let data = std::fs::read(e.path()).unwrap();
                let v = std::panic::catch_unwind(|| (t.run)(&data));
                assert!(matches!(v, Ok(Ok(_))), "{}/{name}: {v:?}", t.name);
            }
        }
    }
}

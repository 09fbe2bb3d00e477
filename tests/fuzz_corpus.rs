//! The fuzz harness in `cargo test`: every input of the kept corpus
//! (`fuzz/corpus/<target>/`) and every input that once failed
//! (`fuzz/regressions/<target>/`) through its target, then a bounded number of
//! mutations of those inputs (byte flips, cuts, splices), checking the same
//! properties as the cargo-fuzz targets. Long runs: see fuzz/README.md.

#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 4] = [
    ("review", harness::review),
    ("pod_object", harness::pod_object),
    ("secret_object", harness::secret_object),
    ("snapshot", harness::snapshot_text),
];

/// The kept inputs of `target`, read once.
fn corpus(target: &str) -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<HashMap<&'static str, Vec<Vec<u8>>>> = OnceLock::new();
    let all = CORPUS.get_or_init(|| {
        TARGETS
            .iter()
            .map(|(name, _)| {
                let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
                let mut files: Vec<PathBuf> = ["corpus", "regressions"]
                    .iter()
                    .map(|kind| fuzz.join(kind).join(name))
                    .filter(|dir| dir.exists())
                    .flat_map(|dir| std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()))
                    .collect();
                files.sort();
                (*name, files.iter().map(|path| std::fs::read(path).unwrap()).collect())
            })
            .collect()
    });
    &all[target]
}

#[test]
fn the_kept_corpus_passes_every_target() {
    for (name, target) in TARGETS {
        let inputs = corpus(name);
        assert!(inputs.len() >= 5, "fuzz/corpus/{name} holds only {} inputs", inputs.len());
        for input in inputs {
            target(input);
        }
    }
}

/// One edit of an input.
#[derive(Clone, Debug)]
enum Edit {
    Flip { at: usize, byte: u8 },
    Cut { at: usize },
    Delete { at: usize, len: usize },
    Splice { at: usize, from: usize, len: usize },
}

fn edit(input: &mut Vec<u8>, edit: &Edit) {
    let n = input.len().max(1);
    match *edit {
        Edit::Flip { at, byte } => {
            if !input.is_empty() {
                input[at % n] = byte;
            }
        }
        Edit::Cut { at } => input.truncate(at % n),
        Edit::Delete { at, len } => {
            let at = at % n;
            let end = (at + len).min(input.len());
            input.drain(at.min(end)..end);
        }
        Edit::Splice { at, from, len } => {
            let from = from % n;
            let end = (from + len).min(input.len());
            let piece = input[from.min(end)..end].to_vec();
            let at = (at % n).min(input.len());
            input.splice(at..at, piece);
        }
    }
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let one = prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Flip { at, byte }),
        4 => (any::<usize>(), prop::sample::select(&b"{}[]\",:0-9e.\\ntrue"[..]))
            .prop_map(|(at, byte)| Edit::Flip { at, byte }),
        1 => any::<usize>().prop_map(|at| Edit::Cut { at }),
        2 => (any::<usize>(), 1..64usize).prop_map(|(at, len)| Edit::Delete { at, len }),
        2 => (any::<usize>(), any::<usize>(), 1..256usize).prop_map(|(at, from, len)| Edit::Splice { at, from, len }),
    ];
    prop::collection::vec(one, 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_corpus_inputs_keep_the_properties(target in 0..TARGETS.len(), pick in any::<usize>(), edits in edits()) {
        let (name, run) = TARGETS[target];
        let inputs = corpus(name);
        let mut input = inputs[pick % inputs.len()].clone();
        for e in &edits {
            edit(&mut input, e);
        }
        run(&input);
    }
}

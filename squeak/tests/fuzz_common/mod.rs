//! The image-file loader's and the expression compiler's fuzz targets
//! (`fuzz/fuzz_targets/image.rs` and `expression.rs` include this file), as functions that the
//! property tests `fuzz_image.rs` and `fuzz_expression.rs` run on stable too. The property:
//! any input gives `Ok` or a typed error, never a panic, within
//! [`TIME_BOUND`](cowheap_stress::fuzz::TIME_BOUND).
//!
//! Seeds are built here by hand (a V3 image of seven objects, expressions of every syntax),
//! plus the real image files when they are present: the fuzz targets and the property tests
//! run without them.
#![allow(dead_code)] // each test binary uses its own part

use std::path::PathBuf;
use std::sync::OnceLock;

use cowheap_squeak::interp::{new_heap, parse, Limits, Vm};
use cowheap_squeak::loader::{load_bytes, verify_references, Loaded};
use cowheap_stress::fuzz::within;

/// The real images folder, by the tests' rule (`tests/images_common`, which this cannot
/// include: the fuzz targets build it too): `$COWHEAP_IMAGES`, else `../shared/images` beside
/// the workspace root when it exists, else `cargo xtask fetch-images`' cache folder.
fn images_dir() -> PathBuf {
    let var = |v: &str| {
        std::env::var_os(v)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = var("COWHEAP_IMAGES") {
        return d;
    }
    // The crates that include this file are one folder below the workspace root.
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/images");
    let cache = var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|h| h.join(".cache")));
    match cache {
        Some(c) if !shared.is_dir() => c.join("cowheap/images"),
        _ => shared,
    }
}

/// A real image file's bytes, if it is there.
fn real(file: &str) -> Option<Vec<u8>> {
    std::fs::read(images_dir().join(file)).ok()
}

/// A V3 object for [`v3_image`]: its class (an index into the image's objects), its format
/// code and its fields (indices into the objects; bytes objects give their bytes instead).
pub struct V3Object {
    pub class: usize,
    pub format: u32,
    pub fields: Vec<usize>,
    pub bytes: Vec<u8>,
}

/// Where the hand-built image says it was saved.
const OLD_BASE: u32 = 0x0001_0000;

/// A little-endian V3 (6502) image file of `objects`, each with a two-word header (class
/// word, base header), object 0 being the special-objects array.
pub fn v3_image(objects: &[V3Object]) -> Vec<u8> {
    let body_words = |o: &V3Object| match o.format {
        8..=11 => o.bytes.len().div_ceil(4),
        _ => o.fields.len(),
    };
    // The address of each object's base header (its oop): after its class word.
    let mut oops = Vec::new();
    let mut at = 0u32;
    for o in objects {
        oops.push(OLD_BASE + at + 4);
        at += 4 * (2 + body_words(o) as u32);
    }
    let mut data = Vec::new();
    for (n, o) in objects.iter().enumerate() {
        let words = body_words(o);
        let pad = (4 * words - o.bytes.len().min(4 * words)) as u32;
        let format = if o.format >= 8 { 8 | pad } else { o.format };
        let base = 1 | (((words as u32 + 1) * 4) & 0xFC) | (format << 8) | ((n as u32 + 1) << 17);
        data.extend((oops[o.class] | 1).to_le_bytes());
        data.extend(base.to_le_bytes());
        if o.format >= 8 {
            let mut b = o.bytes.clone();
            b.resize(4 * words, 0);
            data.extend(b);
        } else {
            for &f in &o.fields {
                data.extend(oops[f].to_le_bytes());
            }
        }
    }
    let mut file = vec![0u8; 64];
    for (i, w) in [6502, 64, data.len() as u32, OLD_BASE, oops[0], 0, 0, 0]
        .into_iter()
        .enumerate()
    {
        file[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    file.extend(data);
    file
}

/// The smallest image the loader takes: the special-objects array (nil, false, true, the
/// compact-class table), nil, false, true, one class (of everything, itself included), the
/// empty compact-class table, and a string.
pub fn tiny_image() -> Vec<u8> {
    let (nil, fals, tru, class, compact, string) = (1, 2, 3, 4, 5, 6);
    let mut special_fields = vec![nil; 40];
    special_fields[1] = fals;
    special_fields[2] = tru;
    special_fields[28] = compact;
    let obj = |format, fields: Vec<usize>| V3Object {
        class,
        format,
        fields,
        bytes: Vec::new(),
    };
    v3_image(&[
        obj(2, special_fields),
        obj(0, vec![]),
        obj(0, vec![]),
        obj(0, vec![]),
        obj(1, vec![nil, compact, string, nil, nil, nil]),
        obj(2, vec![nil; 31]),
        V3Object {
            class,
            format: 8,
            fields: Vec::new(),
            bytes: b"SmallInteger".to_vec(),
        },
    ])
}

/// The image target's seeds: the hand-built image, and the smallest real ones if present.
pub fn image_seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds = vec![tiny_image()];
        seeds.extend(
            ["headless-spur32.image", "bootstrapped-v3-6505.image"]
                .map(real)
                .into_iter()
                .flatten(),
        );
        seeds
    })
}

/// The image target: `bytes` loaded as an image file. A load answers a heap whose every
/// reference resolves and whose object count is what it reports; a refusal names an offset
/// inside the input. Answers whether it loaded.
pub fn image(bytes: &[u8]) -> bool {
    within("the image loader", || match load_bytes(bytes) {
        Ok(loaded) => {
            if let Err(e) = verify_references(&loaded.heap) {
                panic!("loaded a heap with a dangling reference: {e}");
            }
            assert_eq!(loaded.heap.object_count(), loaded.info.object_count);
            true
        }
        Err(e) => {
            let offset = e.offset().expect("in-memory loads have offsets");
            assert!(offset <= bytes.len(), "offset {offset} past the end: {e}");
            assert!(!e.to_string().is_empty());
            false
        }
    })
}

/// Expressions of every syntax the parser reads, as seeds.
pub const EXPRESSIONS: [&str; 12] = [
    "3 + 4",
    "nil",
    "#(1 $a 'str' #sym #(nested) true) size",
    "[:x :y | x * y] value: 6 value: 7",
    "(1 to: 10) inject: 0 into: [:a :b | a + b]",
    "'abc' reversed , 'def'",
    "#foo:bar: numArgs",
    "3 - 4 * 5 // 2 max: -7",
    "Smalltalk at: #Transcript",
    "3 > 4 ifTrue: ['yes'] ifFalse: ['no']",
    "[:a | a + 1. a * 2] value: $i",
    "thisContext sender class name size",
];

/// The real image expressions are run in, if it is present: its loaded base and `Vm`.
fn mini() -> Option<&'static (Loaded, Vm)> {
    static MINI: OnceLock<Option<(Loaded, Vm)>> = OnceLock::new();
    MINI.get_or_init(|| {
        let loaded = load_bytes(&real("mini-2.2-v3-le.image")?).expect("the mini image loads");
        let vm = Vm::new(&loaded.heap).expect("the mini image has an interpreter");
        Some((loaded, vm))
    })
    .as_ref()
}

/// Small limits, so that any expression ends well within the time bound.
fn limits() -> Limits {
    Limits {
        bytecodes: 1_000_000,
        private_bytes: 16 << 20,
        depth: 10_000,
        time: Some(std::time::Duration::from_secs(2)),
    }
}

/// The expression target: `text` parsed, and where the mini image is present, compiled and run
/// in a fresh image of it under small limits. A parse error or any stop is a typed error; the
/// image stays usable after a stop (it answers `3 + 4`). Answers whether it parsed.
pub fn expression(input: &[u8]) -> bool {
    let text = String::from_utf8_lossy(input);
    within("the expression parser and compiler", || {
        let parsed = match parse(&text) {
            Ok(_) => true,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                false
            }
        };
        if let Some((loaded, vm)) = mini() {
            let mut image = new_heap(&loaded.heap).expect("an image id");
            let mut interp = vm.interpreter(limits());
            let answer = interp.evaluate(&mut image, &text);
            // Text the expression grammar refuses runs only where the image's own compiler
            // accepts it (`evaluate` hands it over).
            if !parsed && answer.is_ok() {
                let mut fresh = new_heap(&loaded.heap).expect("an image id");
                let mut other = vm.interpreter(limits());
                assert!(
                    other.evaluate_with_compiler(&mut fresh, &text).is_ok(),
                    "text neither compiler accepts ran"
                );
            }
            let seven = interp.evaluate(&mut image, "3 + 4");
            assert_eq!(
                seven,
                Ok(cowheap::Value::small_int(7).unwrap()),
                "after {answer:?}"
            );
        }
        parsed
    })
}

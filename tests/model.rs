//! Model-based property test: random operation sequences for 2-8 images, each on its own
//! thread, checked step by step against a sequential shadow of "the base plus my own
//! operations".

mod common;

use common::{fixture, int, Fixture};
use cowheap::{Format, Image, Value};
use proptest::prelude::*;

const BASE_OBJECTS: usize = 6;
const SLOTS: usize = 4;

#[derive(Clone, Debug)]
enum Op {
    Read { obj: usize, slot: usize },
    WriteInt { obj: usize, slot: usize, value: i64 },
    WriteRef { obj: usize, slot: usize, to: usize },
    Allocate,
    Identical { a: usize, b: usize },
    Hash { obj: usize },
    Become { from: usize, to: usize },
    WriteByte { index: usize, byte: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    let o = 0..32usize;
    let s = 0..SLOTS;
    prop_oneof![
        4 => (o.clone(), s.clone()).prop_map(|(obj, slot)| Op::Read { obj, slot }),
        3 => (o.clone(), s.clone(), -5i64..5).prop_map(|(obj, slot, value)| Op::WriteInt { obj, slot, value }),
        2 => (o.clone(), s.clone(), o.clone()).prop_map(|(obj, slot, to)| Op::WriteRef { obj, slot, to }),
        1 => Just(Op::Allocate),
        1 => (o.clone(), o.clone()).prop_map(|(a, b)| Op::Identical { a, b }),
        1 => o.clone().prop_map(|obj| Op::Hash { obj }),
        1 => (o.clone(), o).prop_map(|(from, to)| Op::Become { from, to }),
        1 => (0..11usize, any::<u8>()).prop_map(|(index, byte)| Op::WriteByte { index, byte }),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Shadow {
    Int(i64),
    Obj(usize),
}

/// One image's expected view. Objects are numbered: base objects first, then allocations.
struct Model {
    slots: Vec<[Shadow; SLOTS]>,
    alias: Vec<usize>,
    hashes: Vec<Option<u32>>,
    bytes: Vec<u8>,
}

impl Model {
    fn resolve(&self, mut o: usize) -> usize {
        while self.alias[o] != o {
            o = self.alias[o];
        }
        o
    }
}

fn run_image(img: &mut Image, f: &Fixture, ops: &[Op], nil: usize) -> Result<(), String> {
    let mut refs: Vec<Value> = f.objects.clone();
    refs.push(f.kernel.nil);
    let to_shadow = |v: Value, refs: &Vec<Value>| -> Shadow {
        match v.as_small_int() {
            Some(i) => Shadow::Int(i),
            None => Shadow::Obj(refs.iter().position(|r| *r == v).unwrap_or(usize::MAX)),
        }
    };
    let mut model = Model {
        slots: f
            .objects
            .iter()
            .map(|&o| {
                std::array::from_fn(|k| to_shadow(f.heap.original_field(o, k).unwrap(), &refs))
            })
            .collect(),
        alias: (0..=BASE_OBJECTS).collect(),
        hashes: vec![None; BASE_OBJECTS + 1],
        bytes: f.heap.original_bytes(f.bytes).unwrap(),
    };
    model.slots.push([Shadow::Obj(nil); SLOTS]); // nil has no slots; never picked for slot ops
    let pick = |i: usize, n: usize| i % n;
    for (step, op) in ops.iter().enumerate() {
        let n = refs.len();
        let id = img.id();
        let ctx = |what: String| format!("image {id} step {step} {op:?}: {what}");
        // Slot operations target pointer objects with 4 slots: anything but nil.
        let pointer_obj = |i: usize, model: &Model| {
            let o = pick(i, n);
            if model.resolve(o) == nil {
                None
            } else {
                Some(o)
            }
        };
        match *op {
            Op::Read { obj, slot } => {
                let Some(o) = pointer_obj(obj, &model) else {
                    continue;
                };
                let got = img.read(refs[o], slot).map_err(|e| ctx(e.to_string()))?;
                let want = model.slots[model.resolve(o)][slot];
                match want {
                    Shadow::Int(i) => {
                        if got != int(i) {
                            return Err(ctx(format!("read {got:?}, expected {i}")));
                        }
                    }
                    Shadow::Obj(w) => {
                        let same = img
                            .identical(got, refs[w])
                            .map_err(|e| ctx(e.to_string()))?;
                        if !same {
                            return Err(ctx(format!("read {got:?}, expected object {w}")));
                        }
                    }
                }
            }
            Op::WriteInt { obj, slot, value } => {
                let Some(o) = pointer_obj(obj, &model) else {
                    continue;
                };
                img.write(refs[o], slot, int(value))
                    .map_err(|e| ctx(e.to_string()))?;
                let r = model.resolve(o);
                model.slots[r][slot] = Shadow::Int(value);
            }
            Op::WriteRef { obj, slot, to } => {
                let Some(o) = pointer_obj(obj, &model) else {
                    continue;
                };
                let t = pick(to, n);
                img.write(refs[o], slot, refs[t])
                    .map_err(|e| ctx(e.to_string()))?;
                let r = model.resolve(o);
                model.slots[r][slot] = Shadow::Obj(model.resolve(t));
            }
            Op::Allocate => {
                let v = img
                    .allocate(f.kernel.array, Format::Pointers, SLOTS)
                    .map_err(|e| ctx(e.to_string()))?;
                refs.push(v);
                model.slots.push([Shadow::Obj(nil); SLOTS]);
                model.alias.push(refs.len() - 1);
                model.hashes.push(None);
            }
            Op::Identical { a, b } => {
                let (a, b) = (pick(a, n), pick(b, n));
                let got = img
                    .identical(refs[a], refs[b])
                    .map_err(|e| ctx(e.to_string()))?;
                if got != (model.resolve(a) == model.resolve(b)) {
                    return Err(ctx(format!("identical answered {got}")));
                }
            }
            Op::Hash { obj } => {
                let o = pick(obj, n);
                let h = img.identity_hash(refs[o]).map_err(|e| ctx(e.to_string()))?;
                let r = model.resolve(o);
                match model.hashes[r] {
                    Some(prev) if prev != h => {
                        return Err(ctx(format!("hash changed {prev} -> {h}")))
                    }
                    _ => model.hashes[r] = Some(h),
                }
                if r < BASE_OBJECTS && h != f.heap.original_hash(f.objects[r]).unwrap() {
                    return Err(ctx("a base object's hash differs from the base".into()));
                }
            }
            Op::Become { from, to } => {
                let (a, b) = (pick(from, n), pick(to, n));
                if model.resolve(a) == nil || model.resolve(b) == nil {
                    continue;
                }
                img.become_forward(refs[a], refs[b])
                    .map_err(|e| ctx(e.to_string()))?;
                let (ra, rb) = (model.resolve(a), model.resolve(b));
                if ra != rb {
                    model.alias[ra] = rb;
                }
            }
            Op::WriteByte { index, byte } => {
                img.write_byte(f.bytes, index, byte)
                    .map_err(|e| ctx(e.to_string()))?;
                model.bytes[index] = byte;
            }
        }
    }
    // The whole view at the end.
    for o in 0..refs.len() {
        let r = model.resolve(o);
        if r == nil {
            continue;
        }
        for k in 0..SLOTS {
            let got = img.read(refs[o], k).map_err(|e| e.to_string())?;
            let ok = match model.slots[r][k] {
                Shadow::Int(i) => got == int(i),
                Shadow::Obj(w) => img.identical(got, refs[w]).map_err(|e| e.to_string())?,
            };
            if !ok {
                return Err(format!(
                    "image {}: final view of object {o} slot {k} is {got:?}",
                    img.id()
                ));
            }
        }
    }
    if img.bytes(f.bytes).map_err(|e| e.to_string())? != model.bytes {
        return Err(format!("image {}: final bytes differ", img.id()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn images_match_their_shadow_models(
        programs in prop::collection::vec(prop::collection::vec(op(), 1..60), 2..=8)
    ) {
        let f = std::sync::Arc::new(fixture(BASE_OBJECTS));
        let checksum = f.heap.checksum();
        let nil = BASE_OBJECTS;
        let handles: Vec<_> = programs
            .into_iter()
            .map(|ops| {
                let f = f.clone();
                f.heap.clone().spawn_image(move |img| run_image(img, &f, &ops, nil)).unwrap()
            })
            .collect();
        for h in handles {
            let result = h.join().expect("image thread panicked");
            prop_assert!(result.is_ok(), "{}", result.unwrap_err());
        }
        prop_assert_eq!(f.heap.checksum(), checksum);
        prop_assert_eq!(f.heap.census().entries, 0, "teardown cleared every slot");
        prop_assert_eq!(f.heap.live_images(), 0);
    }
}

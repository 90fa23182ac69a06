//! The embedded default base: a deterministic, generated object graph shaped like a small
//! Smalltalk image, so that `cowheap stress` (and the benchmarks) work on a fresh clone with no
//! image file.
//!
//! The mix follows what a real image holds: mostly small pointer objects (instances of a few
//! hundred classes), arrays of varied sizes, strings and symbols, byte and word arrays,
//! compiled methods with literals and bytecodes, and a handful of large objects (a symbol
//! table, a big array, a display bitmap, a form's words). Every object is reachable from the
//! named roots: objects are linked into a spanning tree first, and the remaining slots then
//! get random references and immediates, so the graph also has cross links and cycles.

use crate::rng::Rng;
use cowheap::{BaseBuilder, BaseHeap, Error, Format, HeapConfig, Kernel, Value, MAX_HASH};

/// What to generate. The same configuration always yields the same objects and contents.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Fixes every choice the generator makes.
    pub seed: u64,
    /// Roughly how many objects to create (the kernel and the roots' arrays add a few more).
    /// The default, 60,000, keeps the default stress run quick while giving a few megabytes of
    /// base with a realistic spread of sizes.
    pub objects: usize,
    /// The sealed heap's limit on live images.
    pub max_images: usize,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 0x5eed_c0de,
            objects: 60_000,
            max_images: HeapConfig::default().max_images,
        }
    }
}

/// A generated base and its objects sorted by kind, so that workloads and benchmarks can aim
/// at the kind of object they need without walking the heap.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The sealed base.
    pub heap: BaseHeap,
    /// Its kernel classes and constants.
    pub kernel: Kernel,
    /// The generated objects, by kind.
    pub objects: Objects,
}

/// The generated objects of a base, by kind.
#[derive(Clone, Debug, Default)]
pub struct Objects {
    /// Generated classes (pointers, 7 slots, Squeak's class layout).
    pub classes: Vec<Value>,
    /// Small instances of the generated classes (pointers, 1 to 10 slots).
    pub instances: Vec<Value>,
    /// Arrays (pointers, mostly short, a few hundreds of slots long), method dictionaries
    /// included.
    pub arrays: Vec<Value>,
    /// Strings (bytes).
    pub strings: Vec<Value>,
    /// Symbols (bytes), all also held by the `Symbols` root.
    pub symbols: Vec<Value>,
    /// ByteArrays (bytes).
    pub byte_arrays: Vec<Value>,
    /// WordArrays (32-bit words).
    pub word_arrays: Vec<Value>,
    /// Compiled methods (literals, then bytecodes).
    pub methods: Vec<Value>,
    /// The few large objects: each tens of thousands of slots, words or bytes.
    pub large: Vec<Value>,
}

impl Objects {
    /// Every generated object except the kernel's, in a fixed order.
    pub fn all(&self) -> impl Iterator<Item = Value> + '_ {
        [
            &self.classes,
            &self.instances,
            &self.arrays,
            &self.strings,
            &self.symbols,
            &self.byte_arrays,
            &self.word_arrays,
            &self.methods,
            &self.large,
        ]
        .into_iter()
        .flatten()
        .copied()
    }
}

impl Generated {
    /// Every generated object except the kernel's, in a fixed order: the population a
    /// workload draws from.
    pub fn workload_objects(&self) -> Vec<Value> {
        self.objects.all().collect()
    }

    /// Pointer-format objects only (instances and arrays): the targets of slot writes in a
    /// benchmark that wants no format checks.
    pub fn pointer_objects(&self) -> Vec<Value> {
        let mut all = self.objects.instances.clone();
        all.extend_from_slice(&self.objects.arrays);
        all
    }
}

/// Builds and seals the default base described by `config`.
///
/// Fails only if the configuration is out of range (`max_images`), or if the process has
/// used up its base-heap ids.
pub fn generate_base(config: &GenConfig) -> Result<Generated, Error> {
    let mut rng = Rng::new(config.seed);
    let mut b = BaseBuilder::new();
    let kernel = Kernel::install(&mut b)?;
    let mut g = Objects::default();
    let objects = config.objects.max(64);

    // Classes, each with a method dictionary (an Array of its methods) and an instance size.
    let n_classes = (objects / 300).clamp(8, 4096);
    let mut inst_sizes = Vec::with_capacity(n_classes);
    let mut method_slots: Vec<(Value, usize)> = Vec::new();
    for c in 0..n_classes {
        let superclass = if c == 0 {
            kernel.object
        } else {
            g.classes[rng.below(c)]
        };
        let class = kernel.define_class(&mut b, &format!("Generated{c}"), superclass)?;
        let dict_len = rng.range(4, 25);
        let dict = b.new_object(kernel.array, Format::Pointers, dict_len)?;
        b.set_field(class, 1, dict)?;
        let inst_size = rng.range(1, 11);
        b.set_field(class, 2, small(inst_size as i64))?;
        inst_sizes.push(inst_size);
        for k in 0..dict_len {
            method_slots.push((dict, k));
        }
        g.classes.push(class);
        g.arrays.push(dict);
    }

    // The bulk, in proportions close to a small Squeak image's.
    let budget = objects.saturating_sub(b.object_count() + 8);
    let mut symbol_number = 0usize;
    for _ in 0..budget {
        let roll = rng.below(100);
        if roll < 38 {
            let c = rng.below(n_classes);
            let obj = b.new_object(g.classes[c], Format::Pointers, inst_sizes[c])?;
            g.instances.push(obj);
        } else if roll < 52 {
            let len = match rng.below(20) {
                0 => rng.range(64, 512),
                1..=5 => rng.range(8, 64),
                _ => rng.range(0, 8),
            };
            g.arrays
                .push(b.new_object(kernel.array, Format::Pointers, len)?);
        } else if roll < 68 {
            let len = rng.range(1, 48);
            let text: Vec<u8> = (0..len).map(|_| b' ' + rng.below(95) as u8).collect();
            g.strings.push(b.new_bytes(kernel.string, &text)?);
        } else if roll < 74 {
            let mut name = syllables(&mut rng);
            name.push_str(&symbol_number.to_string());
            symbol_number += 1;
            g.symbols.push(b.new_bytes(kernel.symbol, name.as_bytes())?);
        } else if roll < 79 {
            let len = rng.range(8, 512);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            g.byte_arrays.push(b.new_bytes(kernel.byte_array, &bytes)?);
        } else if roll < 84 {
            let len = rng.range(4, 128);
            let words: Vec<u32> = (0..len).map(|_| rng.next_u64() as u32).collect();
            g.word_arrays.push(b.new_words(kernel.word_array, &words)?);
        } else {
            let literals = rng.below(9);
            let len = rng.range(4, 160);
            let method = b.new_method(kernel.compiled_method, literals, len)?;
            let code: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            b.set_bytes(method, 0, &code)?;
            g.methods.push(method);
        }
    }

    // The large objects.
    let symbol_table = b.new_pointers(kernel.array, &g.symbols)?;
    let big_array = b.new_object(kernel.array, Format::Pointers, 20_000)?;
    let bitmap: Vec<u8> = (0..256 * 1024).map(|_| rng.next_u64() as u8).collect();
    let display = b.new_bytes(kernel.byte_array, &bitmap)?;
    let form_words: Vec<u32> = (0..32 * 1024).map(|_| rng.next_u64() as u32).collect();
    let form = b.new_words(kernel.word_array, &form_words)?;
    g.large
        .extend_from_slice(&[symbol_table, big_array, display, form]);

    // The spanning tree. Globals hold the classes and the large objects; every other object is
    // linked into a free slot of an object already linked (methods into method dictionaries
    // first), so that everything is reachable from a root.
    let mut globals_fixed: Vec<Value> = g.classes.clone();
    globals_fixed.extend_from_slice(&g.large);
    let globals_extra = 512;
    let globals = b.new_object(
        kernel.array,
        Format::Pointers,
        globals_fixed.len() + globals_extra,
    )?;
    for (i, &v) in globals_fixed.iter().enumerate() {
        b.set_field(globals, i, v)?;
    }
    let mut open: Vec<(Value, usize)> = (0..globals_extra)
        .map(|k| (globals, globals_fixed.len() + k))
        .collect();
    open.extend((0..2_000).map(|k| (big_array, k * 10)));
    let mut loose: Vec<Value> = Vec::new();
    loose.extend_from_slice(&g.instances);
    loose.extend_from_slice(&g.arrays[n_classes..]);
    loose.extend_from_slice(&g.strings);
    loose.extend_from_slice(&g.byte_arrays);
    loose.extend_from_slice(&g.word_arrays);
    shuffle(&mut loose, &mut rng);
    let mut methods = g.methods.clone();
    shuffle(&mut methods, &mut rng);
    let mut overflow: Vec<Value> = Vec::new();
    let method_len = |b: &BaseBuilder, m: Value| -> usize {
        (0..).take_while(|&k| b.field(m, k).is_ok()).count()
    };
    for m in methods {
        let place = if method_slots.is_empty() {
            take(&mut open, &mut rng)
        } else {
            Some(method_slots.swap_remove(rng.below(method_slots.len())))
        };
        match place {
            Some((parent, k)) => b.set_field(parent, k, m)?,
            None => overflow.push(m),
        }
        for k in 0..method_len(&b, m) {
            open.push((m, k));
        }
    }
    open.append(&mut method_slots);
    let mut is_pointers = std::collections::HashSet::new();
    is_pointers.extend(g.instances.iter().copied());
    is_pointers.extend(g.arrays.iter().copied());
    for v in loose {
        match take(&mut open, &mut rng) {
            Some((parent, k)) => b.set_field(parent, k, v)?,
            None => overflow.push(v),
        }
        if is_pointers.contains(&v) {
            let mut k = 0;
            while b.field(v, k).is_ok() {
                open.push((v, k));
                k += 1;
            }
        }
    }

    // Everything else: cross links, immediates and nils.
    let mut targets: Vec<Value> = g.instances.clone();
    targets.extend_from_slice(&g.arrays);
    targets.extend_from_slice(&g.strings);
    targets.extend_from_slice(&g.symbols);
    targets.extend_from_slice(&g.classes);
    targets.extend_from_slice(&[kernel.nil, kernel.true_object, kernel.false_object]);
    for k in 0..20_000 {
        if k % 10 != 0 {
            open.push((big_array, k));
        }
    }
    for (parent, k) in open {
        let roll = rng.below(100);
        let v = if roll < 45 {
            targets[rng.below(targets.len())]
        } else if roll < 70 {
            small(rng.range(0, 1 << 20) as i64 - (1 << 19))
        } else if roll < 80 {
            Value::character(char::from(b'a' + rng.below(26) as u8))
        } else {
            continue;
        };
        b.set_field(parent, k, v)?;
    }

    // Identity hashes from the seed, so the whole base is reproducible.
    for v in g.all() {
        b.set_hash(v, (rng.next_u64() as u32 & MAX_HASH).max(1))?;
    }

    b.add_root("Smalltalk", globals)?;
    b.add_root("Symbols", symbol_table)?;
    b.add_root("Display", display)?;
    if !overflow.is_empty() {
        let undeclared = b.new_pointers(kernel.array, &overflow)?;
        g.arrays.push(undeclared);
        b.add_root("Undeclared", undeclared)?;
    }
    g.arrays.push(globals);
    let heap = b.seal_with(HeapConfig::default().max_images(config.max_images))?;
    Ok(Generated {
        heap,
        kernel,
        objects: g,
    })
}

fn small(i: i64) -> Value {
    Value::small_int(i).unwrap_or(Value::character('?'))
}

fn take(open: &mut Vec<(Value, usize)>, rng: &mut Rng) -> Option<(Value, usize)> {
    if open.is_empty() {
        None
    } else {
        let i = rng.below(open.len());
        Some(open.swap_remove(i))
    }
}

fn shuffle<T>(v: &mut [T], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        v.swap(i, rng.below(i + 1));
    }
}

fn syllables(rng: &mut Rng) -> String {
    const PARTS: [&str; 16] = [
        "at", "put", "do", "with", "value", "size", "add", "remove", "print", "on", "new", "copy",
        "from", "to", "collect", "select",
    ];
    let mut s = String::new();
    for i in 0..rng.range(1, 4) {
        let p = PARTS[rng.below(PARTS.len())];
        if i == 0 {
            s.push_str(p);
        } else {
            let mut cs = p.chars();
            if let Some(c) = cs.next() {
                s.push(c.to_ascii_uppercase());
                s.push_str(cs.as_str());
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_sized() {
        let config = GenConfig {
            objects: 5_000,
            ..GenConfig::default()
        };
        let a = generate_base(&config).unwrap();
        let b = generate_base(&config).unwrap();
        assert_eq!(a.heap.object_count(), b.heap.object_count());
        let n = a.heap.object_count();
        assert!((4_900..5_200).contains(&n), "{n} objects");
        assert_eq!(a.workload_objects().len(), b.workload_objects().len());
        for (x, y) in a.objects.strings.iter().zip(&b.objects.strings) {
            assert_eq!(
                a.heap.original_bytes(*x).unwrap(),
                b.heap.original_bytes(*y).unwrap()
            );
        }
        assert!(
            !a.objects.methods.is_empty()
                && !a.objects.word_arrays.is_empty()
                && a.objects.large.len() == 4
        );
    }

    #[test]
    fn default_base_builds_quickly() {
        let t = std::time::Instant::now();
        let g = generate_base(&GenConfig::default()).unwrap();
        eprintln!(
            "{} objects, {} bytes in {:?}",
            g.heap.object_count(),
            g.heap.bytes(),
            t.elapsed()
        );
        assert!(g.heap.object_count() >= 59_000);
    }

    #[test]
    fn every_object_is_reachable_from_the_roots() {
        let g = generate_base(&GenConfig {
            objects: 3_000,
            ..GenConfig::default()
        })
        .unwrap();
        let heap = &g.heap;
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<Value> = heap.roots().iter().map(|&(_, v)| v).collect();
        while let Some(v) = stack.pop() {
            if !seen.insert(v) {
                continue;
            }
            let format = heap.original_format(v).unwrap();
            let slots = match format {
                Format::Pointers => heap.original_size(v).unwrap(),
                Format::Method => (0..)
                    .take_while(|&k| heap.original_field(v, k).is_ok())
                    .count(),
                _ => 0,
            };
            for k in 0..slots {
                let s = heap.original_field(v, k).unwrap();
                if s.is_object() {
                    stack.push(s);
                }
            }
            if let Ok(class) = heap.original_class(v) {
                stack.push(class);
            }
        }
        for v in g.workload_objects() {
            assert!(seen.contains(&v), "{v:?} is unreachable");
        }
    }
}

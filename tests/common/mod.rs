//! A small base shared by the semantic tests.
#![allow(dead_code)]

use cowheap::{BaseBuilder, BaseHeap, Format, HeapConfig, Kernel, Value};

pub struct Fixture {
    pub heap: BaseHeap,
    pub kernel: Kernel,
    /// Pointer objects with 4 slots each; slot 0 of each points at the next one.
    pub objects: Vec<Value>,
    pub bytes: Value,
    pub words: Value,
    pub method: Value,
}

pub fn int(i: i64) -> Value {
    Value::small_int(i).unwrap()
}

pub fn fixture(n: usize) -> Fixture {
    fixture_with(n, HeapConfig::default())
}

pub fn fixture_with(n: usize, config: HeapConfig) -> Fixture {
    let mut b = BaseBuilder::new();
    let kernel = Kernel::install(&mut b).unwrap();
    let objects: Vec<Value> = (0..n)
        .map(|_| b.new_object(kernel.array, Format::Pointers, 4).unwrap())
        .collect();
    for (i, &o) in objects.iter().enumerate() {
        b.set_field(o, 0, objects[(i + 1) % n]).unwrap();
        b.set_field(o, 1, int(i as i64)).unwrap();
    }
    let bytes = b.new_bytes(kernel.byte_array, b"hello, base").unwrap();
    let words = b
        .new_words(kernel.word_array, &[1, 2, 0xdead_beef])
        .unwrap();
    let method = b.new_method(kernel.compiled_method, 2, 5).unwrap();
    b.set_field(method, 0, objects[0]).unwrap();
    b.set_field(method, 1, int(42)).unwrap();
    b.set_bytes(method, 0, &[1, 2, 3, 4, 5]).unwrap();
    let root = b.new_pointers(kernel.array, &objects).unwrap();
    b.add_root("objects", root).unwrap();
    let heap = b.seal_with(config).unwrap();
    Fixture {
        heap,
        kernel,
        objects,
        bytes,
        words,
        method,
    }
}

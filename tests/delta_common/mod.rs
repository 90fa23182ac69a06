//! A random-operation driver shared by the delta tests: it names objects by handles that mean
//! the same object in an image and in its resumed copy (a base object by its arena ordinal,
//! a private one by a root it is registered under), so that two images over two copies of a
//! base can be driven alike and compared observation for observation.
#![allow(dead_code)]

pub mod corrupt;
pub mod fuzz;

use cowheap::{BaseBuilder, BaseHeap, Format, Image, Kernel, Value};
use proptest::prelude::*;

/// An object both images can name.
#[derive(Clone, Copy, Debug)]
pub enum Handle {
    /// Base object `n` of the sample ([`Fixture::base`]).
    Base(usize),
    /// Private object `k`, registered under root `p{k}`.
    Private(usize),
}

#[derive(Clone, Copy, Debug)]
pub enum Src {
    Int(i64),
    Char(char),
    Obj(usize),
}

#[derive(Clone, Debug)]
pub enum Op {
    Read(usize, usize),
    Write(usize, usize, Src),
    WriteByte(usize, usize, u8),
    WriteWord(usize, usize, u32),
    Alloc(u8, usize, usize),
    Become(usize, usize),
    SetRoot(u8, Src),
}

pub fn op() -> impl Strategy<Value = Op> {
    let src = prop_oneof![
        any::<i32>().prop_map(|i| Src::Int(i as i64)),
        any::<char>().prop_map(Src::Char),
        any::<usize>().prop_map(Src::Obj),
    ];
    prop_oneof![
        4 => (any::<usize>(), 0..6usize).prop_map(|(o, k)| Op::Read(o, k)),
        6 => (any::<usize>(), 0..6usize, src.clone()).prop_map(|(o, k, s)| Op::Write(o, k, s)),
        1 => (any::<usize>(), 0..12usize, any::<u8>()).prop_map(|(o, k, b)| Op::WriteByte(o, k, b)),
        1 => (any::<usize>(), 0..6usize, any::<u32>()).prop_map(|(o, k, w)| Op::WriteWord(o, k, w)),
        3 => (0..4u8, 0..8usize, any::<usize>()).prop_map(|(f, n, c)| Op::Alloc(f, n, c)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Op::Become(a, b)),
        1 => (0..3u8, src).prop_map(|(r, s)| Op::SetRoot(r, s)),
    ]
}

/// A base and the sample of its objects the driver touches.
pub struct Fixture {
    pub heap: BaseHeap,
    /// Base objects by ordinal in the heap (so they mean the same in a fresh copy).
    pub base: Vec<usize>,
    /// Classes for allocations, as base ordinals.
    pub classes: Vec<usize>,
}

/// A small built base: the kernel and a few objects of every format. Built the same way
/// twice, it is the same base (same content hash).
pub fn built() -> Fixture {
    let mut b = BaseBuilder::new();
    let k = Kernel::install(&mut b).unwrap();
    b.set_filler(k.nil).unwrap();
    let mut made = Vec::new();
    for i in 0..6 {
        let a = b.new_object(k.array, Format::Pointers, 4).unwrap();
        b.set_field(a, 0, Value::small_int(i).unwrap()).unwrap();
        made.push(a);
    }
    for i in 0..5 {
        b.set_field(made[i], 1, made[i + 1]).unwrap();
    }
    made.push(b.new_object(k.byte_array, Format::Bytes, 10).unwrap());
    made.push(b.new_object(k.word_array, Format::Words, 3).unwrap());
    made.push(b.new_method(k.compiled_method, 2, 5).unwrap());
    b.add_root("first", made[0]).unwrap();
    let heap = b.seal().unwrap();
    let ordinal = |v: Value| heap.objects().position(|o| o == v).unwrap();
    let base = made.iter().map(|&v| ordinal(v)).collect();
    let classes = [k.array, k.byte_array, k.word_array, k.compiled_method]
        .iter()
        .map(|&v| ordinal(v))
        .collect();
    Fixture {
        heap,
        base,
        classes,
    }
}

/// A sample of a loaded image's objects: pointers, bytes and words objects, and methods.
pub fn sampled(heap: BaseHeap) -> Fixture {
    let mut base = Vec::new();
    let mut counts = [0usize; 4];
    let mut classes = vec![None; 4];
    for (n, v) in heap.objects().enumerate() {
        let f = heap.original_format(v).unwrap();
        let i = match f {
            Format::Pointers => 0,
            Format::Bytes => 1,
            Format::Words => 2,
            Format::Method => 3,
        };
        if classes[i].is_none() {
            let class = heap.original_class(v).unwrap();
            classes[i] = heap.objects().position(|o| o == class);
        }
        if counts[i] < 12 && heap.original_size(v).unwrap() > 0 {
            counts[i] += 1;
            base.push(n);
        }
        if counts.iter().all(|&c| c >= 12) && classes.iter().all(Option::is_some) {
            break;
        }
    }
    Fixture {
        heap,
        base,
        classes: classes.into_iter().flatten().collect(),
    }
}

/// One image under test over one copy of the base.
pub struct Driven<'f> {
    pub fx: &'f Fixture,
    pub image: Image,
    pub privates: usize,
}

impl<'f> Driven<'f> {
    pub fn new(fx: &'f Fixture, image: Image) -> Self {
        let privates = (0..)
            .take_while(|k| image.root(&format!("p{k}")).is_ok())
            .count();
        Driven {
            fx,
            image,
            privates,
        }
    }

    fn handle(&self, n: usize) -> Handle {
        let total = self.fx.base.len() + self.privates;
        let n = n % total;
        if n < self.fx.base.len() {
            Handle::Base(n)
        } else {
            Handle::Private(n - self.fx.base.len())
        }
    }

    pub fn value(&self, h: Handle) -> Value {
        match h {
            Handle::Base(n) => self.fx.heap.object(self.fx.base[n]).unwrap(),
            Handle::Private(k) => self.image.root(&format!("p{k}")).unwrap(),
        }
    }

    fn obj(&self, n: usize) -> Value {
        self.value(self.handle(n))
    }

    fn src(&self, s: Src) -> Value {
        match s {
            Src::Int(i) => Value::small_int(i).unwrap(),
            Src::Char(c) => Value::character(c),
            Src::Obj(n) => self.obj(n),
        }
    }

    /// Applies `op` and answers what it observed, in handle terms.
    pub fn apply(&mut self, op: &Op) -> String {
        let r = match *op {
            Op::Read(o, k) => {
                let v = self.image.read(self.obj(o), k);
                return match v {
                    Ok(v) => self.describe(v),
                    Err(e) => kind(&e),
                };
            }
            Op::Write(o, k, s) => {
                let (o, s) = (self.obj(o), self.src(s));
                self.image.write(o, k, s)
            }
            Op::WriteByte(o, k, b) => self.image.write_byte(self.obj(o), k, b),
            Op::WriteWord(o, k, w) => self.image.write_word(self.obj(o), k, w),
            Op::Alloc(f, n, c) => {
                let classes = &self.fx.classes;
                let class = self.fx.heap.object(classes[c % classes.len()]).unwrap();
                let format = [
                    Format::Pointers,
                    Format::Bytes,
                    Format::Words,
                    Format::Method,
                ][f as usize];
                match self.image.allocate(class, format, n) {
                    Ok(v) => {
                        let name = format!("p{}", self.privates);
                        self.image.set_root(&name, v).unwrap();
                        self.privates += 1;
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Op::Become(a, b) => {
                let (a, b) = (self.obj(a), self.obj(b));
                self.image.become_forward(a, b)
            }
            Op::SetRoot(r, s) => {
                let s = self.src(s);
                self.image.set_root(&format!("r{r}"), s)
            }
        };
        match r {
            Ok(()) => "ok".into(),
            Err(e) => kind(&e),
        }
    }

    /// A value in terms both images share: an immediate's bits, or an object's first
    /// identical handle (or its hash, format and size where no handle is identical).
    pub fn describe(&self, v: Value) -> String {
        if !v.is_object() {
            return format!("imm {:x}", v.to_bits());
        }
        let img = &self.image;
        let total = self.fx.base.len() + self.privates;
        for n in 0..total {
            if img.identical(v, self.value(self.handle(n))).unwrap() {
                return format!("handle {n}");
            }
        }
        format!(
            "other hash {} {:?} size {}",
            img.identity_hash(v).unwrap(),
            img.format_of(v).unwrap(),
            img.size_of(v).unwrap()
        )
    }

    /// Everything the image shows about every handle and root.
    pub fn observe(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let total = self.fx.base.len() + self.privates;
        for n in 0..total {
            let v = self.value(self.handle(n));
            let img = &self.image;
            let f = img.format_of(v).unwrap();
            out.push(format!(
                "{n}: hash {} {f:?} size {} literals {}",
                img.identity_hash(v).unwrap(),
                img.size_of(v).unwrap(),
                img.literal_count(v).unwrap()
            ));
            out.push(format!("class {}", self.describe(img.class_of(v).unwrap())));
            match f {
                Format::Pointers | Format::Method => {
                    let len = if f == Format::Method {
                        img.literal_count(v).unwrap()
                    } else {
                        img.size_of(v).unwrap()
                    };
                    for k in 0..len.min(8) {
                        let s = self.image.read(v, k).unwrap();
                        out.push(self.describe(s));
                    }
                    if f == Format::Method {
                        out.push(format!("{:?}", self.image.bytes(v).unwrap()));
                    }
                }
                Format::Bytes => out.push(format!("{:?}", img.bytes(v).unwrap())),
                Format::Words => {
                    let n = img.size_of(v).unwrap();
                    let words: Vec<u32> = (0..n).map(|i| img.read_word(v, i).unwrap()).collect();
                    out.push(format!("{words:?}"));
                }
            }
        }
        for r in 0..3 {
            out.push(match self.image.root(&format!("r{r}")) {
                Ok(v) => self.describe(v),
                Err(e) => kind(&e),
            });
        }
        for (name, _) in self.fx.heap.roots() {
            let v = self.image.root(name).unwrap();
            out.push(format!("root {name}: {}", self.describe(v)));
        }
        out
    }
}

fn kind(e: &cowheap::Error) -> String {
    format!("err {:?}", std::mem::discriminant(e))
}

/// Runs `before` on an image over `a`, saves it, resumes over `b`, checks both observe alike,
/// then runs `after` on both and checks every answer and the final views.
pub fn round_trip(
    a: &Fixture,
    b: &Fixture,
    before: &[Op],
    after: &[Op],
) -> Result<(), TestCaseError> {
    let mut original = Driven::new(a, a.heap.new_image().unwrap());
    for op in before {
        original.apply(op);
    }
    let bytes = original.image.delta_bytes().unwrap();
    let resumed = b.heap.resume_delta_bytes(&bytes).unwrap();
    let mut resumed = Driven::new(b, resumed);
    prop_assert_eq!(original.privates, resumed.privates);
    // A resumed image saves to the same delta: nothing process-specific is in it.
    prop_assert_eq!(&resumed.image.delta_bytes().unwrap(), &bytes);
    prop_assert_eq!(original.observe(), resumed.observe());
    for op in after {
        let x = original.apply(op);
        let y = resumed.apply(op);
        prop_assert_eq!(x, y, "{:?}", op);
    }
    prop_assert_eq!(original.observe(), resumed.observe());
    prop_assert_eq!(
        original.image.delta_bytes().unwrap(),
        resumed.image.delta_bytes().unwrap()
    );
    Ok(())
}

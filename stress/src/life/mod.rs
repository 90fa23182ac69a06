//! One image lifetime: its image, its shadow model and its seeded op stream. The ops live
//! here; the checks that compare the image with its model live in [`check`].

mod check;
mod collect;

use std::time::Duration;

use cowheap::{Format, Image, Value};

use crate::report::Violation;
use crate::rng::{Rng, Zipf};
use crate::shadow::{Become, Body, Lid, PrivateObj, Shadow, Stored};
use crate::{StressConfig, Workload};

/// The record of one image lifetime.
#[derive(Debug, Default)]
pub(crate) struct LifeResult {
    pub(crate) ops: u64,
    pub(crate) elapsed: Duration,
    pub(crate) stats: cowheap::ImageStats,
    pub(crate) violations: Vec<Violation>,
    pub(crate) violation_count: u64,
    pub(crate) values_checked: u64,
    pub(crate) objects_checked: u64,
    pub(crate) id_reused: bool,
    pub(crate) ended_during_run: bool,
    pub(crate) verify_time: Duration,
    /// Collections this lifetime asked for, and what they reported.
    pub(crate) collections: u64,
    pub(crate) collected_bytes: u64,
    pub(crate) longest_pause: Duration,
    pub(crate) pause_total: Duration,
    /// Held handles the workload dropped.
    pub(crate) forgotten: u64,
}

/// The violations kept in detail per image lifetime; the rest are only counted.
const KEEP_VIOLATIONS: usize = 8;
/// Base objects the previous lifetime of a thread wrote, checked by its successor.
pub(crate) const TEARDOWN_CHECKS: usize = 64;

/// One image lifetime: the image, its shadow and its op stream.
pub(crate) struct Life<'w> {
    pub(crate) w: &'w Workload,
    pub(crate) cfg: &'w StressConfig,
    pub(crate) img: Image,
    pub(crate) sh: Shadow,
    pub(crate) rng: Rng,
    pub(crate) zipf: Zipf,
    pub(crate) slot: usize,
    pub(crate) ticket: u64,
    pub(crate) out: LifeResult,
    /// Resumed from a saved delta (`--resume-deltas`): its statistics start there.
    pub(crate) resumed: bool,
}

impl<'w> Life<'w> {
    /// A reference to an object this image can use, by popularity or among its own objects.
    fn pick(&mut self) -> (Value, Lid) {
        if !self.sh.held.is_empty() && self.rng.chance(0.2) {
            return self.pick_held();
        }
        self.pick_base()
    }

    /// One of the private objects the workload holds a handle to.
    fn pick_held(&mut self) -> (Value, Lid) {
        let j = self.sh.held[self.rng.below(self.sh.held.len())];
        (self.sh.private[j as usize].value, Lid::Private(j))
    }

    fn pick_base(&mut self) -> (Value, Lid) {
        let i = self.w.population[self.zipf.sample(&mut self.rng)];
        let value = match self.sh.alias_of.get(&i) {
            Some(&alias) if self.rng.chance(0.3) => alias,
            _ => self.w.oracle.objs[i as usize].value,
        };
        (value, Lid::Base(i))
    }

    fn pick_value(&mut self) -> (Value, Stored) {
        let roll = self.rng.below(100);
        if roll < 40 {
            let v = Value::small_int(self.rng.next_u64() as i64 >> 24).unwrap_or(self.w.classes[0]);
            (v, Stored::Imm(v))
        } else if roll < 50 {
            let v = Value::character(char::from(b'A' + self.rng.below(58) as u8));
            (v, Stored::Imm(v))
        } else if roll < 80 || self.sh.held.is_empty() {
            let (v, lid) = self.pick_base();
            (v, Stored::Ref(lid))
        } else {
            let (v, lid) = self.pick_held();
            (v, Stored::Ref(lid))
        }
    }

    pub(crate) fn op_read(&mut self) {
        let (x, lid) = self.pick();
        let c = self.sh.canon(lid);
        enum Probe {
            Slot(usize, Stored),
            Byte(usize, u8),
            Word(usize, u32),
            Empty,
        }
        let coin = self.rng.chance(0.5);
        let r = self.rng.next_u64() as usize;
        let probe = match self.sh.body(&self.w.oracle, c) {
            Body::Slots(s) if !s.is_empty() => Probe::Slot(r % s.len(), s[r % s.len()]),
            Body::Method { literals, .. } if coin && !literals.is_empty() => {
                Probe::Slot(r % literals.len(), literals[r % literals.len()])
            }
            Body::Method { code: b, .. } | Body::Bytes(b) if !b.is_empty() => {
                Probe::Byte(r % b.len(), b[r % b.len()])
            }
            Body::Words(w) if !w.is_empty() => Probe::Word(r % w.len(), w[r % w.len()]),
            _ => Probe::Empty,
        };
        match probe {
            Probe::Slot(k, e) => {
                let seen = self.img.read(x, k);
                self.check_value(x, || format!("field {k}"), e, seen);
            }
            Probe::Byte(k, e) => {
                let seen = self.img.read_byte(x, k);
                self.check_eq(x, &format!("byte {k}"), e, seen);
            }
            Probe::Word(k, e) => {
                let seen = self.img.read_word(x, k);
                self.check_eq(x, &format!("word {k}"), e, seen);
            }
            Probe::Empty => {
                let seen = self.img.size_of(x);
                self.check_eq(x, "size", 0, seen);
            }
        }
    }

    pub(crate) fn op_write(&mut self) {
        let (x, lid) = self.pick();
        let c = self.sh.canon(lid);
        let coin = self.rng.chance(0.5);
        let r = self.rng.next_u64() as usize;
        let byte = (r >> 40) as u8;
        let word = (r >> 20) as u32;
        let (slots, bytes, words) = match self.sh.body(&self.w.oracle, c) {
            Body::Slots(s) => (s.len(), 0, 0),
            Body::Method { literals, code } => {
                if coin && !literals.is_empty() {
                    (literals.len(), 0, 0)
                } else {
                    (0, code.len(), 0)
                }
            }
            Body::Bytes(b) => (0, b.len(), 0),
            Body::Words(w) => (0, 0, w.len()),
        };
        let oracle = &self.w.oracle;
        if slots > 0 {
            let k = r % slots;
            let (v, stored) = self.pick_value();
            match self.img.write(x, k, v) {
                Ok(()) => match self.sh.body_mut(oracle, c) {
                    Body::Slots(s) | Body::Method { literals: s, .. } => s[k] = stored,
                    _ => {}
                },
                Err(e) => self.violation(
                    x,
                    format!("write field {k}"),
                    "Ok".into(),
                    format!("error: {e}"),
                ),
            }
        } else if bytes > 0 {
            let k = r % bytes;
            match self.img.write_byte(x, k, byte) {
                Ok(()) => match self.sh.body_mut(oracle, c) {
                    Body::Bytes(b) | Body::Method { code: b, .. } => b[k] = byte,
                    _ => {}
                },
                Err(e) => self.violation(
                    x,
                    format!("write byte {k}"),
                    "Ok".into(),
                    format!("error: {e}"),
                ),
            }
        } else if words > 0 {
            let k = r % words;
            match self.img.write_word(x, k, word) {
                Ok(()) => {
                    if let Body::Words(w) = self.sh.body_mut(oracle, c) {
                        w[k] = word;
                    }
                }
                Err(e) => self.violation(
                    x,
                    format!("write word {k}"),
                    "Ok".into(),
                    format!("error: {e}"),
                ),
            }
        }
    }

    /// Allocates a private object of `format` (a random one when `None`) with at most `max`
    /// elements, and enters it in the model.
    pub(crate) fn op_alloc(&mut self, format: Option<Format>, max: usize) -> Option<(Value, Lid)> {
        let format = format.unwrap_or_else(|| match self.rng.below(20) {
            0..=11 => Format::Pointers,
            12..=14 => Format::Bytes,
            15..=17 => Format::Words,
            _ => Format::Method,
        });
        let len = self.rng.range(0, max.min(17));
        let [pointers, bytes, words, methods] = self.w.classes;
        let made = match format {
            Format::Pointers => {
                let vals: Vec<(Value, Stored)> = (0..len).map(|_| self.pick_value()).collect();
                let slots: Vec<Value> = vals.iter().map(|v| v.0).collect();
                self.img
                    .new_pointers(pointers, &slots)
                    .map(|v| (v, Body::Slots(vals.into_iter().map(|v| v.1).collect())))
            }
            Format::Bytes => {
                let b: Vec<u8> = (0..len).map(|_| self.rng.next_u64() as u8).collect();
                self.img.new_bytes(bytes, &b).map(|v| (v, Body::Bytes(b)))
            }
            Format::Words => {
                let w: Vec<u32> = (0..len).map(|_| self.rng.next_u64() as u32).collect();
                self.img.new_words(words, &w).map(|v| (v, Body::Words(w)))
            }
            Format::Method => {
                let vals: Vec<(Value, Stored)> = (0..len % 4).map(|_| self.pick_value()).collect();
                let lits: Vec<Value> = vals.iter().map(|v| v.0).collect();
                let code: Vec<u8> = (0..len + 1).map(|_| self.rng.next_u64() as u8).collect();
                self.img.new_method(methods, &lits, &code).map(|v| {
                    let literals = vals.into_iter().map(|v| v.1).collect();
                    (v, Body::Method { literals, code })
                })
            }
        };
        let (value, body) = match made {
            Ok(m) => m,
            Err(e) => {
                self.violation(
                    pointers,
                    format!("allocate {format:?}"),
                    "Ok".into(),
                    format!("error: {e}"),
                );
                return None;
            }
        };
        let hash = match self.img.identity_hash(value) {
            Ok(h) => h,
            Err(e) => {
                self.violation(value, "hash".into(), "Ok".into(), format!("error: {e}"));
                0
            }
        };
        let j = self.sh.private.len() as u32;
        self.sh.private.push(PrivateObj {
            value,
            hash,
            body,
            collected: false,
        });
        self.sh.private_index.insert(value, j);
        self.sh.held.push(j);
        Some((value, Lid::Private(j)))
    }

    pub(crate) fn op_become(&mut self) {
        let (from, lf) = self.pick();
        let cf = self.sh.canon(lf);
        let roll = self.rng.below(100);
        let to = if roll < 60 || self.sh.held.is_empty() && roll < 85 {
            let body = self.sh.body(&self.w.oracle, cf);
            let (format, size) = (body.format(), body.size());
            match self.op_alloc(Some(format), size + 1) {
                Some(t) => t,
                None => return,
            }
        } else if roll < 85 {
            self.pick_held()
        } else {
            self.pick_base()
        };
        let ct = self.sh.canon(to.1);
        match self.img.become_forward(from, to.0) {
            Ok(()) => {
                if cf != ct {
                    self.sh.forward.insert(cf, ct);
                    self.sh.becomes.push(Become {
                        from: (from, lf),
                        to,
                    });
                    self.sh.becomes_total += 1;
                }
            }
            Err(e) => self.violation(
                from,
                format!("become_forward to {:?}", to.0),
                "Ok".into(),
                format!("error: {e}"),
            ),
        }
    }

    pub(crate) fn op_identity(&mut self) {
        let (x, lx) = self.pick();
        let (y, ly) = if self.rng.chance(0.5) {
            match lx {
                Lid::Base(i) => {
                    let base = self.w.oracle.objs[i as usize].value;
                    let other = if x == base {
                        self.sh.alias_of.get(&i).copied().unwrap_or(base)
                    } else {
                        base
                    };
                    (other, lx)
                }
                Lid::Private(_) => (x, lx),
            }
        } else {
            self.pick()
        };
        let same = self.sh.canon(lx) == self.sh.canon(ly);
        let seen = self.img.identical(x, y);
        self.check_eq(x, &format!("identical to {y:?}"), same, seen);
        let hash = self.sh.hash(&self.w.oracle, self.sh.canon(lx));
        let seen = self.img.identity_hash(x);
        self.check_eq(x, "identity hash", hash, seen);
    }

    /// The fault-injection hook: a store the shadow never hears of.
    pub(crate) fn inject_fault(&mut self) {
        let oracle = &self.w.oracle;
        let candidates: Vec<u32> = self
            .sh
            .written_order
            .iter()
            .chain(self.w.population.iter())
            .copied()
            .collect();
        for i in candidates {
            let c = self.sh.canon(Lid::Base(i));
            if let Body::Slots(s) = self.sh.body(oracle, c) {
                if let Some(&current) = s.first() {
                    let bad = Value::small_int(777_777_777).filter(|&v| current != Stored::Imm(v));
                    let bad = bad
                        .or(Value::small_int(777_777_778))
                        .unwrap_or(self.w.classes[0]);
                    // The model hears of the copy (the heap makes one) but not of the value.
                    self.sh.body_mut(oracle, c);
                    let _ = self.img.write(oracle.objs[i as usize].value, 0, bad);
                    return;
                }
            }
        }
    }
}

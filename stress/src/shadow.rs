//! The verification side of a stress run: a decoded copy of the base (the oracle), and each
//! image's sequential shadow model of its own view.
//!
//! The shadow works in *logical identities* ([`Lid`]): a base object is one identity whether
//! the image reaches it through the base reference or through its private copy, and an object
//! that was the source of a `become_forward` stands for its target. A value read from the heap
//! is mapped back to an identity and compared with what the model expects, so the checks are
//! exactly the heap's invariants (ARCHITECTURE.md) (identity, not bit patterns).

use rayon::prelude::*;

use cowheap::{BaseHeap, Error, Format, Value};

/// The shadow maps sit on the hot path of every checked read, and their keys (`Value` bits,
/// small indices) need no flood-resistant hash: rustc's Fx hash is the fast one.
pub(crate) type Map<K, V> = rustc_hash::FxHashMap<K, V>;

/// A logical object identity in one image's view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Lid {
    /// Base object number `n` of the oracle.
    Base(u32),
    /// The image's private object number `n`, in allocation order.
    Private(u32),
}

/// What a slot holds in the model: an immediate, or a reference to an identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    Imm(Value),
    Ref(Lid),
}

/// An object's contents in the model.
#[derive(Clone, Debug)]
pub(crate) enum Body {
    Slots(Vec<Stored>),
    Words(Vec<u32>),
    Bytes(Vec<u8>),
    Method {
        literals: Vec<Stored>,
        code: Vec<u8>,
    },
}

impl Body {
    pub(crate) fn format(&self) -> Format {
        match self {
            Body::Slots(_) => Format::Pointers,
            Body::Words(_) => Format::Words,
            Body::Bytes(_) => Format::Bytes,
            Body::Method { .. } => Format::Method,
        }
    }

    /// The element count `Image::size_of` answers.
    pub(crate) fn size(&self) -> usize {
        match self {
            Body::Slots(s) => s.len(),
            Body::Words(w) => w.len(),
            Body::Bytes(b) => b.len(),
            Body::Method { code, .. } => code.len(),
        }
    }
}

/// One base object as sealed.
#[derive(Debug)]
pub(crate) struct OracleObj {
    pub(crate) value: Value,
    pub(crate) hash: u32,
    pub(crate) body: Body,
}

/// The base decoded once before the run, through the base's own read-only accessors. The
/// base checksum, taken before and after, shows that the base itself never changed, so any
/// image that disagrees with the oracle about an object it never wrote is wrong.
#[derive(Debug)]
pub(crate) struct Oracle {
    pub(crate) objs: Vec<OracleObj>,
    pub(crate) index: Map<Value, u32>,
}

impl Oracle {
    pub(crate) fn build(heap: &BaseHeap) -> Result<Oracle, Error> {
        let values: Vec<Value> = heap.objects().collect();
        let index: Map<Value, u32> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| (v, i as u32))
            .collect();
        let objs = values
            .par_iter()
            .map(|&v| {
                let to_stored = |s: Value| {
                    if s.is_object() {
                        index
                            .get(&s)
                            .map(|&i| Stored::Ref(Lid::Base(i)))
                            .ok_or(Error::ForeignReference(s))
                    } else {
                        Ok(Stored::Imm(s))
                    }
                };
                let body = match heap.original_format(v)? {
                    Format::Pointers => Body::Slots(
                        (0..heap.original_size(v)?)
                            .map(|k| heap.original_field(v, k).and_then(to_stored))
                            .collect::<Result<_, _>>()?,
                    ),
                    Format::Words => Body::Words(heap.original_words(v)?),
                    Format::Bytes => Body::Bytes(heap.original_bytes(v)?),
                    Format::Method => {
                        let mut literals = Vec::new();
                        while let Ok(s) = heap.original_field(v, literals.len()) {
                            literals.push(to_stored(s)?);
                        }
                        Body::Method {
                            literals,
                            code: heap.original_bytes(v)?,
                        }
                    }
                };
                Ok(OracleObj {
                    value: v,
                    hash: heap.original_hash(v)?,
                    body,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Oracle { objs, index })
    }
}

/// What a collected private object's reference is replaced with (in a resumed shadow): not
/// an object, so that any use of it is refused, never answered.
pub(crate) const GONE: Value = Value::small_int_wrapping(0);

/// A private object in the model.
#[derive(Debug)]
pub(crate) struct PrivateObj {
    /// The reference the harness holds for it: updated by every collection (as a root), so
    /// the object's current reference, or, for an object that became another, its target's.
    pub(crate) value: Value,
    pub(crate) hash: u32,
    pub(crate) body: Body,
    /// A collection freed it: nothing the image or the harness keeps reached it. `value` is
    /// stale, and nothing may use it but the stale-reference check; the entry stays so that
    /// identities (and `forward`) keep their numbers.
    pub(crate) collected: bool,
}

/// A `become_forward` the image did, as the references it was given and their identities.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Become {
    pub(crate) from: (Value, Lid),
    pub(crate) to: (Value, Lid),
}

/// One image's model of its own view: the base, plus its writes, allocations and becomes.
#[derive(Debug, Default)]
pub(crate) struct Shadow {
    /// Base objects this image wrote, with their expected contents. One entry per copy.
    pub(crate) written: Map<u32, Body>,
    /// The order of first writes, for the teardown check of the next lifetime.
    pub(crate) written_order: Vec<u32>,
    pub(crate) private: Vec<PrivateObj>,
    /// The private objects whose references the workload holds (a VM's stack and frames, a
    /// host's handles): what ops pick their own objects from. A forgotten object lives on
    /// only while something else reaches it.
    pub(crate) held: Vec<u32>,
    /// The identity of each current private reference the harness knows.
    pub(crate) private_index: Map<Value, u32>,
    /// `become_forward` redirections, from identity to identity.
    pub(crate) forward: Map<Lid, Lid>,
    /// References to this image's copies, learned the first time a read answers one.
    pub(crate) alias: Map<Value, u32>,
    pub(crate) alias_of: Map<u32, Value>,
    /// Every effective become whose objects still live.
    pub(crate) becomes: Vec<Become>,
    /// Effective becomes in all, those whose objects were collected too.
    pub(crate) becomes_total: u64,
}

impl Shadow {
    /// Follows becomes to the identity a reference to `lid` means now.
    pub(crate) fn canon(&self, mut lid: Lid) -> Lid {
        while let Some(&next) = self.forward.get(&lid) {
            lid = next;
        }
        lid
    }

    /// Points every redirection at the identity its chain ends in, as [`canon`](Self::canon)
    /// answers (path compression). Chains grow as becomes stack up (`a` became `b`, which
    /// became `c`), and a collection follows every reference through them: without this, a
    /// run of mostly becomes took time cubic in its length (8,000 ops 39 s, 16,000 over
    /// 120 s).
    pub(crate) fn flatten(&mut self) {
        let starts: Vec<Lid> = self.forward.keys().copied().collect();
        for start in starts {
            let end = self.canon(start);
            let mut l = start;
            while let Some(&next) = self.forward.get(&l) {
                if next == end {
                    break;
                }
                self.forward.insert(l, end);
                l = next;
            }
        }
    }

    pub(crate) fn body<'a>(&'a self, oracle: &'a Oracle, lid: Lid) -> &'a Body {
        match lid {
            Lid::Base(i) => self
                .written
                .get(&i)
                .unwrap_or(&oracle.objs[i as usize].body),
            Lid::Private(j) => &self.private[j as usize].body,
        }
    }

    pub(crate) fn hash(&self, oracle: &Oracle, lid: Lid) -> u32 {
        match lid {
            Lid::Base(i) => oracle.objs[i as usize].hash,
            Lid::Private(j) => self.private[j as usize].hash,
        }
    }

    /// The contents to change for a write to `lid` (already canonical), copying a base
    /// object's contents into the model on the first write, as the heap copies the object.
    pub(crate) fn body_mut<'a>(&'a mut self, oracle: &Oracle, lid: Lid) -> &'a mut Body {
        match lid {
            Lid::Base(i) => {
                if !self.written.contains_key(&i) {
                    self.written_order.push(i);
                }
                self.written
                    .entry(i)
                    .or_insert_with(|| oracle.objs[i as usize].body.clone())
            }
            Lid::Private(j) => &mut self.private[j as usize].body,
        }
    }

    /// The identity of a reference the heap handed out, learning copy references on first
    /// sight when the model expects a copy there. `None`: the reference is not one this
    /// image can explain.
    pub(crate) fn lid_of(&mut self, oracle: &Oracle, seen: Value, expected: Lid) -> Option<Lid> {
        if let Some(&i) = oracle.index.get(&seen) {
            return Some(Lid::Base(i));
        }
        if let Some(&j) = self.private_index.get(&seen) {
            return Some(Lid::Private(j));
        }
        if let Some(&i) = self.alias.get(&seen) {
            return Some(Lid::Base(i));
        }
        match expected {
            Lid::Base(i) if self.written.contains_key(&i) && !self.alias_of.contains_key(&i) => {
                self.alias.insert(seen, i);
                self.alias_of.insert(i, seen);
                Some(expected)
            }
            _ => None,
        }
    }

    /// The reference an image may use for `lid`.
    pub(crate) fn value_of(&self, oracle: &Oracle, lid: Lid) -> Value {
        match lid {
            Lid::Base(i) => oracle.objs[i as usize].value,
            Lid::Private(j) => self.private[j as usize].value,
        }
    }
}

impl Shadow {
    /// The references `body` holds, as identities.
    fn refs(body: &Body) -> impl Iterator<Item = Lid> + '_ {
        let slots: &[Stored] = match body {
            Body::Slots(s) => s,
            Body::Method { literals, .. } => literals,
            Body::Words(_) | Body::Bytes(_) => &[],
        };
        slots.iter().filter_map(|s| match *s {
            Stored::Ref(l) => Some(l),
            Stored::Imm(_) => None,
        })
    }

    /// The private objects a collection must keep, by private number: what the held handles,
    /// the image's copies and its redirected base objects reach, each reference followed
    /// through becomes. Only objects that are their own identity are marked (one that became
    /// another is dropped, its references rewritten to its target).
    pub(crate) fn reachable(&self) -> Vec<bool> {
        let mut marked = vec![false; self.private.len()];
        let mut bases: rustc_hash::FxHashSet<u32> = Default::default();
        let mut stack: Vec<Lid> = self.held.iter().map(|&j| Lid::Private(j)).collect();
        stack.extend(self.written.keys().map(|&i| Lid::Base(i)));
        stack.extend(self.forward.keys().filter(|l| matches!(l, Lid::Base(_))));
        while let Some(l) = stack.pop() {
            match self.canon(l) {
                Lid::Private(j) => {
                    if !std::mem::replace(&mut marked[j as usize], true) {
                        stack.extend(Self::refs(&self.private[j as usize].body));
                    }
                }
                Lid::Base(i) => {
                    if let Some(body) = self.written.get(&i) {
                        if bases.insert(i) {
                            stack.extend(Self::refs(body));
                        }
                    }
                }
            }
        }
        marked
    }

    /// The image's copies of base objects that a collection keeps: one per base object it
    /// wrote that did not `become` something since (such a copy is a forwarder).
    pub(crate) fn live_copies(&self) -> usize {
        self.written
            .keys()
            .filter(|&&i| self.canon(Lid::Base(i)) == Lid::Base(i))
            .count()
    }

    /// Rebuilds the maps from references to identities (`private_index`, `alias`) from the
    /// references held for the private objects still alive and the copies' learned
    /// references. A collection rewrites the reference held for an object that became
    /// another to its target's (another private object, a copy, or a base object), so only
    /// identities that are still their own are entered: a read answers the target, which
    /// is entered under its own identity (or, a copy not seen since, learned again).
    pub(crate) fn reindex(&mut self, oracle: &Oracle) {
        self.private_index.clear();
        for j in 0..self.private.len() as u32 {
            let p = &self.private[j as usize];
            if !p.collected
                && !oracle.index.contains_key(&p.value)
                && self.canon(Lid::Private(j)) == Lid::Private(j)
            {
                self.private_index.insert(p.value, j);
            }
        }
        self.alias = self
            .alias_of
            .iter()
            .filter(|&(&i, _)| self.canon(Lid::Base(i)) == Lid::Base(i))
            .map(|(&i, &v)| (v, i))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::{Lid, Shadow};

    /// Flattening changes no identity `canon` answers, and leaves every redirection one
    /// step long.
    #[test]
    fn flatten_keeps_every_identity_and_shortens_every_chain() {
        let mut sh = Shadow::default();
        let (p, b) = (Lid::Private, Lid::Base);
        // p0 -> p1 -> p2 -> b7, p3 -> p1, b4 -> p0: chains of up to four steps.
        for (from, to) in [
            (p(0), p(1)),
            (p(1), p(2)),
            (p(2), b(7)),
            (p(3), p(1)),
            (b(4), p(0)),
        ] {
            sh.forward.insert(from, to);
        }
        let before: Vec<(Lid, Lid)> = sh.forward.keys().map(|&l| (l, sh.canon(l))).collect();
        sh.flatten();
        for (l, end) in before {
            assert_eq!(sh.canon(l), end);
            assert_eq!(sh.forward[&l], end, "{l:?} points at its end");
        }
        assert_eq!(sh.canon(b(7)), b(7));
    }
}

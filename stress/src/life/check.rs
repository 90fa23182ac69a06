//! The checks of an image lifetime: each value the image answers is compared with its shadow
//! model as it happens, and at the lifetime's end every object the image touched, a sample of
//! the base, and its statistics are checked whole. A disagreement is recorded, never panicked
//! on, so that the report can say which image saw what.

use cowheap::Value;

use super::{Life, KEEP_VIOLATIONS};
use crate::report::Violation;
use crate::rng::Zipf;
use crate::shadow::{Body, Lid, Stored};

impl Life<'_> {
    pub(super) fn violation(
        &mut self,
        object: Value,
        what: String,
        expected: String,
        seen: String,
    ) {
        self.violation_of(format!("{object:?}"), what, expected, seen);
    }

    /// A violation about something other than one object (the private space as a whole).
    pub(super) fn violation_of(
        &mut self,
        object: String,
        what: String,
        expected: String,
        seen: String,
    ) {
        self.out.violation_count += 1;
        if self.out.violations.len() < KEEP_VIOLATIONS {
            self.out.violations.push(Violation {
                image: self.slot,
                lifetime: self.ticket,
                image_id: self.img.id(),
                object,
                what,
                expected,
                seen,
            });
        }
    }

    pub(super) fn describe(&self, s: Stored) -> String {
        match s {
            Stored::Imm(v) => format!("{v:?}"),
            Stored::Ref(l) => format!("{:?}", self.sh.value_of(&self.w.oracle, l)),
        }
    }

    /// Compares a value the image answered with what the model holds.
    pub(super) fn check_value(
        &mut self,
        x: Value,
        what: impl FnOnce() -> String,
        expected: Stored,
        seen: cowheap::Result<Value>,
    ) {
        self.out.values_checked += 1;
        let seen = match seen {
            Ok(v) => v,
            Err(e) => {
                let exp = self.describe(expected);
                return self.violation(x, what(), exp, format!("error: {e}"));
            }
        };
        match expected {
            Stored::Imm(e) if seen == e => {}
            Stored::Imm(e) => self.violation(x, what(), format!("{e:?}"), format!("{seen:?}")),
            Stored::Ref(l) => {
                let e = self.sh.canon(l);
                let got = if seen.is_object() {
                    self.sh.lid_of(&self.w.oracle, seen, e)
                } else {
                    None
                };
                if got != Some(e) {
                    let exp = format!("{:?}", self.sh.value_of(&self.w.oracle, e));
                    let seen = match got {
                        Some(g) => format!(
                            "{seen:?} (object {:?})",
                            self.sh.value_of(&self.w.oracle, g)
                        ),
                        None if seen.is_object() => {
                            format!("{seen:?} (a reference this image never made)")
                        }
                        None => format!("{seen:?}"),
                    };
                    self.violation(x, what(), exp, seen);
                }
            }
        }
    }

    pub(super) fn check_eq<T: PartialEq + std::fmt::Debug>(
        &mut self,
        x: Value,
        what: &str,
        expected: T,
        seen: cowheap::Result<T>,
    ) {
        self.out.values_checked += 1;
        match seen {
            Ok(s) if s == expected => {}
            Ok(s) => self.violation(x, what.into(), format!("{expected:?}"), format!("{s:?}")),
            Err(e) => self.violation(
                x,
                what.into(),
                format!("{expected:?}"),
                format!("error: {e}"),
            ),
        }
    }

    /// Checks one object whole: format, size, hash and every element.
    pub(crate) fn verify_object(&mut self, x: Value, lid: Lid) {
        self.out.objects_checked += 1;
        let c = self.sh.canon(lid);
        let body = self.sh.body(&self.w.oracle, c).clone();
        let hash = self.sh.hash(&self.w.oracle, c);
        let seen = self.img.format_of(x);
        self.check_eq(x, "format", body.format(), seen);
        let seen = self.img.size_of(x);
        self.check_eq(x, "size", body.size(), seen);
        let seen = self.img.identity_hash(x);
        self.check_eq(x, "identity hash", hash, seen);
        let (slots, bytes) = match &body {
            Body::Slots(s) => (&s[..], None),
            Body::Method { literals, code } => {
                let seen = self.img.literal_count(x);
                self.check_eq(x, "literal count", literals.len(), seen);
                (&literals[..], Some(code))
            }
            Body::Bytes(b) => (&[][..], Some(b)),
            Body::Words(w) => {
                for (k, &e) in w.iter().enumerate() {
                    let seen = self.img.read_word(x, k);
                    self.check_eq(x, &format!("word {k}"), e, seen);
                }
                (&[][..], None)
            }
        };
        for (k, &e) in slots.iter().enumerate() {
            let seen = self.img.read(x, k);
            self.check_value(x, || format!("field {k}"), e, seen);
        }
        if let Some(expected) = bytes {
            self.out.values_checked += expected.len() as u64;
            match self.img.bytes(x) {
                Ok(seen) if &seen == expected => {}
                Ok(seen) => {
                    let k = seen
                        .iter()
                        .zip(expected.iter())
                        .position(|(a, b)| a != b)
                        .unwrap_or(seen.len().min(expected.len()));
                    self.violation(
                        x,
                        format!("byte {k}"),
                        format!("{:?}", expected.get(k)),
                        format!("{:?}", seen.get(k)),
                    );
                }
                Err(e) => self.violation(x, "bytes".into(), "Ok".into(), format!("error: {e}")),
            }
        }
    }

    /// The end-of-lifetime check: every object this image wrote, allocated or redirected, a
    /// sample of the base, its copies' identities, and its copy and become counts.
    pub(crate) fn verify(&mut self) {
        let oracle = &self.w.oracle;
        let written: Vec<u32> = self.sh.written_order.clone();
        for i in written {
            self.verify_object(oracle.objs[i as usize].value, Lid::Base(i));
        }
        for j in 0..self.sh.private.len() {
            if !self.sh.private[j].collected {
                self.verify_object(self.sh.private[j].value, Lid::Private(j as u32));
            }
        }
        let becomes: Vec<(Value, Value)> =
            self.sh.becomes.iter().map(|b| (b.from.0, b.to.0)).collect();
        for (from, to) in becomes {
            let seen = self.img.identical(from, to);
            self.check_eq(
                from,
                &format!("identical to {to:?} after become"),
                true,
                seen,
            );
        }
        let mut aliases: Vec<(Value, u32)> = self.sh.alias.iter().map(|(&v, &i)| (v, i)).collect();
        aliases.sort_by_key(|a| a.1);
        for (alias, i) in aliases {
            let base = oracle.objs[i as usize].value;
            let seen = self.img.identical(alias, base);
            self.check_eq(
                alias,
                &format!("identical to its base object {base:?}"),
                true,
                seen,
            );
        }
        let all = Zipf::new(oracle.objs.len(), 0.0);
        for n in 0..self.cfg.sample {
            let i = if n % 2 == 0 {
                self.w.population[self.zipf.sample(&mut self.rng)]
            } else {
                all.sample(&mut self.rng) as u32
            };
            self.verify_object(oracle.objs[i as usize].value, Lid::Base(i));
        }
        // A resumed image's statistics count only what it did since it was resumed.
        if self.resumed {
            return;
        }
        let stats = self.img.stats();
        let dummy = self.w.classes[0];
        self.check_eq(
            dummy,
            "stats.copies (one copy per base object written)",
            self.sh.written.len() as u64,
            Ok(stats.copies),
        );
        self.check_eq(
            dummy,
            "stats.becomes",
            self.sh.becomes_total,
            Ok(stats.becomes),
        );
        self.check_eq(
            dummy,
            "stats.collections (one per collect op)",
            self.out.collections,
            Ok(stats.collections),
        );
        self.check_eq(
            dummy,
            "stats.collected_bytes (what the collections said they freed)",
            self.out.collected_bytes,
            Ok(stats.collected_bytes),
        );
        self.check_eq(
            dummy,
            "longest collection pause",
            self.out.longest_pause,
            Ok(self.img.longest_pause()),
        );
    }
}

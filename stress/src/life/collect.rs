//! The forget and collect ops. The workload drops handles to its private objects; the image
//! collects its private space with every reference the harness holds for it passed as a root
//! (held handles, the references of objects the model still reaches, learned copy references,
//! become records), and the collection is checked against the shadow model: it kept exactly
//! the objects the model reaches, the space shrank to them, every reference the harness kept
//! without passing is refused as stale (never another object), and the updated references
//! read as the model says (every later op and the final verification go through them).

use cowheap::{Error, Value};

use super::Life;
use crate::shadow::{Body, Lid};

/// References checked as stale after each collection that moved the image to a new
/// incarnation: some of the objects it freed, and one it kept (by its old reference).
const STALE_CHECKS: usize = 4;

impl Life<'_> {
    /// Drops one of the handles the workload holds. The object lives on while anything else
    /// reaches it.
    pub(crate) fn op_forget(&mut self) {
        if self.sh.held.is_empty() {
            return;
        }
        let k = self.rng.below(self.sh.held.len());
        self.sh.held.swap_remove(k);
        self.out.forgotten += 1;
    }

    /// Collects the image's private space and checks what it did.
    pub(crate) fn op_collect(&mut self) {
        self.sh.flatten();
        let oracle = &self.w.oracle;
        let marked = self.sh.reachable();
        // The harness passes what it holds: its handles and what the model still reaches.
        let mut keep = marked.clone();
        for &j in &self.sh.held {
            keep[j as usize] = true;
        }
        let expected_live = marked.iter().filter(|&&m| m).count() + self.sh.live_copies();
        // A become record whose objects die goes with them. One that names an object that
        // became another, and that only the record holds, now names the target: the
        // collection rewrites the record's reference to it.
        let alive = |sh: &crate::shadow::Shadow, l: Lid| match sh.canon(l) {
            Lid::Base(_) => true,
            Lid::Private(j) => marked[j as usize],
        };
        let kept: Vec<bool> = self
            .sh
            .becomes
            .iter()
            .map(|b| alive(&self.sh, b.from.1) && alive(&self.sh, b.to.1))
            .collect();
        let mut kept = kept.into_iter();
        self.sh.becomes.retain(|_| kept.next().unwrap_or(false));
        for k in 0..self.sh.becomes.len() {
            let b = self.sh.becomes[k];
            let settle = |l: Lid| match l {
                Lid::Private(j) if !keep[j as usize] => self.sh.canon(l),
                l => l,
            };
            let (from, to) = (settle(b.from.1), settle(b.to.1));
            self.sh.becomes[k].from.1 = from;
            self.sh.becomes[k].to.1 = to;
        }
        // References kept without being passed, to check afterwards.
        let is_private = |v: &Value| v.is_object() && !oracle.index.contains_key(v);
        let mut stale: Vec<Value> = self
            .sh
            .private
            .iter()
            .zip(&keep)
            .filter(|(p, &k)| !k && !p.collected && is_private(&p.value))
            .map(|(p, _)| p.value)
            .take(STALE_CHECKS)
            .collect();
        stale.extend(
            self.sh
                .held
                .iter()
                .map(|&j| self.sh.private[j as usize].value)
                .find(is_private),
        );
        let incarnation = self.img.incarnation();

        let Life { img, sh, .. } = self;
        let result = img.collect_with(&mut |each| {
            for (p, &k) in sh.private.iter_mut().zip(&keep) {
                if k {
                    each(&mut p.value);
                }
            }
            for v in sh.alias_of.values_mut() {
                each(v);
            }
            for b in &mut sh.becomes {
                each(&mut b.from.0);
                each(&mut b.to.0);
            }
        });
        let c = match result {
            Ok(c) => c,
            Err(e) => {
                return self.violation_of(
                    "the private space".into(),
                    "collect".into(),
                    "Ok".into(),
                    format!("error: {e}"),
                )
            }
        };
        self.out.collections += 1;
        self.out.collected_bytes += c.freed_bytes();
        self.out.longest_pause = self.out.longest_pause.max(c.pause);
        self.out.pause_total += c.pause;

        // The model follows: what was not kept is gone, references are the updated ones.
        for (p, &k) in self.sh.private.iter_mut().zip(&keep) {
            if !k && !p.collected {
                p.collected = true;
                p.body = Body::Bytes(Vec::new());
            }
        }
        self.sh.reindex(&self.w.oracle);

        self.check_collection(c, expected_live, incarnation, &stale);
    }

    fn check_collection(
        &mut self,
        c: cowheap::Collection,
        expected_live: usize,
        incarnation: u32,
        stale: &[Value],
    ) {
        let space = || "the private space".to_string();
        self.out.values_checked += 4;
        if c.live_objects != expected_live as u64 {
            self.violation_of(
                space(),
                "objects a collection kept".into(),
                format!("{expected_live} (what the handles, copies and becomes reach)"),
                format!("{}", c.live_objects),
            );
        }
        let listed = self.img.private_objects().len() as u64;
        if listed != c.live_objects {
            self.violation_of(
                space(),
                "private objects after a collection".into(),
                format!("{} (the collection's live objects)", c.live_objects),
                format!("{listed}"),
            );
        }
        let bytes = self.img.stats().private_bytes;
        if bytes != c.live_bytes || c.live_bytes > c.before_bytes {
            self.violation_of(
                space(),
                "private bytes after a collection".into(),
                format!(
                    "{} (its live bytes, at most {} before)",
                    c.live_bytes, c.before_bytes
                ),
                format!("{bytes}"),
            );
        }
        let moved = self.img.incarnation() != incarnation;
        if moved != (c.freed_bytes() > 0) {
            self.violation_of(
                space(),
                "new incarnation after a collection".into(),
                format!("{} (it freed {} bytes)", !moved, c.freed_bytes()),
                format!("{moved}"),
            );
        }
        if !moved {
            return;
        }
        for &v in stale {
            self.out.values_checked += 1;
            match self.img.size_of(v) {
                Err(Error::StaleReference) => {}
                seen => self.violation(
                    v,
                    "a reference kept across a collection without being passed".into(),
                    "error: stale reference".into(),
                    match seen {
                        Ok(n) => format!("an object of size {n}"),
                        Err(e) => format!("error: {e}"),
                    },
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::life::LifeResult;
    use crate::rng::{Rng, Zipf};
    use crate::shadow::Shadow;
    use crate::{GenConfig, StressConfig, Workload};

    fn life<'w>(w: &'w Workload, cfg: &'w StressConfig) -> Life<'w> {
        Life {
            w,
            cfg,
            img: w.heap.new_image().unwrap(),
            sh: Shadow::default(),
            rng: Rng::derive(cfg.seed, 0),
            zipf: Zipf::new(w.population.len(), cfg.skew),
            slot: 0,
            ticket: 0,
            out: LifeResult::default(),
            resumed: false,
        }
    }

    /// Allocations, stores of them into each other and into the base, becomes and forgotten
    /// handles, with a collection every 100 ops.
    fn churn_and_collect(life: &mut Life<'_>) {
        for n in 0..3000 {
            match n % 10 {
                0..=2 => {
                    life.op_alloc(None, 8);
                }
                3..=5 => life.op_write(),
                6 => life.op_forget(),
                7 if n % 70 == 7 => life.op_become(),
                _ => life.op_read(),
            }
            if n % 100 == 99 {
                life.op_collect();
            }
        }
    }

    /// The checker passes an honest run, and the collections freed memory; a handle the
    /// harness kept without passing it is caught, by the stale-reference check or by the
    /// verification reading through it, never read as another object.
    #[test]
    fn collections_pass_and_an_unpassed_handle_is_caught() {
        let w = Workload::generated(&GenConfig {
            seed: 5,
            objects: 2000,
            ..GenConfig::default()
        })
        .unwrap();
        let cfg = StressConfig {
            seed: 5,
            sample: 32,
            ..StressConfig::default()
        };
        let mut honest = life(&w, &cfg);
        churn_and_collect(&mut honest);
        honest.verify();
        assert_eq!(
            honest.out.violation_count, 0,
            "{:#?}",
            honest.out.violations
        );
        assert_eq!(honest.out.collections, 30);
        assert!(honest.out.collected_bytes > 0);
        assert!(honest.sh.private.iter().any(|p| p.collected));
        assert!(honest.out.forgotten > 0);

        // The same run, with one held handle left at its old reference after a collection
        // that moved the image on: as if the harness had forgotten to pass it.
        let mut broken = life(&w, &cfg);
        churn_and_collect(&mut broken);
        let j = broken.sh.held[0] as usize;
        let old = broken.sh.private[j].value;
        broken.op_alloc(None, 1);
        broken.op_forget();
        let before = broken.img.incarnation();
        broken.op_collect();
        assert_ne!(broken.img.incarnation(), before, "the collection moved");
        assert_eq!(broken.out.violation_count, 0);
        broken.sh.private[j].value = old;
        broken.verify();
        assert!(broken.out.violation_count > 0);
        assert!(
            broken
                .out
                .violations
                .iter()
                .all(|v| v.seen.contains("stale")),
            "{:#?}",
            broken.out.violations
        );
    }
}

//! The free list of dead contexts, and the rule that says which contexts are dead.
//!
//! A dead context costs the collector work and the image memory until the next collection, so
//! [`ContextPool`] recycles: a context that has
//! not *escaped* dies with the frame that made it and is reused for the next context of its
//! class and size, so memory follows the live contexts, not the run's length. It only keeps
//! the books: `contexts.rs` makes the contexts, and the stores and returns of the layers
//! above report to it.

use cowheap::Value;

/// The contexts of one image that can be reused, and those that will be once their home frame
/// returns.
///
/// A context made here is *tracked* with a depth: the index of the frame whose return ends
/// it (for a MethodContext its own frame, for a BlockContext the frame that made it, whose
/// stack it is pushed on). Tracked contexts
/// keep one invariant: a context of depth `d` is referenced only from the stack slots and
/// frames at index `d` and above, and from tracked contexts of depth `d` and above. Sends
/// only move values up the frame stack, so what can break it is a store or a return:
///
/// - a store of a tracked context into anything but a tracked context of the same or a
///   greater depth (an Array, an Association, an older context; a block stored into a
///   temporary of its own home from inside another block, say),
/// - a return that hands a tracked context to a frame below its depth,
/// - a `become:`, which redirects references wholesale.
///
/// Any of these is an *escape*, and an escape untracks every context tracked at that moment
/// (which of them the escaping one can reach is not worth knowing): those stay for the
/// image's life, as before. When a frame returns, the contexts of its depth are dead by the
/// invariant and go to the free list. A run that stops with an error
/// untracks everything too.
pub(crate) struct ContextPool {
    /// The tracked contexts of each depth, with their class and size for the free list.
    by_depth: Vec<Vec<(Value, u64, usize)>>,
    /// How many contexts `by_depth` holds.
    tracked: usize,
    /// One past the highest depth whose list is not empty (0: none), where a look for a
    /// context's depth starts.
    top: usize,
    /// Dead contexts by class and slot count.
    free: Vec<(u64, usize, Vec<Value>)>,
    /// Contexts reused instead of allocated (for tests and reports).
    pub(crate) reused: u64,
    /// Reuse turned off: every context is allocated and kept.
    pub(crate) off: bool,
    /// The least and greatest reference bits of the contexts tracked since the pool was last
    /// idle (`u64::MAX, 0` while idle): a value outside them is tracked by no one, which a
    /// store can see with two compares instead of a look into the lists.
    range: (u64, u64),
}

impl Default for ContextPool {
    fn default() -> ContextPool {
        ContextPool {
            by_depth: Vec::new(),
            tracked: 0,
            top: 0,
            free: Vec::new(),
            reused: 0,
            off: false,
            range: IDLE_RANGE,
        }
    }
}

/// [`ContextPool::range`] while nothing is tracked: no value is inside it.
const IDLE_RANGE: (u64, u64) = (u64::MAX, 0);

/// How many lists and entries a look for a context's depth goes through before it gives up
/// (and its caller untracks everything, which is always safe): the contexts a store or a
/// return hands on are nearly always among the newest, and a frame stack deep in contexts
/// must not make every such store cost its depth.
const LOOK: usize = 256;

/// What a look for a value's depth found.
#[derive(Debug, PartialEq)]
enum Depth {
    Tracked(usize),
    Untracked,
    /// More to look through than [`LOOK`]: not known.
    GaveUp,
}

impl ContextPool {
    /// True if no context is tracked now: the hot paths test this first.
    #[inline(always)]
    pub(crate) fn idle(&self) -> bool {
        self.tracked == 0
    }

    /// True if storing `v` anywhere is nothing the pool needs to hear of: an immediate, or a
    /// reference outside the bits of every tracked context ([`note_store`](Self::note_store)
    /// would find no depth for it). The store paths' one test.
    #[inline(always)]
    pub(crate) fn ignores(&self, v: Value) -> bool {
        let bits = v.to_bits();
        !v.is_object() || bits < self.range.0 || bits > self.range.1
    }

    /// The depth of `v` among the tracked contexts, the newest depths first. A hash map kept
    /// beside the lists answered in one probe, but cost every context made and released an
    /// insertion and a removal (about 140 instructions of a `blockCopy:`'s 490), for a look
    /// that only a store or a return of a context needs.
    fn depth(&self, v: Value) -> Depth {
        // Most values handed on are none of them (a `^true` from a block), and the range
        // says so without the walk, which a deep stack of blocks makes hundreds of compares.
        if self.ignores(v) {
            return Depth::Untracked;
        }
        let (mut seen, mut looked) = (0, 0);
        for d in (0..self.top).rev() {
            if seen == self.tracked {
                break;
            }
            let Some(list) = self.by_depth.get(d) else {
                break;
            };
            looked += 1 + list.len();
            if looked > LOOK {
                return Depth::GaveUp;
            }
            if list.iter().any(|&(c, _, _)| c == v) {
                return Depth::Tracked(d);
            }
            seen += list.len();
        }
        Depth::Untracked
    }

    /// Called before `v` is stored into `obj`.
    #[inline]
    pub(crate) fn note_store(&mut self, obj: Value, v: Value) {
        match self.depth(v) {
            Depth::Untracked => {}
            Depth::Tracked(dv) if matches!(self.depth(obj), Depth::Tracked(d) if d >= dv) => {}
            _ => self.escape_all(),
        }
    }

    /// Called before `v` is returned to frame `to` (`None`: out of the run).
    #[inline]
    pub(crate) fn note_return(&mut self, v: Value, to: Option<usize>) {
        match self.depth(v) {
            Depth::Untracked => {}
            Depth::Tracked(dv) if to.is_some_and(|t| t >= dv) => {}
            _ => self.escape_all(),
        }
    }

    /// Untracks every context: they stay allocated for the image's life.
    pub(crate) fn escape_all(&mut self) {
        if self.tracked != 0 {
            for list in &mut self.by_depth[..self.top] {
                list.clear();
            }
            self.tracked = 0;
        }
        self.top = 0;
        self.range = IDLE_RANGE;
    }

    /// Forgets every context, tracked or dead, before a collection: the collector moves the
    /// live ones and frees the dead ones, so none of these references would stay good.
    pub(crate) fn forget_all(&mut self) {
        self.escape_all();
        self.free.clear();
    }

    pub(crate) fn track(&mut self, c: Value, class: Value, len: usize, depth: usize) {
        if self.by_depth.len() <= depth {
            self.by_depth.resize_with(depth + 1, Vec::new);
        }
        self.by_depth[depth].push((c, class.to_bits(), len));
        self.tracked += 1;
        self.top = self.top.max(depth + 1);
        self.range = (self.range.0.min(c.to_bits()), self.range.1.max(c.to_bits()));
    }

    /// Frame `depth` returned: the contexts of its depth are dead. Inline, the look for
    /// none (most returns, and every return of a block that made no context).
    #[inline(always)]
    pub(crate) fn release(&mut self, depth: usize) {
        if self
            .by_depth
            .get(depth)
            .is_some_and(|list| !list.is_empty())
        {
            self.release_tracked(depth);
        }
    }

    #[inline(never)]
    fn release_tracked(&mut self, depth: usize) {
        let Some(list) = self.by_depth.get_mut(depth) else {
            return;
        };
        self.tracked -= list.len();
        for (c, class, len) in list.drain(..) {
            match self
                .free
                .iter_mut()
                .find(|(k, n, _)| *k == class && *n == len)
            {
                Some((_, _, objects)) => objects.push(c),
                None => self.free.push((class, len, vec![c])),
            }
        }
        while self.top > 0 && self.by_depth[self.top - 1].is_empty() {
            self.top -= 1;
        }
        if self.tracked == 0 {
            self.range = IDLE_RANGE;
        }
    }

    pub(crate) fn take(&mut self, class: Value, len: usize) -> Option<Value> {
        let class = class.to_bits();
        let (_, _, objects) = self
            .free
            .iter_mut()
            .find(|(k, n, _)| *k == class && *n == len)?;
        objects.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::{ContextPool, Depth, LOOK};
    use crate::interp::tests::{int, Run};
    use cowheap::Value;

    /// `ignores` answers false for every tracked context, and true for immediates, for
    /// references outside the tracked ones' bits, and for everything once nothing is tracked.
    #[test]
    fn the_pool_ignores_only_what_no_tracked_context_can_be() {
        let mut r = Run::new();
        let class = r.t.k.array;
        let [a, b, c, d] = [(); 4].map(|_| r.array(&[]));
        let mut pool = ContextPool::default();
        assert!(pool.ignores(a) && pool.ignores(int(3)));
        pool.track(a, class, 0, 1);
        pool.track(c, class, 0, 2);
        assert!(!pool.ignores(a) && !pool.ignores(c));
        assert!(pool.ignores(int(3)) && pool.ignores(d) && pool.ignores(r.nil()));
        // Between two tracked ones: not known to be untracked, which `note_store` sorts out.
        assert!(!pool.ignores(b));
        pool.release(2);
        assert!(!pool.ignores(a), "a is still tracked");
        pool.release(1);
        assert!(pool.ignores(a) && pool.ignores(c), "nothing is tracked");
        pool.track(b, class, 0, 1);
        assert!(!pool.ignores(b) && pool.ignores(a));
        pool.escape_all();
        assert!(pool.ignores(b));
    }

    /// A look for a context's depth goes through the newest depths first and finds them; past
    /// `LOOK` lists and entries it gives up, and the store that asked untracks everything
    /// (safe: nothing that may still be reached is reused), where a store among the newest
    /// keeps them tracked. A return lower than a context's depth untracks everything too.
    #[test]
    fn a_look_finds_the_newest_contexts_and_gives_up_deep_down() {
        let mut r = Run::new();
        let class = r.t.k.array;
        let n = LOOK + 10;
        let contexts: Vec<Value> = (0..n).map(|_| r.array(&[])).collect();
        let other = r.array(&[]);
        let mut pool = ContextPool::default();
        pool.track(contexts[0], class, 0, 0);
        assert_eq!(pool.depth(other), Depth::Untracked);
        assert_eq!(pool.depth(contexts[0]), Depth::Tracked(0));
        for (d, &c) in contexts.iter().enumerate().skip(1) {
            pool.track(c, class, 0, d);
        }
        let (newest, below) = (contexts[n - 1], contexts[n - 2]);
        assert_eq!(pool.depth(newest), Depth::Tracked(n - 1));
        assert_eq!(pool.depth(contexts[0]), Depth::GaveUp);
        // An older context into a newer one, and a return to its own depth: still tracked.
        pool.note_store(newest, below);
        pool.note_return(newest, Some(n - 1));
        assert!(!pool.idle());
        // A newer one into an older one escapes.
        pool.note_store(below, newest);
        assert!(pool.idle() && pool.ignores(newest));
        for (d, &c) in contexts.iter().enumerate() {
            pool.track(c, class, 0, d);
        }
        // Too deep to find: everything is untracked.
        pool.note_store(newest, contexts[0]);
        assert!(pool.idle());
        for (d, &c) in contexts.iter().enumerate() {
            pool.track(c, class, 0, d);
        }
        pool.note_return(newest, Some(n - 2));
        assert!(pool.idle());
        // Released depths give their contexts to the free list and lower the top.
        pool.track(newest, class, 0, n - 1);
        pool.track(below, class, 0, 3);
        pool.release(n - 1);
        assert_eq!(pool.top, 4);
        assert_eq!(pool.take(class, 0), Some(newest));
        pool.release(3);
        assert!(pool.idle() && pool.top == 0);
    }
}

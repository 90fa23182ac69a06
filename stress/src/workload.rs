//! A base ready to be stressed: the heap, a decoded copy of it to check against, the objects
//! ops aim at (hottest first), and the classes private allocations use.

use std::time::{Duration, Instant};

use cowheap::{BaseHeap, Format, Value};

use crate::rng::Rng;
use crate::shadow::Oracle;
use crate::{ConfigError, GenConfig, Generated, StressError};

/// A base ready to be stressed: the heap, its decoded oracle, and the objects ops aim at.
pub struct Workload {
    pub(crate) heap: BaseHeap,
    pub(crate) oracle: Oracle,
    /// Oracle indices, hottest first.
    pub(crate) population: Vec<u32>,
    /// Classes for private allocations: pointers, bytes, words, methods.
    pub(crate) classes: [Value; 4],
    pub(crate) source: String,
    pub(crate) setup: Duration,
}

/// The oracle is a decoded copy of the whole base: printing it would drown the rest.
impl std::fmt::Debug for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workload")
            .field("source", &self.source)
            .field("objects", &self.heap.object_count())
            .field("population", &self.population.len())
            .field("classes", &self.classes)
            .field("setup", &self.setup)
            .finish_non_exhaustive()
    }
}

impl Workload {
    /// Generates the embedded default base and prepares it.
    pub fn generated(config: &GenConfig) -> Result<Workload, StressError> {
        let start = Instant::now();
        let g = crate::generate_base(config)?;
        Workload::from_generated(&g, config.seed, start)
    }

    fn from_generated(g: &Generated, seed: u64, start: Instant) -> Result<Workload, StressError> {
        let k = g.kernel;
        Workload::prepare(
            g.heap.clone(),
            Some(g.workload_objects()),
            Some([k.array, k.string, k.word_array, k.compiled_method]),
            format!("generated (seed {seed})"),
            seed,
            start,
        )
    }

    /// Prepares any sealed base, a loaded image file for instance. Ops aim at every object.
    pub fn from_heap(
        heap: BaseHeap,
        source: impl Into<String>,
        seed: u64,
    ) -> Result<Workload, StressError> {
        Workload::prepare(heap, None, None, source.into(), seed, Instant::now())
    }

    fn prepare(
        heap: BaseHeap,
        population: Option<Vec<Value>>,
        classes: Option<[Value; 4]>,
        source: String,
        seed: u64,
        start: Instant,
    ) -> Result<Workload, StressError> {
        if heap.object_count() == 0 {
            return Err(ConfigError::EmptyBase.into());
        }
        let oracle = Oracle::build(&heap)?;
        let mut population: Vec<u32> = match population {
            Some(values) => values
                .iter()
                .filter_map(|v| oracle.index.get(v).copied())
                .collect(),
            None => (0..oracle.objs.len() as u32).collect(),
        };
        Rng::derive(seed, u64::MAX).shuffle(&mut population);
        let classes = match classes {
            Some(c) => c,
            None => {
                let class_for = |f: Format| {
                    oracle
                        .objs
                        .iter()
                        .find(|o| o.body.format() == f)
                        .or(oracle.objs.first())
                        .and_then(|o| heap.original_class(o.value).ok())
                };
                let any = class_for(Format::Pointers).ok_or(ConfigError::NoClass)?;
                [
                    any,
                    class_for(Format::Bytes).unwrap_or(any),
                    class_for(Format::Words).unwrap_or(any),
                    class_for(Format::Method).unwrap_or(any),
                ]
            }
        };
        Ok(Workload {
            heap,
            oracle,
            population,
            classes,
            source,
            setup: start.elapsed(),
        })
    }

    /// The base heap.
    pub fn heap(&self) -> &BaseHeap {
        &self.heap
    }
}

//! `cowheap inspect FILE [--json]`: load a Squeak or Pharo image and describe it, or describe
//! a delta file (`cowheap stress --save-deltas`, `Image::save_delta`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use indicatif::{HumanBytes, HumanCount};

use cowheap::{BaseHeap, Value};
use cowheap_squeak::loader::{self, special, ByteOrder, FieldCounts, ImageFamily, Loaded};
use serde::Serialize;

use crate::exit::{load_failure, Code, Failure};
use crate::out::{emit, outln};

/// The version of `inspect --json`'s form, on the same terms as the stress report's
/// `schema_version`: it grows when a field changes meaning or type or goes away.
const SCHEMA_VERSION: u32 = 1;

#[derive(clap::Args)]
pub struct Args {
    /// The image file, or a delta file (recognised by its magic number).
    pub file: PathBuf,
    /// Print the report as JSON instead of text (fields: docs/JSON.md).
    #[arg(long)]
    pub json: bool,
    /// How many classes the histogram lists.
    #[arg(long, value_name = "N", default_value = "20",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub top: usize,
}

#[derive(Serialize)]
struct ClassCount {
    class: String,
    instances: usize,
}

#[derive(Serialize)]
struct Special {
    name: &'static str,
    value: String,
    /// The object's class for nil/true/false; the class itself for the class entries.
    class: Option<String>,
}

#[derive(Serialize)]
struct Report {
    schema_version: u32,
    file: String,
    format: u32,
    family: ImageFamily,
    byte_order: ByteOrder,
    objects: usize,
    file_bytes: usize,
    data_bytes: usize,
    heap_bytes: usize,
    forwarders: usize,
    free_chunks: usize,
    floats_reordered: bool,
    load_ms: f64,
    special_objects: Vec<Special>,
    pointer_fields: u64,
    small_integer_fields: u64,
    reference_fields: u64,
    character_fields: u64,
    top_classes: Vec<ClassCount>,
    distinct_classes: usize,
}

fn name_of(heap: &BaseHeap, class: Value) -> String {
    if heap.root("nil").ok() == Some(class) {
        // The loader gives Spur forwarders and hidden objects nil as their class.
        return "(nil: Spur forwarders and hidden objects)".into();
    }
    loader::class_name(heap, class).unwrap_or_else(|| format!("{class:?} (unnamed)"))
}

fn report(args: &Args, loaded: &Loaded, load_ms: f64) -> Report {
    let heap = &loaded.heap;
    let info = &loaded.info;
    let mut histogram: HashMap<Value, usize> = HashMap::new();
    for obj in heap.objects() {
        if let Ok(class) = heap.original_class(obj) {
            *histogram.entry(class).or_default() += 1;
        }
    }
    let distinct_classes = histogram.len();
    let mut counts: Vec<(Value, usize)> = histogram.into_iter().collect();
    counts.sort_by_key(|&(class, n)| (std::cmp::Reverse(n), class.to_bits()));
    let top_classes = counts
        .iter()
        .take(args.top)
        .map(|&(class, instances)| ClassCount {
            class: name_of(heap, class),
            instances,
        })
        .collect();
    let instance = |name, value: Value| Special {
        name,
        value: format!("{value:?}"),
        class: heap.original_class(value).ok().map(|c| name_of(heap, c)),
    };
    let class = |name, index| {
        let value = heap.original_field(info.special_objects, index).ok();
        Special {
            name,
            value: value.map_or("-".into(), |v| format!("{v:?}")),
            class: value
                .filter(|&v| v != info.nil)
                .and_then(|v| loader::class_name(heap, v)),
        }
    };
    let special_objects = vec![
        instance("nil", info.nil),
        instance("true", info.true_object),
        instance("false", info.false_object),
        class("SmallInteger class", special::SMALL_INTEGER),
        class("Array class", special::ARRAY),
        class("String class", special::STRING),
        class("Float class", special::FLOAT),
    ];
    let FieldCounts {
        fields,
        references,
        small_integers,
        characters,
    } = info.fields;
    Report {
        schema_version: SCHEMA_VERSION,
        file: args.file.display().to_string(),
        format: info.format,
        family: info.family,
        byte_order: info.byte_order,
        objects: info.object_count,
        file_bytes: info.file_bytes,
        data_bytes: info.data_bytes,
        heap_bytes: heap.bytes(),
        forwarders: info.forwarders,
        free_chunks: info.free_chunks,
        floats_reordered: info.floats_reordered,
        load_ms,
        special_objects,
        pointer_fields: fields,
        small_integer_fields: small_integers,
        reference_fields: references,
        character_fields: characters,
        top_classes,
        distinct_classes,
    }
}

/// The report as text.
fn text(r: &Report) -> String {
    let mut out = String::new();
    let family = match r.family {
        ImageFamily::V3 => "Squeak V3 32-bit",
        ImageFamily::Spur => "Spur 32-bit",
    };
    let order = match r.byte_order {
        ByteOrder::Little => "little-endian",
        ByteOrder::Big => "big-endian",
    };
    outln!(out, "file        {}", r.file);
    outln!(out, "format      {} ({family}), {order}", r.format);
    outln!(out, "objects     {}", HumanCount(r.objects as u64));
    outln!(
        out,
        "bytes       {} in the file ({} of object data), {} in the heap",
        HumanBytes(r.file_bytes as u64),
        HumanBytes(r.data_bytes as u64),
        HumanBytes(r.heap_bytes as u64)
    );
    if r.forwarders > 0 || r.free_chunks > 0 {
        outln!(
            out,
            "            {} forwarders, {} free chunks skipped",
            r.forwarders,
            r.free_chunks
        );
    }
    outln!(
        out,
        "floats      {}",
        if r.floats_reordered {
            "stored low word first; reordered to high word first"
        } else {
            "stored high word first"
        }
    );
    outln!(out, "loaded in   {:.1} ms", r.load_ms);
    outln!(out);
    outln!(out, "special objects");
    for s in &r.special_objects {
        let what = s.class.as_deref().unwrap_or("?");
        if s.name.ends_with("class") {
            outln!(out, "  {:<20} {:<16} {what}", s.name, s.value);
        } else {
            outln!(out, "  {:<20} {:<16} a {what}", s.name, s.value);
        }
    }
    outln!(out);
    outln!(
        out,
        "fields      {} pointer fields: {} SmallIntegers, {} references, {} Characters",
        HumanCount(r.pointer_fields),
        HumanCount(r.small_integer_fields),
        HumanCount(r.reference_fields),
        HumanCount(r.character_fields)
    );
    outln!(out);
    outln!(
        out,
        "classes with the most instances (top {} of {})",
        r.top_classes.len(),
        r.distinct_classes
    );
    outln!(
        out,
        "  {:>4}  {:>9}  {:>6}  class",
        "rank",
        "instances",
        "share"
    );
    for (i, c) in r.top_classes.iter().enumerate() {
        outln!(
            out,
            "  {:>4}  {:>9}  {:>5.1}%  {}",
            i + 1,
            c.instances,
            100.0 * c.instances as f64 / r.objects.max(1) as f64,
            c.class
        );
    }
    out
}

/// Describes a delta: its base, its objects and its bytes. A file that cannot be read is an
/// I/O failure (exit 3); one that is no valid delta is refused (exit 4), as `stress
/// --resume-deltas` refuses it.
fn inspect_delta(args: &Args, file: std::fs::File) -> Result<Code, Failure> {
    let info = cowheap::DeltaInfo::read(file).map_err(|e| match e {
        cowheap::DeltaError::Io(e) => Failure::Io(format!("{}: {e}", args.file.display())),
        e => Failure::Run(format!("{}: {e}", args.file.display())),
    })?;
    if args.json {
        #[derive(Serialize)]
        struct DeltaReport {
            schema_version: u32,
            file: String,
            kind: &'static str,
            version: u32,
            base_hash: String,
            base_bytes: u64,
            objects: usize,
            forwarded_objects: usize,
            private_bytes: u64,
            entries: usize,
            base_targets: usize,
            root_overrides: usize,
            file_bytes: u64,
        }
        let r = DeltaReport {
            schema_version: SCHEMA_VERSION,
            file: args.file.display().to_string(),
            kind: "delta",
            version: info.version,
            base_hash: info.base_hash.to_string(),
            base_bytes: info.base_words * 8,
            objects: info.objects,
            forwarded_objects: info.forwarded_objects,
            private_bytes: info.private_bytes,
            entries: info.entries,
            base_targets: info.base_targets,
            root_overrides: info.root_overrides,
            file_bytes: info.file_bytes,
        };
        let text = serde_json::to_string_pretty(&r)
            .map_err(|e| Failure::Run(format!("cannot encode the report: {e}")))?;
        emit(&(text + "\n"))?;
    } else {
        let mut out = String::new();
        outln!(
            out,
            "{}: cowheap delta, format version {}",
            args.file.display(),
            info.version
        );
        outln!(out, "  base hash        {}", info.base_hash);
        outln!(
            out,
            "  base size        {}",
            HumanBytes(info.base_words * 8)
        );
        outln!(
            out,
            "  private objects  {} ({} forwarded by become)",
            HumanCount(info.objects as u64),
            HumanCount(info.forwarded_objects as u64)
        );
        outln!(out, "  private bytes    {}", HumanBytes(info.private_bytes));
        outln!(
            out,
            "  entries          {} ({} onto base objects)",
            HumanCount(info.entries as u64),
            HumanCount(info.base_targets as u64)
        );
        outln!(out, "  root overrides   {}", info.root_overrides);
        outln!(
            out,
            "  file             {} ({} bytes)",
            HumanBytes(info.file_bytes),
            info.file_bytes
        );
        emit(&out)?;
    }
    Ok(Code::Success)
}

/// Loads the file and prints its description. A file that cannot be read or loaded is an
/// I/O failure; so is output that cannot be written.
pub fn run(args: Args) -> Result<Code, Failure> {
    // A delta is recognised by its magic number; anything else goes to the image loader,
    // which refuses what is not a regular file (a device, a pipe) before opening it, and
    // reads at most an image's limit.
    let mut magic = [0u8; 8];
    let is_delta = std::fs::metadata(&args.file).is_ok_and(|m| m.is_file())
        && std::fs::File::open(&args.file)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .is_ok()
        && &magic == b"COWDELTA";
    if is_delta {
        let file = std::fs::File::open(&args.file)
            .map_err(|e| Failure::Io(format!("{}: {e}", args.file.display())))?;
        return inspect_delta(&args, file);
    }
    let started = Instant::now();
    let loaded = loader::load_file(&args.file).map_err(|e| load_failure(&args.file, e))?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let r = report(&args, &loaded, load_ms);
    if args.json {
        let text = serde_json::to_string_pretty(&r)
            .map_err(|e| Failure::Run(format!("cannot encode the report: {e}")))?;
        emit(&(text + "\n"))?;
    } else {
        emit(&text(&r))?;
    }
    Ok(Code::Success)
}

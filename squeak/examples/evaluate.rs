//! Evaluates one expression in one heap and prints its answer and counts: the smallest run of
//! the interpreter, for measuring it under callgrind over either heap (build it with and
//! without `--features plain-heap`; BENCHMARKS.md, "The price of sharing").
//!
//! `cargo run --release -p cowheap-squeak --example evaluate -- IMAGE 'EXPR'`

use cowheap_squeak::interp::{new_heap, Limits, Vm};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(expr)) = (args.next(), args.next()) else {
        return Err("usage: evaluate IMAGE EXPR".into());
    };
    let loaded = cowheap_squeak::loader::load_file(&path)?;
    let vm = Vm::new(&loaded.heap)?;
    let mut heap = new_heap(&loaded.heap)?;
    let mut interp = vm.interpreter(Limits::default());
    let answer = interp.evaluate(&mut heap, &expr)?;
    let stats = interp.stats();
    println!(
        "{} bytecodes {} sends {}",
        interp.print_string(&mut heap, answer)?,
        stats.bytecodes,
        stats.sends
    );
    Ok(())
}
